import importlib
import json
import os
from pathlib import Path

import pytest

import heinit_rs
from heinit_rs import _core

DATA = Path(__file__).parent / "data"

if os.environ.get("HEINIT_RS_REQUIRE_FRAMEWORKS") == "1":
    # CI's frameworks venv: a framework test that skips is a test that does not exist, so a
    # missing module is an error there, not a skip.
    def _import_or_fail(modname, minversion=None, reason=None, exc_type=None):
        return importlib.import_module(modname)

    pytest.importorskip = _import_or_fail


@pytest.fixture(scope="session")
def golden():
    return json.loads((DATA / "golden.json").read_text())


@pytest.fixture
def captured_fills(monkeypatch):
    """Record (distribution, params, global_shape, offset) for each fill handed to the Rust core:
    "normal" [mean, std], "uniform" [low, high] or "trunc_normal" [mean, std, low, high]."""
    calls = []

    def recorder(name, real, arity):
        def record(arr, *args):
            # args: the parameters, key, stream, then global_shape, offset and bits16 if given.
            params, block = list(args[:arity]), list(args[arity + 2:arity + 4])
            calls.append((name, params, *(block + [None, None])[:2]))
            return real(arr, *args)
        return record

    for name, arity in (("normal", 2), ("uniform", 2), ("trunc_normal", 4)):
        attribute = f"fill_{name}"
        monkeypatch.setattr(_core, attribute, recorder(name, getattr(_core, attribute), arity))
    return calls


@pytest.fixture
def threads():
    """Restore the thread count after a test changes it."""
    before = heinit_rs.get_num_threads()
    yield
    heinit_rs.set_num_threads(before)
