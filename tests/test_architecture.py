"""The Rust modules form one-way layers, in the order src/lib.rs's table gives: no module uses
one listed after it, so there is no `use crate::` cycle."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def layer_order():
    table = [line for line in (SRC / "lib.rs").read_text().splitlines()
             if line.startswith("//! |") and "`" in line.split("|")[2]]
    return [name for row in table for name in re.findall(r"`(\w+)`", row.split("|")[2])]


def test_every_module_is_in_the_layer_table():
    order = layer_order()
    files = sorted(p.stem for p in SRC.glob("*.rs") if p.stem != "lib")
    assert sorted(order) == files


def test_no_module_uses_one_above_it():
    order = layer_order()
    for position, module in enumerate(order):
        used = set(re.findall(r"crate::(\w+)", (SRC / f"{module}.rs").read_text()))
        above = used & set(order[position + 1:])
        assert not above, f"src/{module}.rs uses {sorted(above)}, listed after it in src/lib.rs"
