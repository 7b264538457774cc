"""Gains: torch.nn.init.calculate_gain's values for torch's names, and He et al.'s
second-moment rule for everything else (docs/gains.md)."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from heinit_rs._cache import remembered

Activation = Callable[[np.ndarray], np.ndarray]

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


def erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise, in double precision (math.erf; NumPy has none)."""
    values: np.ndarray = np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64)
    return values


def _activation(name: str, param: float) -> Callable[[np.ndarray], np.ndarray]:
    if name == "gelu":
        return lambda x: 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
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


def _rule(f: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray,
          nodes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    x, w = nodes
    half = (b - a)[:, None] / 2
    z = (a + b)[:, None] / 2 + half * x[None, :]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        fz = np.asarray(f(z.ravel()), dtype=np.float64).reshape(z.shape)
        integrand = fz * fz * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    sums: np.ndarray = (integrand * w[None, :] * half).sum(axis=1)
    return sums


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
    sigmoid; 5/3 for tanh; sqrt(2) for relu; sqrt(2 / (1 + slope^2)) for leaky_relu; 3/4 for
    selu. "gelu", "silu" ("swish"), "elu", "mish", "softplus" and any callable use He et al.'s
    second-moment rule gain = 1 / sqrt(E[f(z)^2]), z ~ N(0, 1) (docs/gains.md).

    Parameters
    ----------
    nonlinearity : str or callable
        A name above, or a function of one real; an array-valued NumPy function is called on
        arrays, any other one element by element.
    param : float, optional
        leaky_relu's negative slope (default 0.01) or elu's alpha (default 1); NumPy scalars
        are accepted.

    Returns
    -------
    float
        The gain.

    Examples
    --------
    >>> import math, heinit_rs
    >>> heinit_rs.calculate_gain("relu") == math.sqrt(2)
    True
    >>> round(heinit_rs.calculate_gain("leaky_relu", 0.2), 6)  # sqrt(2 / (1 + 0.2^2))
    1.38675
    >>> round(heinit_rs.calculate_gain(math.tanh), 4)  # the second-moment rule
    1.5925
    """
    if callable(nonlinearity):
        return gain_from_second_moment(nonlinearity)
    # The type is in the key because 1 == 1.0 == True, which torch treats differently.
    return remembered(_GAINS, (nonlinearity, param, type(param)), True, _named_gain,
                      nonlinearity, param)


_GAINS: dict[Hashable, float] = {}


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
