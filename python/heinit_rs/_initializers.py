"""The initializers: torch-style in-place functions and Keras/JAX-style new-array functions,
all filled by the Rust core from one counter-based stream (docs/stream-spec.md).

Every call checks all of its arguments, then makes exactly one draw from its seed, then fills.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Hashable, Sequence
from types import EllipsisType
from typing import SupportsIndex, TypeVar

import numpy as np
import numpy.typing as npt

from heinit_rs._cache import remembered
from heinit_rs._checks import (
    FloatArray,
    as_real,
    check_array,
    check_choice,
    check_dtype,
    check_real,
    is_bfloat16,
)
from heinit_rs._distributions import (
    Arguments,
    Distribution,
    Normal,
    TruncNormal,
    Uniform,
    check_fits,
)
from heinit_rs._fans import AxisSpec, check_shape, fans_of_checked_shape
from heinit_rs._gains import Activation, calculate_gain
from heinit_rs._index import Block, array_block, block_of
from heinit_rs._presets import PRESETS, document
from heinit_rs._random import StreamSource, check_seed, resolve_seed

# A heinit_rs.Generator, or a framework's generator wrapped as a StreamSource.
Seed = int | StreamSource | None
Nonlinearity = str | Activation
# What NumPy's basic indexing takes (ints, step-1 slices, one Ellipsis), as index= accepts it.
_IndexEntry = SupportsIndex | slice | EllipsisType
Index = _IndexEntry | tuple[_IndexEntry, ...] | None
_Array = TypeVar("_Array", bound=FloatArray)

#: std of a standard normal truncated to (-2, 2); Keras and JAX divide by it.
TRUNCATED_NORMAL_STD = 0.87962566103423978
_ZERO_ELEMENT_WARNING = "Initializing zero-element tensors is a no-op"
_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "untruncated_normal", "uniform")


# ---------------------------------------------------------------------------------------------
# The draw and the fill


def _check_seed(seed: Seed) -> None:
    if seed is not None and not isinstance(seed, StreamSource):
        check_seed(seed)


def _draw_and_fill(arr: _Array, block: Block, distribution: Distribution | None,
                   seed: Seed) -> _Array:
    """Make the call's one draw from `seed` and fill `arr` (the block `block` of its global
    array) from `distribution`; None fills nothing. A fill the core refuses gives the
    generator's draw back, so a rejected call consumes none."""
    key, stream, generator = resolve_seed(seed)
    if distribution is None:
        return arr
    native = arr if arr.dtype.isnative else np.empty(arr.shape, arr.dtype.newbyteorder("="))
    target = np.expand_dims(native, block.squeezed) if block.squeezed else native
    if block.is_whole:
        _fill(distribution, target, key, stream, generator)
    else:
        _fill(distribution, target, key, stream, generator, block.global_shape, block.offset)
    if native is not arr:
        arr[...] = native
    return arr


def _fill(distribution: Distribution, target: np.ndarray, key: int, stream: int,
          generator: StreamSource | None, global_shape: tuple[int, ...] | None = None,
          offset: tuple[int, ...] | None = None) -> None:
    """The core's fill; if it refuses, `generator` gets its draw back. 16-bit formats go to
    the core as their uint16 bits, named by `bits16`."""
    bits16 = None
    if target.dtype.itemsize == 2:
        bits16 = "bfloat16" if is_bfloat16(target.dtype) else "float16"
        target = target.view(np.uint16)
    try:
        distribution.fill(target, key, stream, global_shape, offset, bits16)
    except Exception:
        if generator is not None:
            generator._give_back(stream)
        raise


def _fill_in_place(arr: _Array, block: Block, distribution: Distribution | None, seed: Seed,
                   because: Arguments) -> _Array:
    """Check the seed and that the values fit arr's dtype, then draw and fill. A zero-element
    array is left as it is (with torch's warning) but still draws, so generators stay in step
    across shards of different sizes."""
    _check_seed(seed)
    if arr.size == 0:
        warnings.warn(_ZERO_ELEMENT_WARNING, stacklevel=3)
        distribution = None
    elif distribution is not None:
        check_fits(distribution, arr.dtype, because)
    return _draw_and_fill(arr, block, distribution, seed)


