"""Every `pip install ...` that the package prints, or that the docs and benches tell a reader to
run, can be satisfied from a checkout: `.[extra]` names extras pyproject.toml declares, and a
package named alone is one that pyproject.toml already requires somewhere (so it is on the
index CI installs from). `pip install 'heinit-rs[demo]'` was such a hint: heinit-rs is on no
index."""

import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
# The build tool the docs install by name (pyproject.toml's build-system requires it).
BUILD = {re.split(r"[<>=!\[ ]", r, maxsplit=1)[0].lower()
         for r in PYPROJECT["build-system"]["requires"]}
KNOWN = BUILD | {re.split(r"[<>=!\[ ;]", requirement, maxsplit=1)[0].lower()
                 for requirement in [*PYPROJECT["project"]["dependencies"],
                                     *(r for extra in EXTRAS.values() for r in extra)]}
SOURCES = sorted([*(ROOT / "python" / "heinit_rs").rglob("*.py"), *(ROOT / "benches").glob("*.py"),
                  ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
# A hint runs to the end of its line, a shell operator, a comment, a closing quote of the
# string around it, or prose after it.
HINT = re.compile(r"pip install ((?:'[^']*'|[^\s'\"`#&;()]+)(?: +(?:'[^']*'|[-.\w\[\],=<>]+))*)")


def hints():
    for path in SOURCES:
        for match in HINT.finditer(path.read_text()):
            yield path.relative_to(ROOT), match.group(1)


def requirements(hint):
    words = shlex.split(hint)
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in ("-c", "-r"):
            skip = True  # its argument is a file of the checkout
        elif word.startswith("-"):
            continue
        elif not re.match(r"^[.\w]", word) or word in ("in", "the", "from", "checkout"):
            break  # prose after the command
        else:
            yield word


ALL_HINTS = sorted(set(hints()))


def test_the_hints_are_found():
    found = {hint for _, hint in ALL_HINTS}
    assert {"'.[frameworks]'", "matplotlib scikit-learn", "ml_dtypes", "."} <= found, found


@pytest.mark.parametrize("where, hint", ALL_HINTS)
def test_each_install_hint_can_be_satisfied_from_a_checkout(where, hint):
    for requirement in requirements(hint):
        if requirement.startswith("."):
            extras = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", requirement)
            assert extras, f"{where}: {requirement!r} is not the checkout with extras"
            for extra in filter(None, (extras.group(1) or "").split(",")):
                assert extra in EXTRAS, f"{where}: no extra {extra!r} in pyproject.toml"
        else:
            name = re.split(r"[<>=!\[]", requirement, maxsplit=1)[0].lower()
            assert name in KNOWN, f"{where}: {requirement!r} is not a package pyproject.toml uses"
