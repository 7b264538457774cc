"""The initializers: torch-style in-place functions and Keras/JAX-style new-array functions,
all filled by the Rust core from one counter-based stream (docs/stream-spec.md)."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from heinit_rs import _core
from heinit_rs._fans import (
    AxisSpec,
    calculate_gain,
    check_shape,
    fans_of_checked_shape,
    remembered,
)
from heinit_rs._random import Generator, check_seed, resolve_seed

Seed = int | Generator | None
DTypeLike = Any

# std of a standard normal truncated to (-2, 2); Keras and JAX divide by it.
TRUNCATED_NORMAL_STD = 0.87962566103423978
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_ZERO_ELEMENT_WARNING = "Initializing zero-element tensors is a no-op"
_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "untruncated_normal", "uniform")


# ---------------------------------------------------------------------------------------------
# Validation


def _unsupported_dtype(requirement: str, dtype: np.dtype) -> TypeError:
    message = f"{requirement} float32 or float64, got {dtype}"
    if dtype.name in ("float16", "bfloat16"):
        message += " (float16 and bfloat16 are not supported yet)"
    return TypeError(message)


def _is_float_dtype(dtype: np.dtype) -> bool:
    """float32 or float64 in either byte order (non-native ones are filled through a copy)."""
    return dtype.kind == "f" and dtype.itemsize in (4, 8) and dtype.newbyteorder("=") in _DTYPES


def _check_array(arr: object) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"arr must be a numpy.ndarray, got {type(arr).__name__}")
    if arr.dtype not in _DTYPES and not _is_float_dtype(arr.dtype):
        raise _unsupported_dtype("arr must have dtype", arr.dtype)
    if not arr.flags.writeable:
        raise ValueError("arr is read-only (arr.flags.writeable is False); pass a writeable array")
    if not arr.flags.aligned:
        raise ValueError(
            "arr is not aligned to its dtype; pass an aligned copy (numpy.ascontiguousarray)"
        )
    return arr


def _check_dtype(dtype: DTypeLike) -> np.dtype:
    if dtype is np.float32:
        return _DTYPES[0]
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if resolved not in _DTYPES and not _is_float_dtype(resolved):
        raise _unsupported_dtype("dtype must be", resolved)
    return resolved


def _real(name: str, value: object, *, minimum: float | None = None, positive: bool = False,
          allow_inf: bool = False) -> float:
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {v}")
    if positive and not v > 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {v}")
    return v


def _check_seed_arg(seed: Seed) -> None:
    if seed is not None and not isinstance(seed, Generator):
        check_seed(seed)


def _choice(name: str, value: object, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Blocks of a global array


@dataclass(frozen=True)
class _Block:
    """The block offset .. offset + shape of a C-order array of global_shape; `squeezed` are
    the axes an integer index removes from the result."""

    global_shape: tuple[int, ...]
    offset: tuple[int, ...]
    shape: tuple[int, ...]
    squeezed: tuple[int, ...]

    @property
    def result_shape(self) -> tuple[int, ...]:
        return tuple(n for axis, n in enumerate(self.shape) if axis not in self.squeezed)


def _block(global_shape: tuple[int, ...], index: object) -> _Block:
    """The block `index` selects, by NumPy's rules for basic indexing: slices are clipped to
    the axis (start > stop gives an empty axis), an int outside the axis is an IndexError, and
    one Ellipsis stands for the axes not named. Only step-1 slices select a block."""
    ndim = len(global_shape)
    if index is None:
        return _Block(global_shape, (0,) * ndim, global_shape, ())
    entries = index if isinstance(index, tuple) else (index,)
    ellipses = [k for k, entry in enumerate(entries) if entry is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    named = len(entries) - len(ellipses)
    if named > ndim:
        raise IndexError(
            f"too many indices: the shape has {ndim} dimensions but {named} were indexed"
        )
    if ellipses:
        k = ellipses[0]
        entries = entries[:k] + (slice(None),) * (ndim - named) + entries[k + 1:]
    entries = entries + (slice(None),) * (ndim - len(entries))
    offset, shape, squeezed = [], [], []
    for axis, (entry, n) in enumerate(zip(entries, global_shape)):
        if isinstance(entry, slice):
            try:
                start, stop, step = entry.indices(n)
            except TypeError:
                raise TypeError(f"index[{axis}] = {entry} must have int bounds") from None
            if step != 1:
                raise ValueError(f"index[{axis}] has step {entry.step}; only step 1 is supported")
            offset.append(start)
            shape.append(max(stop - start, 0))
        elif isinstance(entry, numbers.Integral) and not isinstance(entry, (bool, np.bool_)):
            if not -n <= entry < n:
                raise IndexError(
                    f"index {int(entry)} is out of bounds for axis {axis} with size {n}"
                )
            offset.append(int(entry) % n)
            shape.append(1)
            squeezed.append(axis)
        else:
            raise TypeError(
                f"index[{axis}] must be a slice with step 1, an int or '...', "
                f"got {type(entry).__name__}"
            )
    return _Block(global_shape, tuple(offset), tuple(shape), tuple(squeezed))


def _array_block(arr: np.ndarray, global_shape: object, index: object) -> _Block:
    if global_shape is None:
        if index is not None:
            raise ValueError("index needs global_shape: the shape of the whole logical array")
        return _block(arr.shape, None)
    block = _block(check_shape(global_shape, "global_shape"), index)
    if arr.shape != block.result_shape:
        raise ValueError(
            f"arr has shape {arr.shape} but index selects a block of shape {block.result_shape} "
            f"from global_shape {block.global_shape}"
        )
    return block


# ---------------------------------------------------------------------------------------------
# The fill


def _fill(arr: np.ndarray, block: _Block, distribution: str, params: tuple[float, ...],
          seed: Seed) -> np.ndarray:
    """Make the call's one draw from `seed` and fill `arr`; a fill that fails gives the
    generator's draw back, so a rejected call consumes none."""
    key, stream, generator = resolve_seed(seed)
    native = arr if arr.dtype.isnative else np.empty(arr.shape, arr.dtype.newbyteorder("="))
    target = np.expand_dims(native, block.squeezed) if block.squeezed else native
    try:
        if native.size:
            _core.fill_array(target, distribution, list(params), key, stream,
                             block.global_shape, block.offset)
    except Exception:
        if generator is not None:
            generator._give_back(stream)
        raise
    if native is not arr:
        arr[...] = native
    return arr


