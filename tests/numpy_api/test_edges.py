"""The edges: no silent NaN or inf, the truncated normal at extreme parameters, NumPy's index
rules, rejected calls that draw nothing, and a Generator that copies, pickles and forks."""

import copy
from contextlib import nullcontext
import math
import multiprocessing
import os
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import special, stats

import heinit_rs as h

DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------------------------------
# 1. No silent non-finite values


@pytest.mark.parametrize("call, match", [
    (lambda: h.uniform_(np.empty(5, np.float32), 0, 1e39, seed=0), r"a=0, b=1e\+39"),
    (lambda: h.normal_(np.empty(5, np.float32), 0, 1e38, seed=0), r"std=1e\+38"),
    (lambda: h.normal_(np.empty(5), 1e308, 1e307, seed=0), r"mean=1e\+308, std=1e\+307"),
    (lambda: h.xavier_normal_(np.empty((4, 4), np.float32), gain=1e300, seed=0), r"gain=1e\+300"),
    (lambda: h.xavier_uniform_(np.empty((4, 4), np.float32), gain=1e300, seed=0),
     r"gain=1e\+300"),
    (lambda: h.variance_scaling((4, 4), scale=1e300, distribution="uniform"), r"scale=1e\+300"),
    (lambda: h.trunc_normal_(np.empty(5, np.float32), -1e39, 1.0, -np.inf, np.inf, seed=0),
     r"mean=-1e\+39"),
])
def test_overflowing_parameters_are_rejected_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match + ".*beyond float(32|64)'s largest finite"):
        call()


def test_an_enormous_leaky_relu_slope_gives_a_finite_tiny_std():
    w = h.kaiming_normal_(np.empty((64, 64)), a=1e200, seed=0)
    expected_std = math.sqrt(2.0) / math.hypot(1.0, 1e200) / 8.0
    assert np.isfinite(w).all() and 0.8 < (w / expected_std).std() < 1.2


def test_a_non_finite_slope_names_a():
    with pytest.raises(ValueError, match="a must be finite, got nan"):
        h.kaiming_normal_(np.empty((4, 4)), a=float("nan"), seed=0)


def test_trunc_normal_with_a_std_beyond_float32_stays_in_bounds():
    x = h.trunc_normal_(np.empty(10**4, np.float32), 0.0, 1e39, -3e38, 3e38, seed=0)
    assert np.isfinite(x).all() and (x >= -3e38).all() and (x <= 3e38).all()
    assert len(np.unique(x)) > 9000  # uniform-like over the range, not piled on the bounds


def _finite_near(limit):
    return st.one_of(
        st.floats(-limit * 4, limit * 4, allow_nan=False, allow_infinity=False),
        st.sampled_from([limit, -limit, limit / 2, limit / 6.3, limit / 9.2, 1e-300, 0.0]),
    )


NEAR_LIMITS = st.one_of(_finite_near(3.4028235e38), _finite_near(1.7976931348623157e308))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fn=st.sampled_from(["normal_", "uniform_", "trunc_normal_", "xavier_normal_",
                           "xavier_uniform_", "kaiming_normal_", "kaiming_uniform_",
                           "variance_scaling", "kaiming_normal"]),
       dtype=st.sampled_from(DTYPES), x=NEAR_LIMITS, y=NEAR_LIMITS, z=NEAR_LIMITS, w=NEAR_LIMITS)
