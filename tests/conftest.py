"""Shared by every area of tests/ (numpy_api, stream, frameworks, tool, house): the golden
data, bit views, a Python subprocess, a fill recorder and the thread-count guard. Test files
import the plain helpers with ``from conftest import bits, run_python``."""

import importlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import heinit_rs
from heinit_rs import _core

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"

if os.environ.get("HEINIT_RS_REQUIRE_FRAMEWORKS") == "1":
    # CI's frameworks venv: a framework test that skips is a test that does not exist, so a
    # missing module is an error there, not a skip.
    def _import_or_fail(modname, minversion=None, reason=None, exc_type=None):
        return importlib.import_module(modname)

    pytest.importorskip = _import_or_fail


def bits(arr):
    """arr's bit patterns as unsigned integers of its item size (a copy), so that comparisons
    are bitwise: -0.0 differs from 0.0 and a NaN equals itself."""
    return arr.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[arr.dtype.itemsize]).copy()


# Code for run_python's children that measure memory (prepend it to theirs). VmHWM is the
# child's own peak resident memory; ru_maxrss is not: Linux starts a child's at its forking
# parent's resident size, so under a large pytest process it hid any peak below that.
PROC_STATUS = textwrap.dedent("""
    def status_bytes(field):
        \"\"\"A size from /proc/self/status in bytes: VmHWM (peak resident) or VmRSS (now).\"\"\"
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status
                        if line.startswith(field + ":"))
""")


def run_python(code, *, env=None, drop=(), check=True, timeout=300, executable=sys.executable,
               args=()):
    """Run `code` (dedented; None: `args` alone, as ``-m module ...``) in a fresh interpreter;
    its CompletedProcess, with text output. `env` adds to this process's environment and `drop`
    removes names from it; `check`: a nonzero exit fails the test, showing the child's stderr."""
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in drop}
    command = [executable, *args] + ([] if code is None else ["-c", textwrap.dedent(code)])
    result = subprocess.run(command, env=environment, capture_output=True, text=True,
                            timeout=timeout)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (for gloo's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