DistributionOf = Callable[[tuple[int, ...]], Distribution]

# What a whole new array's arguments come to: (dtype, distribution), remembered per (the
# initializer's own arguments, shape, dtype). Working it out was a third of the Python time of
# kaiming_normal((64, 64)), and a model asks for the same few shapes again and again.
_NEW_ARRAY_PLANS: dict[Hashable, tuple[np.dtype, Distribution]] = {}


def _new_array_plan(global_shape: tuple[int, ...], dtype: npt.DTypeLike,
                    distribution_of: DistributionOf,
                    because: Arguments) -> tuple[np.dtype, Distribution]:
    resolved, distribution = check_dtype(dtype), distribution_of(global_shape)
    check_fits(distribution, resolved, because)
    return resolved, distribution


def _new_array(shape: object, dtype: npt.DTypeLike, index: Index, seed: Seed,
               distribution_of: DistributionOf, arguments: tuple[object, ...] | None,
               because: Arguments, empty: Callable[..., FloatArray] = np.empty) -> FloatArray:
    """A new array of `shape` (or its block `index`) filled from `distribution_of(shape)`.
    `arguments`: everything else `distribution_of` depends on, with the types that equality
    would blur (0 == 0.0 == False), under which the plan is remembered; None: never remembered."""
    global_shape = check_shape(shape)
    block = block_of(global_shape, index)
    resolved, distribution = remembered(
        _NEW_ARRAY_PLANS, (arguments, global_shape, dtype, type(dtype)), arguments is not None,
        _new_array_plan, global_shape, dtype, distribution_of, because)
    if index is None and resolved.isnative:  # the common case, without the block bookkeeping
        key, stream, generator = resolve_seed(seed)  # which checks seed
        out = empty(global_shape, resolved)
        _fill(distribution, out, key, stream, generator)
        return out
    _check_seed(seed)
    return _draw_and_fill(empty(block.result_shape, resolved), block, distribution, seed)


def check_new_array(new_array: Callable[..., FloatArray], shape: tuple[int, ...]) -> None:
    """Make every check of ``new_array(index=..., seed=...)`` (a new-array initializer with
    its other arguments bound) without drawing or filling anything: an empty block of it under
    seed 0 (for a 0-D shape, its one element). The framework adapters call this before they
    draw, trace or build a graph."""
    new_array(index=np.s_[0:0] if shape else None, seed=0)


# ---------------------------------------------------------------------------------------------
# Parameters


def _kaiming_std(shape: tuple[int, ...], a: float, mode: str, nonlinearity: Nonlinearity,
                 layout: str) -> float:
    """gain / sqrt(fan), remembered for named nonlinearities (working it out was most of a small
    call's Python time)."""
    arguments = _kaiming_arguments(a, mode, nonlinearity, layout)
    return remembered(_KAIMING_STDS, (shape, arguments), arguments is not None,
                      _compute_kaiming_std, shape, a, mode, nonlinearity, layout)


def _kaiming_arguments(a: float, mode: str, nonlinearity: Nonlinearity,
                       layout: str) -> tuple[object, ...] | None:
    """What a Kaiming std depends on besides the shape, as a key: with type(a), because
    1 == 1.0 == True, which the gain treats differently. None for a callable nonlinearity, which
    may answer differently next time, so it is asked again."""
    if type(nonlinearity) is not str:
        return None
    return (a, type(a), mode, nonlinearity, layout)


_KAIMING_STDS: dict[Hashable, float] = {}


def _kaiming_because(nonlinearity: Nonlinearity, a: float) -> Arguments:
    return (("nonlinearity", nonlinearity), ("a", a))


def _compute_kaiming_std(shape: tuple[int, ...], a: float, mode: str,
                         nonlinearity: Nonlinearity, layout: str) -> float:
    if (isinstance(a, numbers.Real) and not isinstance(a, (bool, np.bool_))
            and not math.isfinite(a)):
        raise ValueError(f"a must be finite, got {a}")
    mode = mode.lower() if isinstance(mode, str) else mode
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = fans_of_checked_shape(shape, layout)
    fan = fan_in if mode == "fan_in" else fan_out
    gain = calculate_gain(nonlinearity, a)
    if fan == 0:
        raise ValueError(f"{mode} of shape {shape} is 0; the std gain / sqrt(fan) is undefined")
    return gain / math.sqrt(fan)