def test_no_call_returns_a_non_finite_value(fn, dtype, x, y, z, w):
    """Parameters near the float32 and float64 limits: either a ValueError that names an
    argument, or every value finite (and inside the bounds of a bounded distribution)."""
    arr = np.zeros(256, dtype)
    square = np.zeros((16, 16), dtype)
    calls = {
        "normal_": lambda: h.normal_(arr, x, abs(y), seed=1),
        "uniform_": lambda: h.uniform_(arr, min(x, y), max(x, y), seed=1),
        "trunc_normal_": lambda: h.trunc_normal_(arr, x, abs(y), min(z, w), max(z, w), seed=1),
        "xavier_normal_": lambda: h.xavier_normal_(square, gain=abs(x), seed=1),
        "xavier_uniform_": lambda: h.xavier_uniform_(square, gain=abs(x), seed=1),
        "kaiming_normal_": lambda: h.kaiming_normal_(square, a=x, seed=1),
        "kaiming_uniform_": lambda: h.kaiming_uniform_(square, a=x, seed=1),
        "variance_scaling": lambda: h.variance_scaling(
            (16, 16), scale=abs(x) or 1.0, distribution="uniform", dtype=dtype, seed=1),
        "kaiming_normal": lambda: h.kaiming_normal((16, 16), a=x, dtype=dtype, seed=1),
    }
    try:
        with np.errstate(all="ignore"):
            out = calls[fn]()
    except ValueError as error:
        assert any(name in str(error) for name in ("a=", "b=", "std=", "mean=", "gain=", "scale=",
                                                   "needs a <", "needs a <=", "b - a")), error
        return
    except UserWarning:  # trunc_normal_'s mean-far-outside warning, an error under pytest
        return
    assert np.isfinite(out).all(), (fn, x, y, z, w)
    bounds = {"uniform_": (x, y), "trunc_normal_": (z, w)}.get(fn)
    if bounds is not None:  # compared in the output type, as the bounds round to it
        with np.errstate(over="ignore"):
            low, high = np.array([min(bounds), max(bounds)]).astype(dtype)
        assert (out >= low).all() and (out <= high).all()


# ---------------------------------------------------------------------------------------------
# 2. The truncated normal at the extremes, against its exact CDF