def _reach(distribution: str, params: tuple[float, ...], dtype: np.dtype) -> tuple[float, float]:
    """The least and greatest value the kernel can write for these parameters, in double
    precision, with a margin for the output type's rounding of mean + std * z."""
    if distribution == "uniform":
        return params[0], params[1]
    z = _core.NORMAL_REACH_F32 if dtype.itemsize == 4 else _core.NORMAL_REACH_F64
    with np.errstate(over="ignore"):
        spread = float(np.float64(params[1]) * (z * (1.0 + 2.0**-20)))
    mean = params[0]
    if distribution == "normal":
        return mean - spread, mean + spread
    # Truncated: within [a, b], and within the normal's reach of the mean, or of the bound
    # nearer to it (a far-tail interval's values lie just inside that bound).
    a, b = params[2], params[3]
    return max(a, min(b, mean) - spread), min(b, max(a, mean) + spread)


def _check_reach(distribution: str, params: tuple[float, ...], dtype: np.dtype,
                 because: str) -> None:
    """Reject parameters whose values could overflow dtype (inf or NaN in the output)."""
    low, high = _reach(distribution, params, dtype)
    limit = float(np.finfo(dtype).max)
    if not -limit <= low <= high <= limit:
        raise ValueError(
            f"{because} gives {dtype.name} values in [{low:.6g}, {high:.6g}], beyond "
            f"{dtype.name}'s largest finite value {limit:.8g}; use float64 or smaller parameters"
        )