def _xavier_std(shape: tuple[int, ...], gain: float, layout: str) -> float:
    gain = check_real("gain", gain, minimum=0.0)
    fan_in, fan_out = fans_of_checked_shape(shape, layout)
    if fan_in + fan_out == 0:
        raise ValueError(f"fan_in + fan_out of shape {shape} is 0; the Xavier std is undefined")
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def _kaiming_distribution(uniform: bool, shape: tuple[int, ...], a: float, mode: str,
                          nonlinearity: Nonlinearity, layout: str) -> Distribution:
    std = _kaiming_std(shape, a, mode, nonlinearity, layout)
    return Uniform(-math.sqrt(3.0) * std, math.sqrt(3.0) * std) if uniform else Normal(0.0, std)


def _xavier_distribution(uniform: bool, shape: tuple[int, ...], gain: float,
                         layout: str) -> Distribution:
    std = _xavier_std(shape, gain, layout)
    return Uniform(-math.sqrt(3.0) * std, math.sqrt(3.0) * std) if uniform else Normal(0.0, std)


def torch_distribution(initializer: str, shape: tuple[int, ...],
                       arguments: tuple[object, ...]) -> tuple[Distribution, Arguments]:
    """The distribution torch.nn.init's `initializer` with its positional `arguments` draws
    for a weight of `shape` (torch's layout), and the arguments it is because of."""
    if initializer in ("kaiming_normal_", "kaiming_uniform_"):
        slope, mode, nonlinearity = arguments
        return (_kaiming_distribution(initializer == "kaiming_uniform_", shape,
                                      slope, mode, nonlinearity, "torch"),  # type: ignore[arg-type]
                _kaiming_because(nonlinearity, slope))  # type: ignore[arg-type]
    if initializer in ("xavier_normal_", "xavier_uniform_"):
        (gain,) = arguments
        return (_xavier_distribution(initializer == "xavier_uniform_", shape,
                                     gain, "torch"),  # type: ignore[arg-type]
                (("gain", gain),))
    if initializer == "uniform_":
        a, b = arguments
        return Uniform(as_real("a", a), as_real("b", b)), (("a", a), ("b", b))
    if initializer == "normal_":
        mean, std = arguments
        return Normal(as_real("mean", mean), as_real("std", std)), (("mean", mean), ("std", std))
    mean, std, a, b = arguments
    return (TruncNormal(as_real("mean", mean), as_real("std", std), as_real("a", a),
                        as_real("b", b)),
            (("mean", mean), ("std", std), ("a", a), ("b", b)))


# ---------------------------------------------------------------------------------------------
# torch.nn.init, in place

_SHARD_PARAMETERS = """\
    seed : int, Generator or None, optional
        An int in [0, 2**64) (stream 0 of that key), a `heinit_rs.Generator` (its next draw),
        or None for the process-wide default generator (see `manual_seed`).
    global_shape : sequence of int, optional
        The shape of the whole logical array of which `arr` is the block `index`; fans come
        from it. By default `arr` is the whole array.
    index : int, slice, tuple or Ellipsis, optional
        Which block of `global_shape` `arr` is, by NumPy's basic indexing (step-1 slices): arr
        then holds exactly ``whole[index]`` for the same seed. Needs `global_shape`."""

_KAIMING_PARAMETERS = """\
    a : float, default 0
        The negative slope of a leaky_relu, passed to `calculate_gain` as its `param`.
    mode : {"fan_in", "fan_out"}, default "fan_in"
        "fan_in" keeps the variance of the forward pass, "fan_out" that of the backward pass.
    nonlinearity : str or callable, default "leaky_relu"
        A name `calculate_gain` knows, or an elementwise function (gain by He et al.'s rule).
    layout : {"torch", "keras", "jax"}, default "torch"
        Which axes are in and out: torch (out, in, *kernel); keras and jax (*kernel, in, out)."""


