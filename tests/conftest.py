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
    "normal" [mean, std], "uniform" [a, b] or "trunc_normal" [mean, std, a, b]."""
    from heinit_rs import _initializers

    calls = []
    parameters = {_core.Normal: ("normal", ("mean", "std")),
                  _core.Uniform: ("uniform", ("a", "b")),
                  _core.TruncNormal: ("trunc_normal", ("mean", "std", "a", "b"))}
    real = _initializers._fill

    def record(distribution, target, key, stream, generator, global_shape=None, offset=None):
        name, fields = parameters[type(distribution)]
        calls.append((name, [getattr(distribution, f) for f in fields], global_shape, offset))
        return real(distribution, target, key, stream, generator, global_shape=global_shape,
                    offset=offset)

    monkeypatch.setattr(_initializers, "_fill", record)
    return calls


@pytest.fixture
def threads():
    """Restore the thread count after a test changes it."""
    before = heinit_rs.get_num_threads()
    yield
    heinit_rs.set_num_threads(before)
