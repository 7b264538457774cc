"""Property tests (hypothesis) over shapes, strides, dtypes, seeds, index, global_shape and
parameters: shards equal slices, values stay in their bounds, fills are deterministic, and a
rejected call leaves the array as it was."""

import math
import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import heinit_rs as hi  # noqa: E402

# CI runs 200 examples per property; HEINIT_RS_HYPOTHESIS_EXAMPLES=5000 for a longer hunt.
EXAMPLES = int(os.environ.get("HEINIT_RS_HYPOTHESIS_EXAMPLES", "200"))
property_test = settings(max_examples=EXAMPLES, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])

SEEDS = st.integers(0, 2**64 - 1)
DTYPES = st.sampled_from([np.float32, np.float64])
SHAPES = st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple)


@st.composite
def shape_and_index(draw, min_dims=2):
    """A shape and an index of ints and step-1 slices (negative and open bounds included)."""
    shape = draw(st.lists(st.integers(1, 6), min_size=min_dims, max_size=4).map(tuple))
    entries = []
    for n in shape[:draw(st.integers(1, len(shape)))]:
        if draw(st.booleans()):
            entries.append(draw(st.integers(-n, n - 1)))
            continue
        start, stop = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
        as_negative = draw(st.booleans())
        entries.append(slice(start - n if as_negative and start < n else start,
                             None if stop == n and draw(st.booleans()) else stop))
    index = tuple(entries) if len(entries) > 1 or draw(st.booleans()) else entries[0]
    return shape, index


NEW_ARRAY = {
    "kaiming_normal": lambda s, **kw: hi.kaiming_normal(s, nonlinearity="relu", **kw),
    "kaiming_uniform": lambda s, **kw: hi.kaiming_uniform(s, mode="fan_out", **kw),
    "he_normal": hi.he_normal,
    "glorot_uniform": hi.glorot_uniform,
    "lecun_normal": lambda s, **kw: hi.lecun_normal(s, layout="jax", **kw),
    "variance_scaling": lambda s, **kw: hi.variance_scaling(s, 0.5, "fan_geo_avg", "normal", **kw),
}


@property_test
@given(st.sampled_from(sorted(NEW_ARRAY)), shape_and_index(), DTYPES, SEEDS)
def test_a_shard_equals_the_same_slice_of_the_whole(name, shape_index, dtype, seed):
    shape, index = shape_index
    make = NEW_ARRAY[name]
    whole = make(shape, dtype=dtype, seed=seed)
    shard = make(shape, dtype=dtype, seed=seed, index=index)
    assert shard.dtype == dtype
    assert np.array_equal(shard, whole[index])


@property_test
@given(shape_and_index(min_dims=1), DTYPES, SEEDS, st.sampled_from(["normal", "uniform", "trunc"]))
def test_an_in_place_block_equals_the_slice_of_the_global_array(shape_index, dtype, seed, kind):
    global_shape, index = shape_index
    fill = {
        "normal": lambda a, **kw: hi.normal_(a, 1.0, 2.0, **kw),
        "uniform": lambda a, **kw: hi.uniform_(a, -3.0, 5.0, **kw),
        "trunc": lambda a, **kw: hi.trunc_normal_(a, 0.0, 1.0, -0.5, 4.0, **kw),
    }[kind]
    expected = fill(np.empty(global_shape, dtype), seed=seed)[index]
    assume(np.size(expected) > 0)  # an empty block is a documented no-op with a warning
    block = np.empty(np.shape(expected), dtype)
    fill(block, seed=seed, global_shape=global_shape, index=index)
    assert np.array_equal(block, expected)


@st.composite
def strided_view(draw):
    """A base array and a view of it with arbitrary steps (negative too) and axis order."""
    shape = draw(st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple))
    selection = tuple(
        slice(None, None, draw(st.sampled_from([1, 2, 3, -1, -2]))) for _ in shape)
    order = draw(st.permutations(range(len(shape))))
    fortran = draw(st.booleans())
    return shape, selection, tuple(order), fortran


@property_test
@given(strided_view(), DTYPES, SEEDS)
def test_strided_views_fill_like_contiguous_arrays_and_touch_nothing_else(view_spec, dtype, seed):
    shape, selection, order, fortran = view_spec
    base = np.full(shape, -7.5, dtype, order="F" if fortran else "C")
    view = base[selection].transpose(order)
    hi.uniform_(view, 10.0, 11.0, seed=seed)
    assert np.array_equal(view, hi.uniform_(np.empty(view.shape, dtype), 10.0, 11.0, seed=seed))
    touched = np.zeros(shape, bool)
    touched[selection] = True
    assert np.all(base[~touched] == -7.5)
    assert np.all((view >= 10.0) & (view <= 11.0))


FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@property_test
@given(SHAPES, DTYPES, SEEDS, FINITE, st.floats(1e-6, 1e3))
def test_uniform_values_stay_inside_their_bounds(shape, dtype, seed, low, width):
    high = low + width
    arr = hi.uniform_(np.empty(shape, dtype), low, high, seed=seed)
    assert np.all((arr >= dtype(low)) & (arr <= dtype(high)))


@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
@property_test
@given(SHAPES, DTYPES, SEEDS, FINITE, st.floats(1e-3, 1e3), st.floats(-12, 12),
       st.floats(1e-3, 10))
def test_truncated_normal_values_stay_inside_their_bounds(shape, dtype, seed, mean, std, a_sigma,
                                                          width_sigma):
    a = mean + a_sigma * std
    b = a + width_sigma * std
    arr = hi.trunc_normal_(np.empty(shape, dtype), mean, std, a, b, seed=seed)
    assert np.all(np.isfinite(arr))
    assert np.all((arr >= dtype(a)) & (arr <= dtype(b))), (a, b, arr.min(), arr.max())


@property_test
@given(SHAPES, DTYPES, SEEDS, st.sampled_from(["fan_in", "fan_out"]),
       st.sampled_from(["relu", "leaky_relu", "tanh", "linear", "selu", "gelu"]))
def test_fills_are_deterministic_and_the_seed_matters(shape, dtype, seed, mode, nonlinearity):
    first = hi.kaiming_normal(shape, mode=mode, nonlinearity=nonlinearity, dtype=dtype, seed=seed)
    second = hi.kaiming_normal_(np.empty(shape, dtype), mode=mode, nonlinearity=nonlinearity,
                                seed=seed)
    assert np.array_equal(first, second)
    if first.size >= 4:
        other = hi.kaiming_normal(shape, mode=mode, nonlinearity=nonlinearity, dtype=dtype,
                                  seed=(seed + 1) % 2**64)
        assert not np.array_equal(first, other)


BAD_CALLS = {
    "negative std": lambda a: hi.normal_(a, 0.0, -1.0, seed=1),
    "nan mean": lambda a: hi.normal_(a, math.nan, 1.0, seed=1),
    "infinite std": lambda a: hi.trunc_normal_(a, 0.0, math.inf, seed=1),
    "uniform a > b": lambda a: hi.uniform_(a, 2.0, 1.0, seed=1),
    "trunc a == b": lambda a: hi.trunc_normal_(a, 0.0, 1.0, 1.0, 1.0, seed=1),
    "bad mode": lambda a: hi.kaiming_normal_(a, mode="fan_avg", seed=1),
    "bad nonlinearity": lambda a: hi.kaiming_uniform_(a, nonlinearity="softmax", seed=1),
    "negative gain": lambda a: hi.xavier_normal_(a, gain=-1.0, seed=1),
    "negative seed": lambda a: hi.normal_(a, seed=-1),
    "seed too large": lambda a: hi.normal_(a, seed=2**64),
    "float seed": lambda a: hi.normal_(a, seed=1.5),
    "index without global_shape": lambda a: hi.normal_(a, seed=1, index=np.s_[:1]),
    "global_shape mismatch": lambda a: hi.normal_(a, seed=1, global_shape=(a.shape[0] + 1,) + a.shape[1:]),
    "index out of range": lambda a: hi.normal_(a, seed=1, global_shape=a.shape,
                                               index=(slice(1, a.shape[0] + 1),)),
    "stepped index": lambda a: hi.normal_(a, seed=1, global_shape=a.shape, index=np.s_[::2]),
    "bad layout": lambda a: hi.kaiming_normal_(a, layout="mxnet", seed=1),
}


@property_test
@given(SHAPES, DTYPES, SEEDS, st.sampled_from(sorted(BAD_CALLS)), st.booleans())
def test_a_rejected_call_leaves_the_array_unchanged(shape, dtype, seed, bad, strided):
    base = np.random.default_rng(seed % 2**32).standard_normal(shape).astype(dtype)
    arr = base[::-1] if strided else base
    before = base.copy()
    with pytest.raises((ValueError, TypeError)):
        BAD_CALLS[bad](arr)
    assert np.array_equal(base, before)


@property_test
@given(SEEDS, st.integers(0, 2**63 - 2**20), st.integers(2, 300), DTYPES)
def test_any_window_of_a_huge_logical_array_can_be_made_alone(seed, start, length, dtype):
    # Global indices up to 2**63: the counter arithmetic across the whole range.
    total = 2**63 - 1
    window = hi.normal_(np.empty(length, dtype), seed=seed, global_shape=(total,),
                        index=np.s_[start:start + length])
    first_half = hi.normal_(np.empty(length // 2, dtype), seed=seed, global_shape=(total,),
                            index=np.s_[start:start + length // 2])
    assert np.array_equal(window[:length // 2], first_half)
    assert np.all(np.isfinite(window))