def _trunc_params(mean: float, std: float, a: float, b: float) -> tuple[str, tuple[float, ...]]:
    if std == 0.0:
        value = min(max(mean, a), b)
        return "uniform", (value, value)
    return "trunc_normal", (mean, std, a, b)


def _fill_in_place(arr: np.ndarray, distribution: str, params: tuple[float, ...], seed: Seed,
                   global_shape: object, index: object, block: _Block | None = None,
                   because: str = "") -> np.ndarray:
    """Check everything, then make the one draw and fill. A zero-element array is left as it
    is (with torch's warning) but still draws, so generators stay in step across shards."""
    if block is None:
        block = _array_block(arr, global_shape, index)
    _check_seed_arg(seed)
    if arr.size == 0:
        warnings.warn(_ZERO_ELEMENT_WARNING, stacklevel=3)
    else:
        _check_reach(distribution, params, arr.dtype, because)
    return _fill(arr, block, distribution, params, seed)


DistributionOf = Callable[[tuple[int, ...]], tuple[str, tuple[float, ...]]]

# What a whole new array's arguments come to: (dtype, distribution, parameters), remembered per
# (the initializer's own arguments, shape, dtype). Working it out was a third of the Python time
# of kaiming_normal((64, 64)), and a model asks for the same few shapes again and again.
_NEW_ARRAY_PLANS: dict[tuple[object, ...], tuple[np.dtype, str, tuple[float, ...]]] = {}


def _new_array_plan(global_shape: tuple[int, ...], dtype: DTypeLike,
                    distribution_of: DistributionOf) -> tuple[np.dtype, str, tuple[float, ...]]:
    resolved = _check_dtype(dtype)
    return (resolved, *distribution_of(global_shape))


def _new_array(shape: object, dtype: DTypeLike, index: object, seed: Seed,
               distribution_of: DistributionOf,
               arguments: tuple[object, ...] | None = None, because: str = "") -> np.ndarray:
    """A new array of `shape` (or its block `index`) filled from `distribution_of(shape)`.
    `arguments`: everything else `distribution_of` depends on, with the types that equality
    would blur (0 == 0.0 == False), under which the plan is remembered; None: never remembered."""
    global_shape = check_shape(shape)
    block = _block(global_shape, index)
    resolved, distribution, params = remembered(
        _NEW_ARRAY_PLANS, (arguments, global_shape, dtype, type(dtype)), arguments is not None,
        _new_array_plan, global_shape, dtype, distribution_of)
    _check_seed_arg(seed)
    if block.result_shape and math.prod(block.result_shape):
        _check_reach(distribution, params, resolved, because)
    # The one draw, only once every argument has been accepted.
    if block.squeezed or block.shape != global_shape or not resolved.isnative:
        return _fill(np.empty(block.result_shape, dtype=resolved), block, distribution, params,
                     seed)
    key, stream, generator = resolve_seed(seed)  # the common case, without the bookkeeping
    out = np.empty(global_shape, dtype=resolved)
    try:
        _core.fill_array(out, distribution, params, key, stream)
    except Exception:
        if generator is not None:
            generator._give_back(stream)
        raise
    return out


# ---------------------------------------------------------------------------------------------
# torch.nn.init, in place


def _kaiming_std(shape: tuple[int, ...], a: float, mode: str, nonlinearity: str | Callable,
                 layout: str) -> float:
    """gain / sqrt(fan), remembered for named nonlinearities (working it out was most of a small
    call's Python time)."""
    arguments = _kaiming_arguments(a, mode, nonlinearity, layout)
    return remembered(_KAIMING_STDS, (shape, arguments), arguments is not None,
                      _compute_kaiming_std, shape, a, mode, nonlinearity, layout)


