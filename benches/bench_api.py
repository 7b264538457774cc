"""pytest-benchmark benchmarks of the Python API. The test run passes --benchmark-disable
(pyproject.toml), so CI runs each once as a plain test; `pytest benches --benchmark-enable`
times them."""

import numpy as np
import pytest

import heinit_rs as h

SHAPE = (1024, 1024)


@pytest.fixture(scope="module")
def arr32():
    return np.empty(SHAPE, np.float32)


def test_kaiming_normal_inplace(benchmark, arr32):
    out = benchmark(h.kaiming_normal_, arr32, nonlinearity="relu", seed=1)
    assert out is arr32 and np.isfinite(out).all()


def test_kaiming_uniform_inplace(benchmark, arr32):
    out = benchmark(h.kaiming_uniform_, arr32, nonlinearity="relu", seed=1)
    bound = np.sqrt(3.0) * np.sqrt(2.0 / SHAPE[1])
    assert np.abs(out).max() <= bound


def test_he_normal_new_array(benchmark):
    out = benchmark(h.he_normal, SHAPE, seed=1)
    assert out.shape == SHAPE and out.dtype == np.float32


def test_small_call_overhead(benchmark):
    out = benchmark(h.kaiming_normal, (256, 1), seed=1)
    assert out.shape == (256, 1)


def test_numpy_reference(benchmark, arr32):
    rng = np.random.default_rng(0)
    out = benchmark(rng.standard_normal, out=arr32, dtype=np.float32)
    # The reference fills the same buffer with standard normals (5 sigma bands for 2^20 values).
    assert out is arr32 and abs(out.mean()) < 5 / 1024 and abs(out.std() - 1) < 5 / 1448