def kaiming_normal_(arr: _Array, a: float = 0, mode: str = "fan_in",
                    nonlinearity: Nonlinearity = "leaky_relu", *, layout: str = "torch",
                    seed: Seed = None, global_shape: Sequence[int] | None = None,
                    index: Index = None) -> _Array:
    """Fill `arr` in place with He (Kaiming) normal values, as torch.nn.init.kaiming_normal_.

    Values are N(0, std^2) with std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)
    and fan = fan_in or fan_out of the (global) shape.

    Parameters
    ----------
    arr : numpy.ndarray
        A writeable float32, float64, float16 or bfloat16 array, of any memory layout.
{kaiming}
{shard}

    Returns
    -------
    numpy.ndarray
        `arr`, filled.

    Examples
    --------
    >>> import numpy as np, heinit_rs
    >>> w = heinit_rs.kaiming_normal_(np.empty((256, 128), np.float32), nonlinearity="relu",
    ...                               seed=0)
    >>> round(float(w.std()) * 128 ** 0.5 / 2 ** 0.5, 1)  # std = sqrt(2) / sqrt(fan_in)
    1.0
    """
    check_array(arr)
    block = array_block(arr, global_shape, index)
    distribution = None if arr.size == 0 else _kaiming_distribution(
        False, block.global_shape, a, mode, nonlinearity, layout)
    return _fill_in_place(arr, block, distribution, seed, _kaiming_because(nonlinearity, a))


def kaiming_uniform_(arr: _Array, a: float = 0, mode: str = "fan_in",
                     nonlinearity: Nonlinearity = "leaky_relu", *, layout: str = "torch",
                     seed: Seed = None, global_shape: Sequence[int] | None = None,
                     index: Index = None) -> _Array:
    """Fill `arr` in place with He (Kaiming) uniform values, as torch.nn.init.kaiming_uniform_.

    Values are U(-bound, bound) with bound = sqrt(3) * gain / sqrt(fan).

    Parameters
    ----------
    arr : numpy.ndarray
        A writeable float32, float64, float16 or bfloat16 array, of any memory layout.
{kaiming}
{shard}

    Returns
    -------
    numpy.ndarray
        `arr`, filled.

    Examples
    --------
    >>> import numpy as np, heinit_rs
    >>> w = heinit_rs.kaiming_uniform_(np.empty((64, 27)), a=5 ** 0.5, seed=1)  # nn.Linear's
    >>> bool(abs(w).max() <= 1 / 27 ** 0.5)
    True
    """
    check_array(arr)
    block = array_block(arr, global_shape, index)
    distribution = None if arr.size == 0 else _kaiming_distribution(
        True, block.global_shape, a, mode, nonlinearity, layout)
    return _fill_in_place(arr, block, distribution, seed, _kaiming_because(nonlinearity, a))


def xavier_normal_(arr: _Array, gain: float = 1.0, *, layout: str = "torch", seed: Seed = None,
                   global_shape: Sequence[int] | None = None, index: Index = None) -> _Array:
    """Fill `arr` in place with Xavier (Glorot) normal values, as torch.nn.init.xavier_normal_.

    Values are N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    Parameters
    ----------
    arr : numpy.ndarray
        A writeable float32, float64, float16 or bfloat16 array, of any memory layout.
    gain : float, default 1.0
        A scale factor >= 0, e.g. ``calculate_gain("tanh")``.
    layout : {{"torch", "keras", "jax"}}, default "torch"
        Which axes are in and out (see `calculate_fan_in_and_fan_out`).
{shard}

    Returns
    -------
    numpy.ndarray
        `arr`, filled.

    Examples
    --------
    >>> import numpy as np, heinit_rs
    >>> w = heinit_rs.xavier_normal_(np.empty((300, 100)), seed=2)
    >>> round(float(w.std()) / (2 / 400) ** 0.5, 1)
    1.0
    """
    check_array(arr)
    block = array_block(arr, global_shape, index)
    distribution = None if arr.size == 0 else _xavier_distribution(
        False, block.global_shape, gain, layout)
    return _fill_in_place(arr, block, distribution, seed, (("gain", gain),))