def _kaiming_arguments(a: float, mode: str, nonlinearity: str | Callable,
                       layout: str) -> tuple[object, ...] | None:
    """What a Kaiming std depends on besides the shape, as a key: with type(a), because
    1 == 1.0 == True, which the gain treats differently. None for a callable nonlinearity, which
    may answer differently next time, so it is asked again."""
    if type(nonlinearity) is not str:
        return None
    return (a, type(a), mode, nonlinearity, layout)


_KAIMING_STDS: dict[tuple[object, ...], float] = {}


def _kaiming_because(nonlinearity: str | Callable, a: float) -> str:
    return f"nonlinearity={nonlinearity!r} with a={a!r}"


def _compute_kaiming_std(shape: tuple[int, ...], a: float, mode: str,
                         nonlinearity: str | Callable, layout: str) -> float:
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
    gain = _real("gain", gain, minimum=0.0)
    fan_in, fan_out = fans_of_checked_shape(shape, layout)
    if fan_in + fan_out == 0:
        raise ValueError(f"fan_in + fan_out of shape {shape} is 0; the Xavier std is undefined")
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def _check_arr_then(arr: object, global_shape: object, index: object) -> tuple[np.ndarray, _Block]:
    arr = _check_array(arr)
    return arr, _array_block(arr, global_shape, index)


def kaiming_normal_(arr: np.ndarray, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str | Callable = "leaky_relu", *, layout: str = "torch",
                    seed: Seed = None, global_shape: Sequence[int] | None = None,
                    index: object = None) -> np.ndarray:
    """Fill arr with N(0, std^2), std = gain / sqrt(fan), in place (torch.nn.init.kaiming_normal_)."""
    arr, block = _check_arr_then(arr, global_shape, index)
    if arr.size == 0:
        return _fill_in_place(arr, "normal", (), seed, None, None, block)
    std = _kaiming_std(block.global_shape, a, mode, nonlinearity, layout)
    return _fill_in_place(arr, "normal", (0.0, std), seed, None, None, block,
                          _kaiming_because(nonlinearity, a))


def kaiming_uniform_(arr: np.ndarray, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str | Callable = "leaky_relu", *, layout: str = "torch",
                     seed: Seed = None, global_shape: Sequence[int] | None = None,
                     index: object = None) -> np.ndarray:
    """Fill arr with U(-bound, bound), bound = sqrt(3) * gain / sqrt(fan), in place."""
    arr, block = _check_arr_then(arr, global_shape, index)
    if arr.size == 0:
        return _fill_in_place(arr, "uniform", (), seed, None, None, block)
    bound = math.sqrt(3.0) * _kaiming_std(block.global_shape, a, mode, nonlinearity, layout)
    return _fill_in_place(arr, "uniform", (-bound, bound), seed, None, None, block,
                          _kaiming_because(nonlinearity, a))


def xavier_normal_(arr: np.ndarray, gain: float = 1.0, *, layout: str = "torch", seed: Seed = None,
                   global_shape: Sequence[int] | None = None, index: object = None) -> np.ndarray:
    """Fill arr with N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)), in place."""
    arr, block = _check_arr_then(arr, global_shape, index)
    if arr.size == 0:
        return _fill_in_place(arr, "normal", (), seed, None, None, block)
    std = _xavier_std(block.global_shape, gain, layout)
    return _fill_in_place(arr, "normal", (0.0, std), seed, None, None, block, f"gain={gain!r}")


def xavier_uniform_(arr: np.ndarray, gain: float = 1.0, *, layout: str = "torch", seed: Seed = None,
                    global_shape: Sequence[int] | None = None, index: object = None) -> np.ndarray:
    """Fill arr with U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), in place."""
    arr, block = _check_arr_then(arr, global_shape, index)
    if arr.size == 0:
        return _fill_in_place(arr, "uniform", (), seed, None, None, block)
    bound = math.sqrt(3.0) * _xavier_std(block.global_shape, gain, layout)
    return _fill_in_place(arr, "uniform", (-bound, bound), seed, None, None, block,
                          f"gain={gain!r}")


