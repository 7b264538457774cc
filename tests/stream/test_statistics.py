"""Every distribution against its exact CDF: Kolmogorov-Smirnov with 10^6 samples per seed over
several seeds (each p-value must exceed 1e-4; with 30-odd tests a false alarm has probability
about 3e-3), exact bounds, and mean / variance within 5-sigma bands."""

import math

import numpy as np
import pytest

import heinit_rs as h

stats = pytest.importorskip("scipy.stats")

N = 1_000_000
SEEDS = (0, 1, 12345)
P_MIN = 1e-4


def ks(sample, cdf):
    return stats.kstest(sample.astype(np.float64), cdf).pvalue


def moments_ok(sample, mean, var, fourth_central=None):
    n = sample.size
    x = sample.astype(np.float64)
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / n)
    mu4 = fourth_central if fourth_central is not None else 3 * var * var
    assert abs(x.var() - var) < 5 * math.sqrt((mu4 - var * var) / n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", SEEDS)
def test_normal(dtype, seed):
    arr = h.normal_(np.empty(N, dtype), mean=0.5, std=2.0, seed=seed)
    assert ks(arr, stats.norm(0.5, 2.0).cdf) > P_MIN
    moments_ok(arr, 0.5, 4.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", SEEDS)
def test_uniform(dtype, seed):
    arr = h.uniform_(np.empty(N, dtype), -3.0, 1.0, seed=seed)
    assert arr.min() >= -3.0 and arr.max() <= 1.0
    assert ks(arr, stats.uniform(-3.0, 4.0).cdf) > P_MIN
    moments_ok(arr, -1.0, 16 / 12, fourth_central=16**2 / 80)


@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "a, b", [(-2.0, 2.0), (-0.5, 3.0), (1.0, math.inf), (-math.inf, -3.0), (5.5, 6.0), (-7.0, -6.5)]
)
def test_trunc_normal(dtype, a, b):
    for seed in SEEDS[:2]:
        arr = h.trunc_normal_(np.empty(N, dtype), mean=1.0, std=0.5, a=1.0 + 0.5 * a,
                              b=1.0 + 0.5 * b, seed=seed)
        reference = stats.truncnorm(a, b, loc=1.0, scale=0.5)
        assert arr.min() >= 1.0 + 0.5 * a and arr.max() <= 1.0 + 0.5 * b
        assert ks(arr, reference.cdf) > P_MIN
        moments_ok(arr, reference.mean(), reference.var(), fourth_central=reference.moment(4)
                   - 4 * reference.mean() * reference.moment(3)
                   + 6 * reference.mean() ** 2 * reference.moment(2) - 3 * reference.mean() ** 4)


def test_truncated_normal_has_no_pile_up_at_the_bounds():
    arr = h.trunc_normal_(np.empty(N, np.float32), seed=3)
    # The density at +-2 is about 0.059 per unit: a 1e-3-wide bin holds ~59 values, not thousands.
    near = np.count_nonzero(np.abs(np.abs(arr) - 2.0) < 1e-3)
    assert near < 200
    assert np.count_nonzero(np.abs(arr) == 2.0) < 5


@pytest.mark.parametrize("seed", SEEDS)
def test_he_normal_keras_against_truncnorm(seed):
    arr = h.he_normal((1000, 1000), seed=seed).ravel()
    std = math.sqrt(2 / 1000) / 0.87962566103423978
    assert np.abs(arr).max() <= 2 * std
    assert ks(arr, stats.truncnorm(-2, 2, scale=std).cdf) > P_MIN
    assert abs(arr.std() - math.sqrt(2 / 1000)) < 5 * math.sqrt(2 / 1000) * math.sqrt(1 / N)


def test_kaiming_normal_of_a_4096_square_layer_passes_ks():
    # 4096 x 4096, seed 0: KS p > 1e-3 against N(0, 2/4096), the size a real layer has.
    arr = h.kaiming_normal_(np.empty((4096, 4096), np.float32), nonlinearity="relu", seed=0)
    sample = arr.ravel()[:: 8]
    assert ks(sample, stats.norm(0, math.sqrt(2 / 4096)).cdf) > 1e-3


def test_tails_reach_beyond_five_sigma():
    arr = h.normal_(np.empty(20_000_000, np.float32), seed=9)
    # P(|z| > 5) = 5.7e-7: about 11 expected; the 31-bit draws reach about 6.1 sigma.
    count = np.count_nonzero(np.abs(arr) > 5)
    assert 1 <= count <= 30
    assert np.abs(arr).max() < 6.5
