"""No import cycles. The Rust modules form one-way layers, in the order src/lib.rs's table
gives: no module uses one listed after it. The Python modules import each other without a
cycle, and the core and NumPy API import no framework."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = ROOT / "python" / "heinit_rs"
FRAMEWORKS = ("torch", "jax", "flax", "keras", "dask", "distributed", "transformers", "triton",
              "timm", "torchvision")


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


def module_name(path):
    """A module's dotted name within the package: "_fans", "torch", "torch._fill"."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def python_imports():
    """Module -> the package's modules it imports (anywhere in it, lazily or not)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        text, name = path.read_text(), module_name(path)
        used = set(re.findall(r"^\s*(?:from|import) heinit_rs\.([\w.]+)", text, re.M))
        for package, names in re.findall(r"^\s*from heinit_rs((?:\.\w+)*) import ([\w, ]+)",
                                         text, re.M):
            prefix = package[1:] + "." if package else ""
            used |= {prefix + n.strip() for n in names.split(",")
                     if (PACKAGE / (prefix.replace(".", "/") + n.strip() + ".py")).exists()
                     or (PACKAGE / (prefix.replace(".", "/") + n.strip())).is_dir()}
        if re.search(r"^\s*import heinit_rs\s*$", text, re.M):
            used.add("__init__")
        graph[name] = used - {name}
    return graph


def test_no_python_import_cycle():
    graph = python_imports()
    assert {"_initializers", "_distributions", "torch", "torch._fill", "torch._record"} \
        <= graph.keys()
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
    adapters = {"torch", "triton", "jax", "keras", "dask", "_cli"}
    pattern = re.compile(rf"^\s*(?:import|from) ({'|'.join(FRAMEWORKS)})\b", re.M)
    for path in PACKAGE.rglob("*.py"):
        if module_name(path).split(".")[0] not in adapters:
            assert not pattern.search(path.read_text()), f"{path.name} imports a framework"


def test_the_torch_front_end_is_a_package_of_modules_of_one_concern_each():
    modules = {module_name(p): len(p.read_text().splitlines())
               for p in (PACKAGE / "torch").glob("*.py")}
    assert {"torch", "torch._fill", "torch._ops", "torch._dtensor", "torch._fast",
            "torch._names", "torch._record", "torch._replay", "torch._shards", "torch._materialize",
            "torch._modules", "torch._dropins"} == set(modules)
    too_long = {name: lines for name, lines in modules.items() if lines > 400}
    assert not too_long, f"split these by concern: {too_long}"