def _exact_cdf(mean, std, a, b):
    """The truncated normal's CDF: erf differences near the centre, where scipy's truncnorm
    (a difference of ndtr values) loses precision, and scipy's log-space truncnorm in the tails."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    if max(abs(alpha), abs(beta)) <= 1:
        lo, width = special.erf(alpha / math.sqrt(2)), None
        width = special.erf(beta / math.sqrt(2)) - lo
        return lambda x: (special.erf((np.asarray(x) - mean) / std / math.sqrt(2)) - lo) / width
    return stats.truncnorm(alpha, beta, loc=mean, scale=std).cdf


EXTREMES = [
    (0.0, 1e6, -1.0, 1.0),       # float32 gave 21 distinct values
    (0.0, 1e8, -1.0, 1.0),       # float32 gave one value
    (0.0, 1e14, -1.0, 1.0),      # float64 broke here
    (3.0, 1e7, -1.0, 1.0),
    (0.0, 1.0, -39.0, -38.0),    # gave -38.0 for every value
    (0.0, 1.0, 38.0, 39.0),
    (0.0, 1.0, -np.inf, -50.0),
    (5.0, 0.1, -np.inf, -1.0),   # 60 sigma below the mean
    (0.0, 1.0, -38.0, -37.0),
    (0.0, 1.0, -1e-3, 1e-3),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mean, std, a, b", EXTREMES)
def test_truncated_normal_passes_ks_at_the_extremes(dtype, mean, std, a, b):
    with pytest.warns(UserWarning, match="more than 2 std") if (
            mean < a - 2 * std or mean > b + 2 * std) else nullcontext():
        x = h.trunc_normal_(np.empty(10**5, dtype), mean, std, a, b, seed=11)
    assert np.isfinite(x).all() and (x >= dtype(a)).all() and (x <= dtype(b)).all()
    pvalue = stats.kstest(x.astype(np.float64), _exact_cdf(mean, std, a, b)).pvalue
    assert pvalue > 1e-3, pvalue  # threshold: a fixed seed, so a pass is reproducible


def test_far_tail_mean_is_right():
    # E[X | -39 < X < -38] = -38.02600..., which the old code put at exactly -38.
    with pytest.warns(UserWarning, match="more than 2 std"):
        x = h.trunc_normal_(np.empty(10**6), 0.0, 1.0, -39.0, -38.0, seed=3)
    expected = -38.02627946657587  # (phi(39) - phi(38)) / (Q(38) - Q(39)), by mpmath at 30 digits
    assert abs(x.mean() - expected) < 5 * x.std() / 1000


# ---------------------------------------------------------------------------------------------
# 3. A rejected call consumes no draw


def _dask():
    return pytest.importorskip("heinit_rs.dask", reason="the Dask cases need dask")


# Calls each front end rejects, on every kind of check: parameters (in Python and in Rust),
# dtypes, shapes, indices, memory. The Dask ones check before the graph draws.
REJECTED = {
    "nan slope": lambda g: h.kaiming_normal_(np.empty((4, 4)), a=float("nan"), seed=g),
    "torch mode": lambda g: h.kaiming_normal_(np.empty((4, 4)), mode="fan_avg", seed=g),
    "overflow": lambda g: h.normal_(np.empty(4, np.float32), 0, 1e39, seed=g),
    "negative std": lambda g: h.normal_(np.empty(4), std=-1.0, seed=g),
    "a > b": lambda g: h.uniform_(np.empty(4), 1, 0, seed=g),
    "trunc a >= b": lambda g: h.trunc_normal_(np.empty(4), a=1.0, b=1.0, seed=g),
    "scale 0": lambda g: h.variance_scaling((4, 4), scale=0.0, seed=g),
    "int index": lambda g: h.he_normal((4, 4), index=7, seed=g),
    "index past the end": lambda g: h.he_normal((4, 4), seed=g, index=np.s_[4]),
    "int dtype": lambda g: h.he_normal((4, 4), dtype=np.int32, seed=g),
    "int array": lambda g: h.normal_(np.empty(4, np.int32), seed=g),
    "block of the wrong shape": lambda g: h.normal_(np.empty(3), seed=g, global_shape=(8,),
                                                    index=np.s_[:2]),
    "misaligned": lambda g: h.normal_(np.frombuffer(bytearray(40), np.float64, 4, 1), seed=g),
    "dask 1-D jax layout": lambda g: _dask().he_normal((5,), layout="jax", seed=g),
    "dask int dtype": lambda g: _dask().he_normal((5, 5), dtype=np.int32, seed=g),
    "dask mode": lambda g: _dask().variance_scaling((5, 5), mode="fan_sideways", seed=g),
}


@pytest.mark.parametrize("call", REJECTED.values(), ids=REJECTED.keys())
def test_rejected_calls_consume_no_draw(call):
    """Neither the Generator passed nor the default one advances."""
    g = h.Generator(5)
    with pytest.raises((ValueError, TypeError, IndexError)):
        call(g)
    assert g.draws == 0
    default = h.manual_seed(5)
    with pytest.raises((ValueError, TypeError, IndexError)):
        call(None)
    assert default.draws == 0


def test_a_fill_the_core_rejects_gives_the_draw_back(monkeypatch):
    from heinit_rs import _initializers

    class Refused:
        """A distribution whose fill the core refuses, as it refuses an array being filled."""

        def __init__(self, distribution):
            self.check_fits = distribution.check_fits

        def fill(self, *args, **kwargs):
            raise ValueError("arr, or memory it shares, is being filled by another thread right now")

    real = _initializers._fill
    monkeypatch.setattr(_initializers, "_fill", lambda distribution, *args, **kwargs: real(
        Refused(distribution), *args, **kwargs))
    g = h.Generator(1)
    for call in (lambda: h.normal_(np.empty(8), seed=g), lambda: h.he_normal((4, 4), seed=g),
                 lambda: h.he_normal((4, 4), seed=g, index=np.s_[1:])):
        with pytest.raises(ValueError, match="another thread"):
            call()
    assert g.draws == 0


@pytest.mark.parametrize("call, in_place", [
    (lambda g: h.kaiming_normal_(np.empty((0, 5)), seed=g), True),
    (lambda g: h.normal_(np.empty(0, np.float32), seed=g), True),
    (lambda g: h.kaiming_normal((0, 5), seed=g), False),
    (lambda g: h.he_normal((8, 6), index=np.s_[5:2], seed=g), False),
])
def test_zero_element_calls_draw_once_like_any_other(call, in_place):
    """One draw per accepted call, whatever its size, so generators stay in step across
    ranks whose shards differ in size; in place, torch's warning as well."""
    g = h.Generator(2)
    with pytest.warns(UserWarning, match="zero-element") if in_place else nullcontext():
        call(g)
    assert g.draws == 1