def xavier_uniform_(arr: _Array, gain: float = 1.0, *, layout: str = "torch", seed: Seed = None,
                    global_shape: Sequence[int] | None = None, index: Index = None) -> _Array:
    """Fill `arr` in place with Xavier (Glorot) uniform values, as torch.nn.init.xavier_uniform_.

    Values are U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out)).

    Parameters
    ----------
    arr : numpy.ndarray
        A writeable float32, float64, float16 or bfloat16 array, of any memory layout.
    gain : float, default 1.0
        A scale factor >= 0.
    layout : {{"torch", "keras", "jax"}}, default "torch"
        Which axes are in and out (see `calculate_fan_in_and_fan_out`).
{shard}

    Returns
    -------
    numpy.ndarray
        `arr`, filled.

    Examples
    --------
    >>> import numpy as np, heinit_rs
    >>> w = heinit_rs.xavier_uniform_(np.empty((30, 20), np.float32), seed=3)
    >>> bool(abs(w).max() <= (6 / 50) ** 0.5)
    True
    """
    check_array(arr)
    block = array_block(arr, global_shape, index)
    distribution = None if arr.size == 0 else _xavier_distribution(
        True, block.global_shape, gain, layout)
    return _fill_in_place(arr, block, distribution, seed, (("gain", gain),))


def trunc_normal_(arr: _Array, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, *, seed: Seed = None, global_shape: Sequence[int] | None = None,
                  index: Index = None) -> _Array:
    """Fill `arr` in place with N(mean, std^2) truncated to [a, b], as torch.nn.init.trunc_normal_.

    The bounds are absolute, as torch's. Values come from the exact inverse CDF,
    x = mean + std * Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha))), alpha = (a - mean) / std,
    beta = (b - mean) / std, with one draw each: nothing piles up at the bounds, and intervals
    far in a tail or far narrower than std are exact too (docs/stream-spec.md). Like torch,
    it warns when mean is more than 2 std outside [a, b].

    Parameters
    ----------
    arr : numpy.ndarray
        A writeable float32, float64, float16 or bfloat16 array, of any memory layout.
    mean, std : float
        The untruncated normal's mean and standard deviation (std >= 0; 0 gives mean clipped
        to [a, b]).
    a, b : float
        The bounds, a < b; either may be infinite.
{shard}

    Returns
    -------
    numpy.ndarray
        `arr`, filled.

    Examples
    --------
    >>> import numpy as np, heinit_rs
    >>> w = heinit_rs.trunc_normal_(np.empty(1000), std=0.02, a=-0.04, b=0.04, seed=0)
    >>> bool(w.min() >= -0.04 and w.max() <= 0.04)
    True
    """
    check_array(arr)
    distribution = TruncNormal(as_real("mean", mean), as_real("std", std), as_real("a", a),
                               as_real("b", b))
    block = array_block(arr, global_shape, index)
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in trunc_normal_: the values are exact, but "
            "they lie close to the nearer bound", stacklevel=2)
    return _fill_in_place(arr, block, distribution, seed,
                          (("mean", mean), ("std", std), ("a", a), ("b", b)))


def normal_(arr: _Array, mean: float = 0.0, std: float = 1.0, *, seed: Seed = None,
            global_shape: Sequence[int] | None = None, index: Index = None) -> _Array:
    """Fill `arr` in place with N(mean, std^2), as torch.nn.init.normal_.

    Parameters
    ----------
    arr : numpy.ndarray
        A writeable float32, float64, float16 or bfloat16 array, of any memory layout.
    mean, std : float
        The mean and the standard deviation (std >= 0).
{shard}

    Returns
    -------
    numpy.ndarray
        `arr`, filled.

    Examples
    --------
    >>> import numpy as np, heinit_rs
    >>> w = heinit_rs.normal_(np.empty(3), seed=0)
    >>> bool(np.array_equal(w, heinit_rs.normal_(np.empty(3), seed=0)))  # same seed, same bits
    True
    """
    check_array(arr)
    distribution = Normal(as_real("mean", mean), as_real("std", std))
    return _fill_in_place(arr, array_block(arr, global_shape, index), distribution, seed,
                          (("mean", mean), ("std", std)))


