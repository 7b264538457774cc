"""float16 and bfloat16: the kernels compute each value in float32 and round it to nearest even
as they store it, so an unbounded fill equals the float32 fill cast with NumPy (float16) or
ml_dtypes (bfloat16), bit for bit; bounded ones stay inside their bounds after rounding."""

import math

import numpy as np
import pytest
from conftest import bits
from scipy import stats

import heinit_rs as h

ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes (pip install "
                                "ml_dtypes; it is in the test extras)")
HALVES = [np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)]
UNBOUNDED = {
    "normal_": lambda a, **kw: h.normal_(a, 0.1, 0.7, **kw),
    "kaiming_normal_": lambda a, **kw: h.kaiming_normal_(a, nonlinearity="relu", **kw),
    "xavier_normal_": lambda a, **kw: h.xavier_normal_(a, **kw),
}


@pytest.mark.parametrize("dtype", HALVES, ids=str)
@pytest.mark.parametrize("name", UNBOUNDED)
def test_unbounded_fills_are_the_float32_fill_rounded(name, dtype):
    fill = UNBOUNDED[name]
    single = fill(np.empty((96, 200), np.float32), seed=9)
    half = fill(np.empty((96, 200), dtype), seed=9)
    assert half.dtype == dtype
    assert np.array_equal(bits(half), bits(single.astype(dtype)))


@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_subnormals_and_ties_round_like_numpy(dtype):
    # A tiny std puts many float16 values among its subnormals.
    single = h.normal_(np.empty(10**5, np.float32), 0.0, 1e-5, seed=2)
    half = h.normal_(np.empty(10**5, dtype), 0.0, 1e-5, seed=2)
    assert np.array_equal(bits(half), bits(single.astype(dtype)))


@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_new_arrays_shards_views_and_threads(dtype, threads):
    whole = h.kaiming_normal((64, 48), dtype=dtype, seed=5)
    assert whole.dtype == dtype
    assert np.array_equal(bits(whole),
                          bits(h.kaiming_normal((64, 48), dtype=np.float32, seed=5).astype(dtype)))
    shard = h.kaiming_normal((64, 48), dtype=dtype, seed=5, index=np.s_[10:20, 3])
    assert np.array_equal(bits(shard), bits(whole[10:20, 3]))
    view = np.zeros((48, 64), dtype).T  # a transposed, strided target
    h.kaiming_normal_(view, seed=5)
    assert np.array_equal(bits(view), bits(whole))
    big = {}
    for n in (1, 2):
        h.set_num_threads(n)
        big[n] = h.normal_(np.empty(1 << 20, dtype), seed=8)
    assert np.array_equal(bits(big[1]), bits(big[2]))
    name = "bfloat16" if dtype.name == "bfloat16" else np.float16
    assert h.he_normal((3, 3), dtype=name, seed=1).dtype == dtype


def test_big_endian_float16():
    native = h.normal_(np.empty(100, np.float16), seed=4)
    swapped = h.normal_(np.empty(100, ">f2"), seed=4)
    assert swapped.dtype == np.dtype(">f2") and np.array_equal(swapped, native)


KAIMING_BOUND = math.sqrt(6 / 512)  # kaiming_uniform_ of (256, 512): sqrt(3) sqrt(2) / sqrt(512)
HE_BOUND = 2 * math.sqrt(2 / 256) / 0.87962566103423978  # Keras he_normal: fan_in 256, +-2 std


@pytest.mark.parametrize("dtype", HALVES, ids=str)
@pytest.mark.parametrize("fill, bound", [
    (lambda a, **kw: h.uniform_(a, -0.1, 0.1, **kw), 0.1),
    (lambda a, **kw: h.trunc_normal_(a, 0.0, 0.02, -0.04, 0.04, **kw), 0.04),
    (lambda a, **kw: h.kaiming_uniform_(a, **kw), KAIMING_BOUND),
    (lambda a, **kw: h.he_normal(a.shape, dtype=a.dtype, **kw), HE_BOUND),
])
def test_bounded_fills_stay_inside_after_rounding(dtype, fill, bound):
    """The float32 values cast to the format may round past a bound that the format cannot
    hold; heinit_rs's values never do, and equal the cast wherever it stays inside."""
    half = fill(np.empty((256, 512), dtype), seed=3)
    single = fill(np.empty((256, 512), np.float32), seed=3)
    values = half.astype(np.float64)
    assert values.min() >= -bound and values.max() <= bound
    cast = single.astype(dtype)
    inside = np.abs(cast.astype(np.float64)) <= bound
    assert inside.mean() > 0.99
    assert np.array_equal(bits(half)[inside], bits(cast)[inside])


def _cell_masses(values, dist, low, high):
    """The probability of each representable value's rounding cell (to nearest), within
    [low, high]."""
    mids = (values[1:] + values[:-1]) / 2
    edges = np.concatenate([[low], mids, [high]])
    return np.diff(dist.cdf(edges))


@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_truncated_normal_matches_its_rounded_distribution_with_no_pile_up(dtype):
    """Chi-square of the counts of every representable value against the mass of its rounding
    cell (threshold p > 1e-3, fixed seed): values at the bounds get exactly their own cell's
    mass, unlike torch's bfloat16 trunc_normal_ (torch issue 145498)."""
    n, (low, high) = 10**6, (-2.0, 2.0)
    x = h.trunc_normal_(np.empty(n, dtype), 0.0, 1.0, low, high, seed=12).astype(np.float64)
    values, counts = np.unique(x, return_counts=True)
    dist = stats.truncnorm(low, high)
    # Every representable value in [low, high], including those never drawn.
    with np.errstate(invalid="ignore"):  # the NaN bit patterns
        grid = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(dtype).astype(np.float64)
    grid = np.unique(grid[np.isfinite(grid) & (grid >= low) & (grid <= high)])  # -0 == 0
    assert set(values) <= set(grid)
    expected = _cell_masses(grid, dist, low, high) * n
    observed = np.zeros(len(grid))
    observed[np.searchsorted(grid, values)] = counts
    big = expected > 20  # chi-square needs populated cells; the rest pooled into one
    chi2 = ((observed[big] - expected[big]) ** 2 / expected[big]).sum()
    rest_o, rest_e = observed[~big].sum(), expected[~big].sum()
    chi2 += (rest_o - rest_e) ** 2 / max(rest_e, 1e-12)
    pvalue = stats.chi2.sf(chi2, big.sum())
    assert pvalue > 1e-3, pvalue
    for bound in (0, -1):  # no pile-up: the bound values hold their own cells' share
        assert abs(observed[bound] - expected[bound]) < 5 * math.sqrt(expected[bound]) + 5


@pytest.mark.parametrize("dtype, limit", [(np.float16, 65504.0), ("bfloat16", 3.3895313892515355e38)])
def test_overflow_is_judged_in_the_format(dtype, limit):
    resolved = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    ok = h.normal_(np.empty(1000, resolved), 0.0, limit / 7, seed=1)
    assert np.isfinite(ok.astype(np.float64)).all()
    with pytest.raises(ValueError, match=rf"std=.* beyond {resolved.name}'s largest finite"):
        h.normal_(np.empty(1000, resolved), 0.0, limit / 6, seed=1)