# ---------------------------------------------------------------------------------------------
# 4. index= follows NumPy


INDICES = [np.s_[2:100], np.s_[5:2], np.s_[-100:3], np.s_[..., 1:4], np.s_[3, ...],
           np.s_[np.int64(2):np.int32(5), -1], np.s_[-8], np.s_[:, 5], np.s_[...], np.s_[:0, :],
           (slice(None, None, 1), np.int8(-6))]


@pytest.mark.parametrize("index", INDICES, ids=str)
def test_index_equals_numpy_slicing(index):
    full = h.he_normal((8, 6), seed=4)
    part = h.he_normal((8, 6), seed=4, index=index)
    assert part.shape == full[index].shape
    assert np.array_equal(part, full[index])
    if full[index].size:  # in place, the same block of a global array
        into = np.empty(full[index].shape, np.float32)
        h.kaiming_normal_(into, seed=4, global_shape=(8, 6), index=index)
        assert np.array_equal(into, h.kaiming_normal((8, 6), seed=4)[index])


@pytest.mark.parametrize("index, exc", [
    (8, IndexError), (-9, IndexError), (np.s_[:, 6], IndexError), (np.s_[1, 2, 3], IndexError),
    (np.s_[..., ...], IndexError), (np.s_[::2], ValueError), (np.s_[[1, 2]], TypeError),
])
def test_bad_indices_raise_numpys_exception_types(index, exc):
    if exc is IndexError:  # what NumPy itself raises for the same index
        with pytest.raises(IndexError):
            np.empty((8, 6))[index]
    with pytest.raises(exc):
        h.he_normal((8, 6), seed=0, index=index)


# ---------------------------------------------------------------------------------------------
# 5. The Generator as a value


def test_copies_are_independent_and_pickle_round_trips():
    g = h.Generator(7)
    h.he_normal((4, 4), seed=g)
    for twin in (copy.copy(g), copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert twin.state == g.state == {"key": 7, "draws": 1, "spawned": 0}
        a = h.he_normal((4, 4), seed=twin)
        assert twin.draws == 2 and g.draws == 1  # drawing from the twin leaves g alone
        assert np.array_equal(a, h.he_normal((4, 4), seed=copy.copy(g)))


def test_state_saves_and_restores_a_position():
    g = h.Generator(9)
    g.spawn(3)
    saved = g.state
    first = [h.he_normal((3, 3), seed=g) for _ in range(3)]
    children = g.spawn(2)
    g.state = saved
    assert all(np.array_equal(a, h.he_normal((3, 3), seed=g)) for a in first)
    assert [c.key for c in g.spawn(2)] == [c.key for c in children]
    for bad in ({"key": 1}, {"key": -1, "draws": 0, "spawned": 0},
                {"key": 1, "draws": 1.5, "spawned": 0}, [1, 2, 3]):
        with pytest.raises((ValueError, TypeError)):
            g.state = bad


# ---------------------------------------------------------------------------------------------
# 6. fork


def _first_values_in(queue):
    queue.put(h.he_normal((4,)).tobytes())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
@pytest.mark.parametrize("seeded", [False, True])
def test_forked_children_of_an_os_seeded_default_generator_differ(seeded):
    import heinit_rs._random as random_module

    random_module._default = None
    if seeded:
        h.manual_seed(123)
    h.he_normal((4,))  # the parent uses its default generator first
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_first_values_in, args=(queue,)) for _ in range(4)]
    for child in children:
        child.start()
    results = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join()
    if seeded:  # an explicit seed stays reproducible: each child continues the same stream
        assert len(set(results)) == 1
        assert results[0] == h.he_normal((4,)).tobytes()
    else:
        assert len(set(results)) == 4


