"""The documentation as a reader meets it: every public name has a numpydoc docstring that
documents each parameter, and every example in it runs (doctest)."""

import doctest
import inspect
import re

import pytest

import heinit_rs

PUBLIC = [name for name in heinit_rs.__all__ if callable(getattr(heinit_rs, name))]


@pytest.mark.parametrize("name", PUBLIC)
def test_every_parameter_is_documented(name):
    obj = getattr(heinit_rs, name)
    doc = inspect.getdoc(obj) or ""
    assert len(doc.splitlines()) > 1, f"{name} has a one-line docstring"
    try:
        parameters = inspect.signature(obj).parameters
    except ValueError:  # a Rust function without a text signature
        parameters = {}
    if not parameters:
        return
    section = doc.split("Parameters\n----------\n", 1)
    assert len(section) == 2, f"{name} has no Parameters section"
    documented = set()
    for line in section[1].splitlines():
        match = re.match(r"^([\w, ]+) :", line)
        if match:
            documented |= {part.strip() for part in match.group(1).split(",")}
    assert set(parameters) - {"self"} <= documented, (name, set(parameters) - documented)


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_examples_run(name):
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    examples = 0
    for test in finder.find(getattr(heinit_rs, name), name, globs={}):
        examples += len(test.examples)
        runner.run(test)
    outcome = runner.summarize(verbose=False)
    assert outcome.failed == 0
    if inspect.isfunction(getattr(heinit_rs, name)) or inspect.isclass(getattr(heinit_rs, name)):
        assert examples > 0, f"{name} has no example"


def test_help_documents_kaiming_normal_():
    text = pydoc_text(heinit_rs.kaiming_normal_)
    for parameter in ("arr", "a", "mode", "nonlinearity", "layout", "seed", "global_shape",
                      "index"):
        assert re.search(rf"^\s+{parameter} :", text, re.MULTILINE), parameter
    assert "gain / sqrt(fan)" in text


def pydoc_text(obj):
    import pydoc

    return pydoc.render_doc(obj, renderer=pydoc.plaintext)


def test_every_environment_variable_is_in_the_one_table():
    """Each variable the Rust core or the package reads is a row of docs/reliability.md's
    table (the behaviour on a bad value is tested in tests/stream/test_reproducibility.py)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    read = set(re.findall(r'ENV_VAR: &str = "(\w+)"', "".join(
        path.read_text() for path in (root / "src").rglob("*.rs"))))
    read |= set(re.findall(r'environ(?:\.get)?\(?\[?"(HEINIT_RS_\w+)"', "".join(
        path.read_text() for path in (root / "python").rglob("*.py"))))
    table = (root / "docs" / "reliability.md").read_text().split("## Environment variables")[1]
    rows = set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE))
    assert read == {"HEINIT_RS_NUM_THREADS", "HEINIT_RS_SIMD"} and rows == read