def trunc_normal_(arr: np.ndarray, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, *, seed: Seed = None, global_shape: Sequence[int] | None = None,
                  index: object = None) -> np.ndarray:
    """Fill arr with N(mean, std^2) truncated to [a, b] (absolute bounds, as torch), exactly:
    by the inverse CDF, so nothing piles up at the bounds."""
    arr = _check_array(arr)
    mean = _real("mean", mean)
    std = _real("std", std, minimum=0.0)
    a = _real("a", a, allow_inf=True)
    b = _real("b", b, allow_inf=True)
    if not a < b:
        raise ValueError(f"trunc_normal_ needs a < b, got a={a}, b={b}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in trunc_normal_: the values are exact, but "
            "they lie close to the nearer bound", stacklevel=2)
    distribution, params = _trunc_params(mean, std, a, b)
    return _fill_in_place(arr, distribution, params, seed, global_shape, index,
                          because=f"mean={mean!r}, std={std!r}, a={a!r}, b={b!r}")


def normal_(arr: np.ndarray, mean: float = 0.0, std: float = 1.0, *, seed: Seed = None,
            global_shape: Sequence[int] | None = None, index: object = None) -> np.ndarray:
    """Fill arr with N(mean, std^2) in place."""
    arr = _check_array(arr)
    params = (_real("mean", mean), _real("std", std, minimum=0.0))
    return _fill_in_place(arr, "normal", params, seed, global_shape, index,
                          because=f"mean={params[0]!r}, std={params[1]!r}")


def uniform_(arr: np.ndarray, a: float = 0.0, b: float = 1.0, *, seed: Seed = None,
             global_shape: Sequence[int] | None = None, index: object = None) -> np.ndarray:
    """Fill arr with U(a, b) in place; values lie in [a, b]."""
    arr = _check_array(arr)
    a, b = _real("a", a), _real("b", b)
    if not a <= b:
        raise ValueError(f"uniform_ needs a <= b, got a={a}, b={b}")
    if not math.isfinite(b - a):
        raise ValueError(f"uniform_ needs a finite b - a, got a={a}, b={b}")
    return _fill_in_place(arr, "uniform", (a, b), seed, global_shape, index,
                          because=f"a={a!r}, b={b!r}")


# ---------------------------------------------------------------------------------------------
# Keras / JAX variance scaling, new arrays


def variance_scaling(shape: Sequence[int], scale: float = 1.0, mode: str = "fan_in",
                     distribution: str = "truncated_normal", *, layout: str = "keras",
                     in_axis: AxisSpec | None = None, out_axis: AxisSpec | None = None,
                     batch_axis: AxisSpec = (), dtype: DTypeLike = np.float32, seed: Seed = None,
                     index: object = None) -> np.ndarray:
    """A new array from Keras' VarianceScaling / jax.nn.initializers.variance_scaling.

    n = fan_in, fan_out, (fan_in + fan_out) / 2 or sqrt(fan_in * fan_out) by mode, at least 1.
    "truncated_normal": std = sqrt(scale / n) / 0.87962566103423978, truncated at +-2 std.
    "normal" (or "untruncated_normal"): std = sqrt(scale / n), untruncated, as JAX (Keras' own
    "normal" means truncated). "uniform": U(-limit, limit), limit = sqrt(3 scale / n).
    index= returns exactly result[index] without generating the rest.
    """
    scale = _real("scale", scale, positive=True)
    _choice("mode", mode, _MODES)
    _choice("distribution", distribution, _DISTRIBUTIONS)

    def distribution_of(global_shape: tuple[int, ...]) -> tuple[str, tuple[float, ...]]:
        fan_in, fan_out = fans_of_checked_shape(global_shape, layout, in_axis, out_axis, batch_axis)
        denominator = {
            "fan_in": fan_in,
            "fan_out": fan_out,
            "fan_avg": (fan_in + fan_out) / 2.0,
            "fan_geo_avg": math.sqrt(fan_in * fan_out),
        }[mode]
        variance = scale / max(1.0, denominator)
        if distribution == "truncated_normal":
            std = math.sqrt(variance) / TRUNCATED_NORMAL_STD
            return "trunc_normal", (0.0, std, -2.0 * std, 2.0 * std)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return "uniform", (-limit, limit)
        return "normal", (0.0, math.sqrt(variance))

    # Explicit axes are not remembered: True == 1 would let a cached plan skip their checks.
    default_axes = in_axis is None and out_axis is None and type(batch_axis) is tuple and not batch_axis
    arguments = (variance_scaling, scale, mode, distribution, layout) if default_axes else None
    return _new_array(shape, dtype, index, seed, distribution_of, arguments, f"scale={scale!r}")