# ---------------------------------------------------------------------------------------------
# 7. Messages that fit; NumPy scalars, callables, byte order


def test_dtype_messages_name_what_is_supported():
    with pytest.raises(TypeError, match=r"float32, float64, float16 or bfloat16, got int32$"):
        h.normal_(np.zeros(3, np.int32))
    with pytest.raises(TypeError, match=r"dtype must be float32, float64, float16 or bfloat16, "
                                        r"got bool$"):
        h.he_normal((3, 3), dtype=bool)


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_big_endian_arrays_are_filled_with_the_same_values(dtype):
    native = h.normal_(np.empty(100, np.dtype(dtype).newbyteorder("=")), seed=3)
    swapped = h.normal_(np.empty(100, dtype), seed=3)
    assert swapped.dtype == np.dtype(dtype) and np.array_equal(swapped, native)
    made = h.he_normal((10, 10), dtype=dtype, seed=3)
    assert made.dtype == np.dtype(dtype)
    assert np.array_equal(made, h.he_normal((10, 10), dtype=native.dtype, seed=3))


def test_manual_seed_none_says_what_it_takes():
    with pytest.raises(TypeError, match=r"seed must be an int in \[0, 2\*\*64 - 1\], got NoneType"):
        h.manual_seed(None)


def test_numpy_scalar_slopes_are_accepted():
    for slope in (np.float32(0.2), np.float64(0.2), np.int64(1), np.float16(0.5)):
        assert h.calculate_gain("leaky_relu", slope) == h.calculate_gain("leaky_relu",
                                                                           float(slope))
        a = h.kaiming_normal((8, 8), a=slope, seed=1)
        assert np.array_equal(a, h.kaiming_normal((8, 8), a=float(slope), seed=1))


def test_scalar_callables_are_vectorized():
    assert h.calculate_gain(math.tanh) == pytest.approx(h.calculate_gain(np.tanh), rel=1e-12)
    assert h.calculate_gain(lambda x: max(x, 0.0)) == pytest.approx(math.sqrt(2), rel=1e-12)


def test_trunc_normal_warns_when_the_mean_is_far_outside():
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        h.trunc_normal_(np.empty(10), 10.0, 1.0, -1.0, 1.0, seed=0)


def test_bench_size_message(capsys):
    from heinit_rs._cli import main

    with pytest.raises(SystemExit):
        main(["bench", "--size", "abc"])
    err = capsys.readouterr().err
    assert "must be a positive int, got 'abc'" in err and "_positive" not in err




@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("mean, expected", [(0.3, 0.3), (5.0, 1.0), (-7.0, -1.0)])
def test_a_zero_std_truncated_normal_is_the_mean_clamped_to_its_bounds(dtype, mean, expected):
    """As torch's trunc_normal_ with std=0 means it; a 16-bit point that the format does not
    hold (0.3) is the nearest value it holds, as a rounded fill gives."""
    arr = np.full(1000, np.nan, dtype)
    with pytest.warns(UserWarning, match="more than 2 std") if abs(mean) > 1 else nullcontext():
        h.trunc_normal_(arr, mean, 0.0, -1.0, 1.0, seed=0)
    assert (arr == dtype(expected)).all()
    point = h.uniform_(np.full(1000, np.nan, dtype), expected, expected, seed=0)
    assert (point == dtype(expected)).all()
