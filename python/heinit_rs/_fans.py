"""Fans and gains: exactly torch.nn.init, Keras and JAX, plus He et al.'s second-moment rule."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LAYOUTS = ("torch", "keras", "jax")
# Default (in_axis, out_axis) of each layout when only some axes are given.
_DEFAULT_AXES = {"torch": (1, 0), "keras": (-2, -1), "jax": (-2, -1)}

AxisSpec = int | Sequence[int]


_MAX_ELEMENTS = 2**63 - 1


def check_shape(shape: object, name: str = "shape") -> tuple[int, ...]:
    """A shape as a tuple of non-negative ints, with at most 2**63 - 1 elements."""
    # Fast path for the common case (a tuple of plain ints): models make thousands of calls.
    if type(shape) is tuple:
        for n in shape:
            if type(n) is not int or n < 0:
                break
        else:
            if math.prod(shape) <= _MAX_ELEMENTS:
                return shape
    if isinstance(shape, np.ndarray):
        raise TypeError(f"{name} must be a tuple of ints; for an array pass arr.shape")
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints, got {type(shape).__name__}") from None
    for axis, n in enumerate(dims):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"{name}[{axis}] must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"{name}[{axis}] must be >= 0, got {n}")
    dims = tuple(int(n) for n in dims)
    if math.prod(dims) > _MAX_ELEMENTS:
        raise ValueError(f"{name} {dims} has {math.prod(dims)} elements, more than 2**63 - 1")
    return dims


def _check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}, got {layout!r}")
    return layout


def _normalize_axes(spec: AxisSpec, ndim: int, name: str) -> tuple[int, ...]:
    items = (spec,) if isinstance(spec, numbers.Integral) else spec
    try:
        items = tuple(items)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {spec!r}") from None
    axes = []
    for axis in items:
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"{name} must be an int or a sequence of ints, got {spec!r}")
        if not -ndim <= axis < ndim:
            raise ValueError(f"{name}={spec!r} is out of range for a {ndim}-dimensional shape")
        axes.append(int(axis) % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}={spec!r} names an axis twice")
    return tuple(axes)


def _fans_from_axes(
    shape: tuple[int, ...], in_axis: AxisSpec, out_axis: AxisSpec, batch_axis: AxisSpec
) -> tuple[int, int]:
    ndim = len(shape)
    named = {
        "in_axis": _normalize_axes(in_axis, ndim, "in_axis"),
        "out_axis": _normalize_axes(out_axis, ndim, "out_axis"),
        "batch_axis": _normalize_axes(batch_axis, ndim, "batch_axis"),
    }
    seen: dict[int, str] = {}
    for name, axes in named.items():
        for axis in axes:
            if axis in seen:
                raise ValueError(f"{seen[axis]} and {name} overlap at axis {axis}")
            seen[axis] = name
    receptive = math.prod(n for axis, n in enumerate(shape) if axis not in seen)
    in_size = math.prod(shape[a] for a in named["in_axis"])
    out_size = math.prod(shape[a] for a in named["out_axis"])
    return in_size * receptive, out_size * receptive


def calculate_fan_in_and_fan_out(
    shape: Sequence[int],
    layout: str = "torch",
    *,
    in_axis: AxisSpec | None = None,
    out_axis: AxisSpec | None = None,
    batch_axis: AxisSpec = (),
) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape.

    layout="torch": (out, in, *kernel); fan_in = in * prod(kernel), fan_out = out * prod(kernel).
    layout="keras": (*kernel, in, out); 0-D gives (1, 1) and 1-D (n,) gives (n, n).
    layout="jax":   the keras axes; fewer than 2 dimensions raise unless axes are given.
    in_axis / out_axis / batch_axis (int or sequence) override the layout's axes, as in
    jax.nn.initializers.variance_scaling: the receptive field is the product of every other axis.
    """
    return fans_of_checked_shape(check_shape(shape), layout, in_axis, out_axis, batch_axis)