def uniform_(arr: _Array, a: float = 0.0, b: float = 1.0, *, seed: Seed = None,
             global_shape: Sequence[int] | None = None, index: Index = None) -> _Array:
    """Fill `arr` in place with U(a, b), as torch.nn.init.uniform_; values lie in [a, b].

    A value is c + h * s with c = (a + b) / 2, h = (b - a) / 2 and s uniform in (-1, 1), so a
    symmetric range gives an exactly symmetric distribution.

    Parameters
    ----------
    arr : numpy.ndarray
        A writeable float32, float64, float16 or bfloat16 array, of any memory layout.
    a, b : float
        The bounds, a <= b, with b - a finite.
{shard}

    Returns
    -------
    numpy.ndarray
        `arr`, filled.

    Examples
    --------
    >>> import numpy as np, heinit_rs
    >>> w = heinit_rs.uniform_(np.empty(1000, np.float32), -0.1, 0.1, seed=4)
    >>> bool(w.min() >= -0.1 and w.max() <= 0.1)
    True
    """
    check_array(arr)
    distribution = Uniform(as_real("a", a), as_real("b", b))
    return _fill_in_place(arr, array_block(arr, global_shape, index), distribution, seed,
                          (("a", a), ("b", b)))


# ---------------------------------------------------------------------------------------------
# Keras / JAX variance scaling, new arrays

_NEW_ARRAY_PARAMETERS = """\
    dtype : float32, float64, float16 or bfloat16, default float32
        The new array's dtype (either byte order; "bfloat16" needs ml_dtypes). 16-bit values
        are the float32 values rounded to nearest even.
    seed : int, Generator or None, optional
        An int in [0, 2**64) (stream 0 of that key), a `heinit_rs.Generator` (its next draw),
        or None for the process-wide default generator (see `manual_seed`).
    index : int, slice, tuple or Ellipsis, optional
        Return only ``result[index]`` (NumPy's basic indexing, step-1 slices), generated alone
        and equal bit for bit to that block of the whole array; fans come from `shape`."""

_AXES_PARAMETERS = """\
    layout : {"keras", "jax", "torch"}, default "keras"
        Which axes are in and out: keras and jax (*kernel, in, out); torch (out, in, *kernel).
    in_axis, out_axis, batch_axis : int or sequence of int, optional
        JAX's axes, overriding the layout's: fans multiply every axis that is neither in, out
        nor batch into both (see `calculate_fan_in_and_fan_out`)."""

_SECTIONS = {"kaiming": _KAIMING_PARAMETERS, "shard": _SHARD_PARAMETERS,
             "new_array": _NEW_ARRAY_PARAMETERS, "axes": _AXES_PARAMETERS}


def _check_variance_scaling(scale: float, mode: str, distribution: str) -> float:
    """Check variance scaling's own arguments; scale as a float."""
    scale = check_real("scale", scale, positive=True)
    check_choice("mode", mode, _MODES)
    check_choice("distribution", distribution, _DISTRIBUTIONS)
    return scale


