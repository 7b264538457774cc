"""Bad input raises a clear exception naming the argument, and leaves the array untouched."""

import numpy as np
import pytest

import heinit_rs as h
from heinit_rs import _core

SENTINEL = 3.25


def fresh(shape=(8, 6), dtype=np.float32):
    return np.full(shape, SENTINEL, dtype)


IN_PLACE = [h.kaiming_normal_, h.kaiming_uniform_, h.xavier_normal_, h.xavier_uniform_,
            h.trunc_normal_, h.normal_, h.uniform_]


@pytest.mark.parametrize("fn", IN_PLACE)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex64, object, np.uint16])
def test_non_float_arrays_are_type_errors(fn, dtype):
    arr = np.zeros((4, 4), dtype)
    before = arr.copy()
    with pytest.raises(TypeError, match="arr must have dtype float32, float64, float16 or bfloat16"):
        fn(arr, seed=0)
    assert np.array_equal(arr, before)


@pytest.mark.parametrize("fn", IN_PLACE)
def test_not_an_array(fn):
    with pytest.raises(TypeError, match="arr must be a numpy.ndarray, got list"):
        fn([[1.0, 2.0]], seed=0)


@pytest.mark.parametrize("fn", IN_PLACE)
def test_read_only_arrays(fn):
    arr = fresh()
    arr.flags.writeable = False
    with pytest.raises(ValueError, match="arr is read-only"):
        fn(arr, seed=0)
    assert (arr == SENTINEL).all()


def check_untouched(call, exc, match, arr=None):
    arr = fresh() if arr is None else arr
    before = arr.copy()
    with pytest.raises(exc, match=match):
        call(arr)
    np.testing.assert_array_equal(arr, before)