def fans_of_checked_shape(
    shape: tuple[int, ...],
    layout: str = "torch",
    in_axis: AxisSpec | None = None,
    out_axis: AxisSpec | None = None,
    batch_axis: AxisSpec = (),
) -> tuple[int, int]:
    """calculate_fan_in_and_fan_out for a shape check_shape already accepted."""
    ndim = len(shape)
    axes_given = in_axis is not None or out_axis is not None or batch_axis not in ((), [], None)
    # torch's layout first: the common case, before the layout check it would pass anyway.
    if layout == "torch" and not axes_given:
        if ndim < 2:
            raise ValueError(
                "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
            )
        receptive = math.prod(shape[2:])
        return shape[1] * receptive, shape[0] * receptive
    layout = _check_layout(layout)
    if axes_given:
        default_in, default_out = _DEFAULT_AXES[layout]
        return _fans_from_axes(
            shape,
            default_in if in_axis is None else in_axis,
            default_out if out_axis is None else out_axis,
            () if batch_axis is None else batch_axis,
        )
    if layout == "keras" and ndim < 2:
        return (1, 1) if ndim == 0 else (shape[0], shape[0])
    if ndim < 2:
        raise ValueError(
            f"Can't compute input and output sizes of a {ndim}-dimensional weights tensor "
            "with default in_axis. Must be at least 2D or specify in_axis explicitly."
        )
    # Keras and JAX by default: in_axis=-2, out_axis=-1, every leading axis is receptive field
    # (what _fans_from_axes(shape, -2, -1, ()) computes, without its generality).
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


# ---------------------------------------------------------------------------------------------
# Gains

_TORCH_LINEAR = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)
_TORCH_NAMES = (*_TORCH_LINEAR, "sigmoid", "tanh", "relu", "leaky_relu", "selu")
_RULE_NAMES = ("gelu", "silu", "swish", "elu", "mish", "softplus")
NONLINEARITIES = _TORCH_NAMES + _RULE_NAMES


def _number_param(param: object, default: float, what: str) -> float:
    # torch's test (ints but not bools, and floats), widened to NumPy's real scalars.
    if param is None:
        return default
    if isinstance(param, numbers.Real) and not isinstance(param, (bool, np.bool_)):
        value = float(param)
        if not math.isfinite(value):
            raise ValueError(f"{what} must be finite, got {param}")
        return value
    raise ValueError(f"{what} {param} not a valid number")


def _erf(x: np.ndarray) -> np.ndarray:
    return np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64)


def _activation(name: str, param: float) -> Callable[[np.ndarray], np.ndarray]:
    if name == "gelu":
        return lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if name in ("silu", "swish"):
        return lambda x: x / (1.0 + np.exp(-x))
    if name == "elu":
        return lambda x: np.where(x > 0, x, param * np.expm1(np.minimum(x, 0.0)))
    if name == "mish":
        return lambda x: x * np.tanh(np.logaddexp(0.0, x))
    return lambda x: np.logaddexp(0.0, x)  # softplus


# Gauss-Legendre rules for adaptive integration of f(z)^2 phi(z) over [-40, 40] (phi underflows
# beyond); breakpoints at 0 and +-1, +-2 catch the kinks of relu-like functions.
_COARSE = np.polynomial.legendre.leggauss(20)
_FINE = np.polynomial.legendre.leggauss(40)
_BREAKS = np.array([-40, -20, -10, -6, -4, -3, -2, -1, -0.5, 0, 0.5, 1, 2, 3, 4, 6, 10, 20, 40.0])


def _rule(f: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray, nodes) -> np.ndarray:
    x, w = nodes
    half = (b - a)[:, None] / 2
    z = (a + b)[:, None] / 2 + half * x[None, :]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        fz = np.asarray(f(z.ravel()), dtype=np.float64).reshape(z.shape)
        integrand = fz * fz * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return (integrand * w[None, :] * half).sum(axis=1)


