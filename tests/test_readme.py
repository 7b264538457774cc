"""The README's example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    assert namespace["w"].shape == (4096, 4096)
    assert namespace["shard"].shape == (3, 3, 64, 64)


def test_readme_setup_commands_are_the_ones_ci_runs():
    text = README.read_text()
    bench = "python3 -m venv .venv && . .venv/bin/activate && pip install . && heinit-rs bench"
    tests = ("python3 -m venv .venv && . .venv/bin/activate && pip install '.[test]' && "
             "python -m pytest")
    assert bench in text and tests in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install '.[test]'" in ci and "python -m pytest" in ci