def variance_scaling(shape: Sequence[int], scale: float = 1.0, mode: str = "fan_in",
                     distribution: str = "truncated_normal", *, layout: str = "keras",
                     in_axis: AxisSpec | None = None, out_axis: AxisSpec | None = None,
                     batch_axis: AxisSpec = (), dtype: npt.DTypeLike = np.float32,
                     seed: Seed = None, index: Index = None) -> FloatArray:
    """A new array from Keras' VarianceScaling / jax.nn.initializers.variance_scaling.

    With n = fan_in, fan_out, (fan_in + fan_out) / 2 or sqrt(fan_in * fan_out) by `mode`, at
    least 1:

    - "truncated_normal": std = sqrt(scale / n) / 0.87962566103423978, truncated at +-2 std;
    - "normal" or "untruncated_normal": std = sqrt(scale / n), untruncated, as JAX ("normal"
      means truncated in Keras 2; pass "truncated_normal" for that);
    - "uniform": U(-limit, limit), limit = sqrt(3 scale / n).

    Parameters
    ----------
    shape : sequence of int
        The weight's shape.
    scale : float, default 1.0
        The variance scale, > 0 (2.0 for He, 1.0 for Glorot and LeCun).
    mode : {{"fan_in", "fan_out", "fan_avg", "fan_geo_avg"}}, default "fan_in"
    distribution : {{"truncated_normal", "normal", "untruncated_normal", "uniform"}}
{axes}
{new_array}

    Returns
    -------
    numpy.ndarray
        A new array of `shape` (or of ``shape[index]``'s shape).

    Examples
    --------
    >>> import heinit_rs
    >>> w = heinit_rs.variance_scaling((3, 3, 64, 128), 2.0, "fan_in", "uniform", seed=0)
    >>> bool(abs(w).max() <= (3 * 2.0 / (3 * 3 * 64)) ** 0.5)
    True
    """
    scale = _check_variance_scaling(scale, mode, distribution)

    def distribution_of(global_shape: tuple[int, ...]) -> Distribution:
        fans = fans_of_checked_shape(global_shape, layout, in_axis, out_axis, batch_axis)
        return variance_scaling_distribution(fans, scale, mode, distribution)

    # Explicit axes are not remembered: True == 1 would let a cached plan skip their checks.
    default_axes = in_axis is None and out_axis is None and type(batch_axis) is tuple and not batch_axis
    arguments = (variance_scaling, scale, mode, distribution, layout) if default_axes else None
    return _new_array(shape, dtype, index, seed, distribution_of, arguments, (("scale", scale),))


def variance_scaling_distribution(fans: tuple[float, float], scale: float, mode: str,
                                  distribution: str, *, at_least_one: bool = True) -> Distribution:
    """The distribution of `variance_scaling` for (fan_in, fan_out) = fans: variance
    scale / n, n by `mode`, floored at 1 as Keras floors it (`at_least_one`), or, as JAX,
    not floored, and a zero n raising ZeroDivisionError as it does in JAX."""
    fan_in, fan_out = fans
    denominator = {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2.0,
        "fan_geo_avg": math.sqrt(fan_in * fan_out),
    }[mode]
    if at_least_one:
        denominator = max(1.0, denominator)
    elif denominator == 0:
        raise ZeroDivisionError(f"{mode} is 0 for fans (fan_in, fan_out) = {fans}; the "
                                f"variance scale / {mode} is undefined (JAX raises too)")
    variance = scale / denominator
    if distribution == "truncated_normal":
        std = math.sqrt(variance) / TRUNCATED_NORMAL_STD
        return TruncNormal(0.0, std, -2.0 * std, 2.0 * std)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return Uniform(-limit, limit)
    return Normal(0.0, math.sqrt(variance))


def variance_scaling_of_fans(shape: tuple[int, ...], fans: tuple[float, float], scale: float,
                             mode: str, distribution: str, *, at_least_one: bool = True,
                             dtype: npt.DTypeLike = np.float32, seed: Seed = None,
                             index: Index = None,
                             empty: Callable[..., FloatArray] = np.empty) -> FloatArray:
    """`variance_scaling` with fans a framework adapter computed by its framework's own rule
    (Keras' axis lists, JAX's fractional receptive field), which the layouts cannot express.
    `empty(shape, dtype)` allocates the result (the JAX adapter's is aligned for zero-copy)."""
    scale = _check_variance_scaling(scale, mode, distribution)
    return _new_array(shape, dtype, index, seed,
                      lambda _: variance_scaling_distribution(fans, scale, mode, distribution,
                                                              at_least_one=at_least_one),
                      (variance_scaling_of_fans, fans, scale, mode, distribution, at_least_one),
                      (("scale", scale),), empty)


NewArray = Callable[..., FloatArray]

_PRESET_DOC = """{preset.summary} ({preset.origin}).

    ``variance_scaling(shape, {preset.call})``.

    Parameters
    ----------
    shape : sequence of int
        The weight's shape.
{axes}
{new_array}

    Returns
    -------
    numpy.ndarray
        A new array of `shape` (or of ``shape[index]``'s shape).

    Examples
    --------
    >>> import heinit_rs
    >>> heinit_rs.{preset.name}((3, 3, 64, 128), seed=0).shape
    (3, 3, 64, 128)
    """