def _preset(name: str, scale: float, mode: str, distribution: str):
    def initializer(shape: Sequence[int], *, layout: str = "keras", in_axis: AxisSpec | None = None,
                    out_axis: AxisSpec | None = None, batch_axis: AxisSpec = (),
                    dtype: DTypeLike = np.float32, seed: Seed = None,
                    index: object = None) -> np.ndarray:
        return variance_scaling(shape, scale, mode, distribution, layout=layout, in_axis=in_axis,
                                out_axis=out_axis, batch_axis=batch_axis, dtype=dtype, seed=seed,
                                index=index)

    initializer.__name__ = initializer.__qualname__ = name
    initializer.__doc__ = (
        f"Keras' {name}: variance_scaling(shape, scale={scale:g}, mode={mode!r}, "
        f"distribution={distribution!r})."
    )
    return initializer


he_normal = _preset("he_normal", 2.0, "fan_in", "truncated_normal")
he_uniform = _preset("he_uniform", 2.0, "fan_in", "uniform")
glorot_normal = _preset("glorot_normal", 1.0, "fan_avg", "truncated_normal")
glorot_uniform = _preset("glorot_uniform", 1.0, "fan_avg", "uniform")
lecun_normal = _preset("lecun_normal", 1.0, "fan_in", "truncated_normal")
lecun_uniform = _preset("lecun_uniform", 1.0, "fan_in", "uniform")


def kaiming_normal(shape: Sequence[int], a: float = 0, mode: str = "fan_in",
                   nonlinearity: str | Callable = "leaky_relu", *, layout: str = "torch",
                   dtype: DTypeLike = np.float32, seed: Seed = None,
                   index: object = None) -> np.ndarray:
    """A new array filled as kaiming_normal_ would fill it; index= gives one shard."""
    return _new_array(shape, dtype, index, seed, lambda g: (
        "normal", (0.0, _kaiming_std(g, a, mode, nonlinearity, layout))),
        _kaiming_plan_key(kaiming_normal, a, mode, nonlinearity, layout),
        _kaiming_because(nonlinearity, a))


def kaiming_uniform(shape: Sequence[int], a: float = 0, mode: str = "fan_in",
                    nonlinearity: str | Callable = "leaky_relu", *, layout: str = "torch",
                    dtype: DTypeLike = np.float32, seed: Seed = None,
                    index: object = None) -> np.ndarray:
    """A new array filled as kaiming_uniform_ would fill it; index= gives one shard."""

    def distribution_of(global_shape: tuple[int, ...]) -> tuple[str, tuple[float, ...]]:
        bound = math.sqrt(3.0) * _kaiming_std(global_shape, a, mode, nonlinearity, layout)
        return "uniform", (-bound, bound)

    return _new_array(shape, dtype, index, seed, distribution_of,
                      _kaiming_plan_key(kaiming_uniform, a, mode, nonlinearity, layout),
                      _kaiming_because(nonlinearity, a))


def _kaiming_plan_key(initializer: Callable, a: float, mode: str, nonlinearity: str | Callable,
                      layout: str) -> tuple[object, ...] | None:
    """The arguments a Kaiming new array's plan is remembered under (see _kaiming_arguments)."""
    arguments = _kaiming_arguments(a, mode, nonlinearity, layout)
    return None if arguments is None else (initializer, arguments)
