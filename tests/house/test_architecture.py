"""No import cycles. The Rust modules form one-way layers, in the order src/lib.rs's table
gives: no module uses one listed after it. The Python modules import each other without a
cycle, and the core and NumPy API import no framework."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = ROOT / "python" / "heinit_rs"
FRAMEWORKS = ("torch", "jax", "flax", "keras", "dask", "distributed", "transformers")


def layer_order():
    table = [line for line in (SRC / "lib.rs").read_text().splitlines()
             if line.startswith("//! |") and "`" in line.split("|")[2]]
    return [name for row in table for name in re.findall(r"`(\w+)`", row.split("|")[2])]


def rust_modules():
    """Each top-level module's source: a file, or a directory's files (`tests` is cfg(test))."""
    modules = {p.stem: p.read_text() for p in SRC.glob("*.rs") if p.stem != "lib"}
    for directory in (p for p in SRC.iterdir() if p.is_dir() and p.name != "tests"):
        modules[directory.name] = "".join(p.read_text() for p in sorted(directory.rglob("*.rs")))
    return modules


def test_every_rust_module_is_in_the_layer_table():
    assert sorted(layer_order()) == sorted(rust_modules())


def test_no_rust_module_uses_one_above_it():
    order, modules = layer_order(), rust_modules()
    for position, module in enumerate(order):
        used = set(re.findall(r"crate::(\w+)", modules[module]))
        above = used & set(order[position + 1:])
        assert not above, f"src/{module} uses {sorted(above)}, listed after it in src/lib.rs"


def python_imports():
    """Module -> the package's modules it imports (anywhere in it, lazily or not)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        text = path.read_text()
        used = set(re.findall(r"^\s*(?:from|import) heinit_rs\.(\w+)", text, re.M))
        for names in re.findall(r"^\s*from heinit_rs import ([\w, ]+)", text, re.M):
            used |= {name.strip() for name in names.split(",")}
        if re.search(r"^\s*import heinit_rs\s*$", text, re.M):
            used.add("__init__")
        graph[path.stem] = used - {path.stem}
    return graph


def test_no_python_import_cycle():
    graph = python_imports()
    assert {"_initializers", "_distributions", "torch"} <= graph.keys()
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join(path + [module])}"
        state[module] = "open"
        for used in sorted(graph.get(module, ())):
            visit(used, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_the_numpy_api_imports_no_framework():
    adapters = {"torch", "jax", "keras", "dask", "_cli"}
    pattern = re.compile(rf"^\s*(?:import|from) ({'|'.join(FRAMEWORKS)})\b", re.M)
    for path in PACKAGE.glob("*.py"):
        if path.stem not in adapters:
            assert not pattern.search(path.read_text()), f"{path.name} imports a framework"