def _preset(name: str) -> NewArray:
    preset = PRESETS[name]

    def initializer(shape: Sequence[int], *, layout: str = "keras",
                    in_axis: AxisSpec | None = None, out_axis: AxisSpec | None = None,
                    batch_axis: AxisSpec = (), dtype: npt.DTypeLike = np.float32,
                    seed: Seed = None, index: Index = None) -> FloatArray:
        return variance_scaling(shape, preset.scale, preset.mode, preset.distribution,
                                layout=layout, in_axis=in_axis, out_axis=out_axis,
                                batch_axis=batch_axis, dtype=dtype, seed=seed, index=index)

    return document(initializer, _PRESET_DOC, name=name, preset=preset, **_SECTIONS)


he_normal = _preset("he_normal")
he_uniform = _preset("he_uniform")
glorot_normal = _preset("glorot_normal")
glorot_uniform = _preset("glorot_uniform")
lecun_normal = _preset("lecun_normal")
lecun_uniform = _preset("lecun_uniform")


def kaiming_normal(shape: Sequence[int], a: float = 0, mode: str = "fan_in",
                   nonlinearity: Nonlinearity = "leaky_relu", *, layout: str = "torch",
                   dtype: npt.DTypeLike = np.float32, seed: Seed = None,
                   index: Index = None) -> FloatArray:
    """A new array filled as `kaiming_normal_` would fill it: N(0, (gain / sqrt(fan))^2).

    Parameters
    ----------
    shape : sequence of int
        The weight's shape (torch's layout by default).
{kaiming}
{new_array}

    Returns
    -------
    numpy.ndarray
        A new array of `shape` (or of ``shape[index]``'s shape).

    Examples
    --------
    >>> import numpy as np, heinit_rs
    >>> whole = heinit_rs.kaiming_normal((4096, 1024), nonlinearity="relu", seed=7)
    >>> rows = heinit_rs.kaiming_normal((4096, 1024), nonlinearity="relu", seed=7,
    ...                                 index=np.s_[1024:2048])
    >>> bool(np.array_equal(rows, whole[1024:2048]))
    True
    """
    return _new_array(shape, dtype, index, seed,
                      lambda g: _kaiming_distribution(False, g, a, mode, nonlinearity, layout),
                      _kaiming_plan_key(kaiming_normal, a, mode, nonlinearity, layout),
                      _kaiming_because(nonlinearity, a))


def kaiming_uniform(shape: Sequence[int], a: float = 0, mode: str = "fan_in",
                    nonlinearity: Nonlinearity = "leaky_relu", *, layout: str = "torch",
                    dtype: npt.DTypeLike = np.float32, seed: Seed = None,
                    index: Index = None) -> FloatArray:
    """A new array filled as `kaiming_uniform_` would fill it: U(-bound, bound),
    bound = sqrt(3) * gain / sqrt(fan).

    Parameters
    ----------
    shape : sequence of int
        The weight's shape (torch's layout by default).
{kaiming}
{new_array}

    Returns
    -------
    numpy.ndarray
        A new array of `shape` (or of ``shape[index]``'s shape).

    Examples
    --------
    >>> import heinit_rs
    >>> w = heinit_rs.kaiming_uniform((128, 64), nonlinearity="relu", seed=0)
    >>> bool(abs(w).max() <= (6 / 64) ** 0.5)
    True
    """
    return _new_array(shape, dtype, index, seed,
                      lambda g: _kaiming_distribution(True, g, a, mode, nonlinearity, layout),
                      _kaiming_plan_key(kaiming_uniform, a, mode, nonlinearity, layout),
                      _kaiming_because(nonlinearity, a))


def _kaiming_plan_key(initializer: Callable[..., FloatArray], a: float, mode: str,
                      nonlinearity: Nonlinearity, layout: str) -> tuple[object, ...] | None:
    """The arguments a Kaiming new array's plan is remembered under (see _kaiming_arguments)."""
    arguments = _kaiming_arguments(a, mode, nonlinearity, layout)
    return None if arguments is None else (initializer, arguments)


for _fn in (kaiming_normal_, kaiming_uniform_, xavier_normal_, xavier_uniform_, trunc_normal_,
            normal_, uniform_, variance_scaling, kaiming_normal, kaiming_uniform):
    document(_fn, **_SECTIONS)
del _fn
