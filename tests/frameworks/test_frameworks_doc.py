"""docs/frameworks.md: each example runs, in a fresh interpreter, where its framework is
installed, and prints what its ``# prints:`` comment says."""

import importlib.util
import re
from pathlib import Path

import pytest
from conftest import run_python

PAGE = Path(__file__).parents[2] / "docs" / "frameworks.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)
NEEDS = ("torch", "flax", "jax", "keras")


def needed(example):
    return [name for name in NEEDS if re.search(rf"^import {name}\b", example, re.MULTILINE)]


def test_the_page_has_an_example_per_framework():
    assert {name for example in EXAMPLES for name in needed(example)} >= set(NEEDS)


@pytest.mark.parametrize("example", EXAMPLES, ids=[", ".join(needed(e)) or "numpy"
                                                   for e in EXAMPLES])
def test_the_example_runs(example):
    for name in needed(example):
        # Installed is enough (keras imports only with a backend chosen, as the example does);
        # where HEINIT_RS_REQUIRE_FRAMEWORKS=1 (CI) a missing one fails instead of skipping.
        if importlib.util.find_spec(name) is None:
            pytest.importorskip(name, reason=f"this example needs {name}")
    promised = re.findall(r"# prints: (.*)$", example, re.MULTILINE)
    assert promised, "each example says what it prints"
    run = run_python(example, args=("-W", "ignore::DeprecationWarning"))
    assert run.stdout.splitlines() == promised
