import json
from pathlib import Path

import pytest

import heinit_rs
from heinit_rs import _core

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def golden():
    return json.loads((DATA / "golden.json").read_text())


@pytest.fixture
def captured_fills(monkeypatch):
    """Record the (distribution, params, global_shape, offset) each call hands the Rust core."""
    calls = []
    real = _core.fill_array

    def recorder(arr, distribution, params, seed, stream, global_shape=None, offset=None):
        calls.append((distribution, list(params), global_shape, offset))
        return real(arr, distribution, params, seed, stream, global_shape, offset)

    monkeypatch.setattr(_core, "fill_array", recorder)
    return calls


@pytest.fixture
def threads():
    """Restore the thread count after a test changes it."""
    before = heinit_rs.get_num_threads()
    yield
    heinit_rs.set_num_threads(before)