@pytest.mark.parametrize("call, exc, match", [
    (lambda a: h.kaiming_normal_(a, mode="fan_avg"), ValueError, "Mode fan_avg not supported"),
    (lambda a: h.kaiming_normal_(a, nonlinearity="softmax"), ValueError, "Unsupported nonlinearity"),
    (lambda a: h.kaiming_normal_(a, layout="caffe"), ValueError, "layout must be one of"),
    (lambda a: h.kaiming_uniform_(a, a=True), ValueError, "negative_slope True not a valid number"),
    (lambda a: h.xavier_normal_(a, gain=float("nan")), ValueError, "gain must be finite"),
    (lambda a: h.xavier_uniform_(a, gain=float("inf")), ValueError, "gain must be finite"),
    (lambda a: h.xavier_uniform_(a, gain=-1.0), ValueError, "gain must be >= 0"),
    (lambda a: h.normal_(a, std=-1.0), ValueError, "std must be >= 0"),
    (lambda a: h.normal_(a, std=float("nan")), ValueError, "std must be finite"),
    (lambda a: h.normal_(a, mean=float("inf")), ValueError, "mean must be finite"),
    (lambda a: h.normal_(a, std="1"), TypeError, "std must be a real number"),
    (lambda a: h.trunc_normal_(a, a=2.0, b=2.0), ValueError, "trunc_normal needs bounds a < b"),
    (lambda a: h.trunc_normal_(a, a=3.0, b=-3.0), ValueError, "trunc_normal needs bounds a < b"),
    (lambda a: h.trunc_normal_(a, std=-0.1), ValueError, "std must be >= 0"),
    (lambda a: h.trunc_normal_(a, a=float("nan")), ValueError, "a must be finite"),
    (lambda a: h.uniform_(a, 1.0, 0.0), ValueError, "needs a <= b"),
    (lambda a: h.uniform_(a, -1e308, 1e308), ValueError, "finite b - a"),
    (lambda a: h.normal_(a, seed=-1), ValueError, r"seed must be in \[0, 2\*\*64 - 1\]"),
    (lambda a: h.normal_(a, seed=2**64), ValueError, r"seed must be in \[0, 2\*\*64 - 1\]"),
    (lambda a: h.normal_(a, seed=1.5), TypeError, "seed must be an int"),
    (lambda a: h.normal_(a, seed="0"), TypeError, "seed must be an int"),
    (lambda a: h.normal_(a, seed=True), TypeError, "seed must be an int"),
    (lambda a: h.normal_(a, seed=0, index=np.s_[0:8]), ValueError, "index needs global_shape"),
    (lambda a: h.normal_(a, seed=0, global_shape=(8, 7)), ValueError, "arr has shape"),
    (lambda a: h.normal_(a, seed=0, global_shape=(16, 6), index=np.s_[10:18]), ValueError,
     r"arr has shape \(8, 6\) but index selects a block of shape \(6, 6\)"),
    (lambda a: h.normal_(a, seed=0, global_shape=(16, 6), index=np.s_[16]), IndexError,
     "index 16 is out of bounds for axis 0 with size 16"),
    (lambda a: h.normal_(a, seed=0, global_shape=(16, 6), index=np.s_[0:16:2]), ValueError,
     "only step 1"),
    (lambda a: h.normal_(a, seed=0, global_shape=(16, -6)), ValueError, r"global_shape\[1\] must be >= 0"),
    (lambda a: h.normal_(a, seed=0, global_shape=(2**40, 2**40)), ValueError, "more than 2\\*\\*63 - 1"),
])
def test_bad_arguments_leave_the_array_untouched(call, exc, match):
    check_untouched(call, exc, match)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: h.variance_scaling((4, 4), scale=0.0), ValueError, "scale must be > 0"),
    (lambda: h.variance_scaling((4, 4), scale=-2.0), ValueError, "scale must be > 0"),
    (lambda: h.variance_scaling((4, 4), scale=float("nan")), ValueError, "scale must be finite"),
    (lambda: h.variance_scaling((4, 4), mode="fan_max"), ValueError, "mode must be one of"),
    (lambda: h.variance_scaling((4, 4), distribution="cauchy"), ValueError,
     "distribution must be one of"),
    (lambda: h.he_normal((4, -4)), ValueError, r"shape\[1\] must be >= 0"),
    (lambda: h.he_normal((4, 4.0)), TypeError, r"shape\[1\] must be an int"),
    (lambda: h.he_normal((2**32, 2**32)), ValueError, "more than 2\\*\\*63 - 1"),
    (lambda: h.he_normal((4, 4), dtype=np.int32), TypeError,
     "dtype must be float32, float64, float16 or bfloat16, got int32"),
    (lambda: h.he_normal((4, 4), dtype="float128"), TypeError,
     "dtype must be float32, float64, float16 or bfloat16"),
    (lambda: h.he_normal((4, 4), index=np.s_[4]), IndexError, "out of bounds for axis 0"),
    (lambda: h.he_normal((4, 4), index=np.s_[1, -5]), IndexError, "out of bounds for axis 1"),
    (lambda: h.he_normal((4, 4), index=np.s_[::2]), ValueError, "only step 1"),
    (lambda: h.he_normal((4, 4), index=(0, 0, 0)), IndexError, "too many indices"),
    (lambda: h.he_normal((4, 4), index=[0, 1]), TypeError, "must be a slice with step 1"),
    (lambda: h.variance_scaling((3, 4, 5), layout="jax", in_axis=3), ValueError,
     "in_axis=3 is out of range"),
    (lambda: h.variance_scaling((3, 4, 5), layout="jax", in_axis=0, out_axis=-3), ValueError,
     "in_axis and out_axis overlap at axis 0"),
    (lambda: h.variance_scaling((3, 4, 5), layout="jax", batch_axis=[1, 1]), ValueError,
     "names an axis twice"),
    (lambda: h.calculate_fan_in_and_fan_out((3,), "torch"), ValueError, "fewer than 2 dimensions"),
    (lambda: h.kaiming_normal((4,)), ValueError, "fewer than 2 dimensions"),
    (lambda: h.set_num_threads(0), ValueError, "n must be a positive integer"),
    (lambda: h.Generator(-5), ValueError, "seed must be in"),
    (lambda: h.Generator(1).spawn(-1), ValueError, "n must be an int >= 0"),
])
def test_bad_arguments_to_new_array_functions(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_core_rejects_what_python_would_have(monkeypatch):
    """The distributions check their own parameters in Rust, and a direct fill with bad input
    raises instead of writing."""
    arr = fresh()
    with pytest.raises(ValueError, match=r"^std must be >= 0, got -1.0$"):
        _core.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match=r"^mean must be finite, got nan$"):
        _core.Normal(float("nan"), 1.0)
    with pytest.raises(ValueError, match=r"^uniform needs a <= b with a finite b - a, got a=1.0, b=0.0$"):
        _core.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match=r"^std must be >= 0, got -1e-300$"):
        _core.TruncNormal(0.0, -1e-300, -1.0, 1.0)
    with pytest.raises(ValueError, match=r"^trunc_normal needs bounds a < b, got a=1.0, b=1.0$"):
        _core.TruncNormal(0.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"^mean=0.0, std=1e\+38 gives float32 values in \[-6.33796e\+38, "
                                         r"6.33796e\+38\], beyond float32's largest finite value "
                                         r"3.4028235e\+38; use float64 or smaller parameters$"):
        _core.Normal(0.0, 1e38).fill(arr, 0, 0)
    with pytest.raises(ValueError, match=r"^gain=2.0 gives float16"):
        _core.Uniform(-7e4, 7e4).check_fits("float16", (("gain", 2.0),))
    unit = _core.Normal(0.0, 1.0)
    with pytest.raises(ValueError, match="lies outside global_shape"):
        unit.fill(arr, 0, 0, [8, 6], [1, 0])
    with pytest.raises(ValueError, match="dimensions"):
        unit.fill(arr, 0, 0, [8], [0])
    with pytest.raises(TypeError, match=r"arr must have dtype float32 or float64 \(or be uint16 "
                                        r"bits with bits16\), got int64"):
        unit.fill(np.zeros(4, np.int64), 0, 0)
    with pytest.raises(ValueError, match="bits16 must be 'float16' or 'bfloat16'"):
        unit.fill(np.zeros(4, np.uint16), 0, 0)
    with pytest.raises(ValueError, match='bits16="float16" is for uint16 arrays'):
        unit.fill(arr, 0, 0, bits16="float16")
    with pytest.raises(TypeError, match="arr must be a numpy.ndarray"):
        unit.fill([1.0], 0, 0)
    ro = fresh()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        unit.fill(ro, 0, 0)
    with pytest.raises(OverflowError):
        unit.fill(arr, -1, 0)
    with pytest.raises(TypeError):  # the typed boundary: parameters are named floats
        _core.Normal("0", 1.0)
    assert (arr == SENTINEL).all()