def second_moment(f: Callable[[np.ndarray], np.ndarray], tol: float = 1e-14) -> float:
    """E[f(z)^2] for z ~ N(0, 1), by adaptive Gauss-Legendre quadrature."""
    a, b = _BREAKS[:-1], _BREAKS[1:]
    total = 0.0
    for _ in range(40):
        coarse, fine = _rule(f, a, b, _COARSE), _rule(f, a, b, _FINE)
        if not np.all(np.isfinite(fine)):
            raise ValueError("the nonlinearity gave non-finite values on N(0, 1) inputs")
        scale = max(abs(total) + float(np.abs(fine).sum()), 1e-300)
        done = np.abs(fine - coarse) <= tol * scale
        total += float(fine[done].sum())
        a, b = a[~done], b[~done]
        if a.size == 0:
            return total
        mid = (a + b) / 2
        a, b = np.concatenate([a, mid]), np.concatenate([mid, b])
    raise ValueError("E[f(z)^2] did not converge; is the nonlinearity finite and elementwise?")


def _elementwise(f: Callable[..., Any]) -> Callable[[np.ndarray], np.ndarray]:
    """f itself if it maps an array elementwise, else f applied to each element (math.tanh,
    a lambda written for one float)."""
    probe = np.array([-1.5, 0.5])
    try:
        with np.errstate(all="ignore"):
            if np.shape(f(probe)) == probe.shape:
                return f
    except (TypeError, ValueError):
        pass
    return np.vectorize(f, otypes=[np.float64])


def gain_from_second_moment(f: Callable[[np.ndarray], np.ndarray]) -> float:
    """He et al.'s rule: gain = 1 / sqrt(E[f(z)^2]), z ~ N(0, 1); sqrt(2) for relu."""
    moment = second_moment(_elementwise(f))
    if not moment > 0:
        raise ValueError(f"E[f(z)^2] must be positive to define a gain, got {moment}")
    return 1.0 / math.sqrt(moment)


@functools.lru_cache(maxsize=64)
def _rule_gain(name: str, param: float) -> float:
    return gain_from_second_moment(_activation(name, param))


def calculate_gain(
    nonlinearity: str | Callable[[np.ndarray], np.ndarray], param: float | None = None
) -> float:
    """The recommended gain of a nonlinearity, for std = gain / sqrt(fan).

    torch.nn.init.calculate_gain's names give torch's values exactly: 1 for linear, conv* and
    sigmoid; 5/3 for tanh; sqrt(2) for relu; sqrt(2 / (1 + slope^2)) for leaky_relu (param is
    the slope, 0.01 by default); 3/4 for selu. "gelu", "silu" ("swish"), "elu" (param alpha,
    default 1), "mish", "softplus" and any elementwise callable use He et al.'s second-moment
    rule 1 / sqrt(E[f(z)^2]), z ~ N(0, 1); see docs/gains.md.
    """
    if callable(nonlinearity):
        return gain_from_second_moment(nonlinearity)
    # The type is in the key because 1 == 1.0 == True, which torch treats differently.
    return remembered(_GAINS, (nonlinearity, param, type(param)), True, _named_gain,
                      nonlinearity, param)


_GAINS: dict[tuple[object, ...], float] = {}


def remembered(cache: dict[tuple[object, ...], float], key: tuple[object, ...], keep: bool,
               compute: Callable[..., float], *args: object) -> float:
    """compute(*args), looked up in cache under key first, and kept there if keep (up to 4096
    entries): models ask for the same few gains and stds thousands of times. A key that cannot
    be hashed (a list among the arguments) is simply computed, so compute reports any error."""
    try:
        return cache[key]
    except KeyError:
        hashable = True
    except TypeError:
        hashable = False
    value = compute(*args)
    if keep and hashable and len(cache) < 4096:
        cache[key] = value
    return value


def _named_gain(nonlinearity: str, param: float | None) -> float:
    if nonlinearity in _TORCH_LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = _number_param(param, 0.01, "negative_slope")
        if abs(slope) < 1e150:  # torch's formula, where slope**2 cannot overflow
            return math.sqrt(2.0 / (1 + slope**2))
        return math.sqrt(2.0) / math.hypot(1.0, slope)
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity in _RULE_NAMES:
        alpha = _number_param(param, 1.0, "alpha") if nonlinearity == "elu" else 0.0
        return _rule_gain(nonlinearity, alpha)
    raise ValueError(
        f"Unsupported nonlinearity {nonlinearity}; use one of {', '.join(NONLINEARITIES)} "
        "or a callable"
    )