def test_distributions_are_values():
    """Equal parameters, equal distributions; they pickle (Dask ships them) and say what they are."""
    import pickle

    trunc = _core.TruncNormal(0.0, 0.5, -1.0, float("inf"))
    assert pickle.loads(pickle.dumps(trunc)) == trunc
    assert trunc != _core.TruncNormal(0.0, 0.5, -1.0, 2.0)
    assert repr(trunc) == "TruncNormal(mean=0.0, std=0.5, a=-1.0, b=inf)"
    assert (trunc.mean, trunc.std, trunc.a, trunc.b) == (0.0, 0.5, -1.0, float("inf"))


def test_overlapping_memory_is_rejected_or_serial():
    base = np.zeros(10, np.float32)
    broadcast = np.lib.stride_tricks.as_strided(base, shape=(4, 10), strides=(0, 4))
    with pytest.raises(ValueError, match="stride 0"):
        h.normal_(broadcast, seed=0)
    assert (base == 0).all()
    # Rows that overlap by half: filled in C order on one thread, so later rows win.
    big = np.zeros(15, np.float32)
    overlapping = np.lib.stride_tricks.as_strided(big, shape=(2, 10), strides=(20, 4))
    expected = h.normal_(np.empty((2, 10), np.float32), seed=0)
    h.normal_(overlapping, seed=0)
    np.testing.assert_array_equal(big[:5], expected[0, :5])
    np.testing.assert_array_equal(big[5:], expected[1])


def test_unaligned_arrays_are_rejected():
    raw = np.zeros(4 * 9 + 1, np.uint8)
    unaligned = raw[1:].view(np.float32)
    assert not unaligned.flags.aligned
    with pytest.raises(ValueError, match="not aligned"):
        h.normal_(unaligned, seed=0)
    assert (raw == 0).all()
