"""The three distributions the Rust core draws from, as values (named tuples, cheap to make per
call): each knows its core entry point and the range its values can reach
(docs/stream-spec.md)."""

from __future__ import annotations

import functools
from typing import NamedTuple, Union

import numpy as np

from heinit_rs import _core

Shape = tuple[int, ...]


# By item size: the largest |z| the kernel's standard normal reaches, with a margin for the
# output type's rounding of mean + std * z (16-bit formats are computed in float32); and the
# largest finite value by dtype name.
_NORMAL_REACH = {2: _core.NORMAL_REACH_F32 * (1.0 + 2.0**-20),
                 4: _core.NORMAL_REACH_F32 * (1.0 + 2.0**-20),
                 8: _core.NORMAL_REACH_F64 * (1.0 + 2.0**-20)}
_LARGEST = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
            "float32": float(np.finfo(np.float32).max),
            "float64": float(np.finfo(np.float64).max)}


def _spread(std: float, dtype: np.dtype) -> float:
    return std * _NORMAL_REACH[dtype.itemsize]  # a Python float overflows to inf, silently


class Normal(NamedTuple):
    """N(mean, std^2), std >= 0."""

    mean: float
    std: float

    def fill(self, arr: np.ndarray, key: int, stream: int, global_shape: Shape | None = None,
             offset: Shape | None = None, bits16: str | None = None) -> None:
        _core.fill_normal(arr, self.mean, self.std, key, stream, global_shape, offset, bits16)

    def reach(self, dtype: np.dtype) -> tuple[float, float]:
        spread = _spread(self.std, dtype)
        return self.mean - spread, self.mean + spread


class Uniform(NamedTuple):
    """U(low, high), values in [low, high]."""

    low: float
    high: float

    def fill(self, arr: np.ndarray, key: int, stream: int, global_shape: Shape | None = None,
             offset: Shape | None = None, bits16: str | None = None) -> None:
        _core.fill_uniform(arr, self.low, self.high, key, stream, global_shape, offset, bits16)

    def reach(self, dtype: np.dtype) -> tuple[float, float]:
        return self.low, self.high


class TruncNormal(NamedTuple):
    """N(mean, std^2) truncated to [low, high], std > 0, by the exact inverse CDF."""

    mean: float
    std: float
    low: float
    high: float

    def fill(self, arr: np.ndarray, key: int, stream: int, global_shape: Shape | None = None,
             offset: Shape | None = None, bits16: str | None = None) -> None:
        _core.fill_trunc_normal(arr, self.mean, self.std, self.low, self.high, key, stream,
                                global_shape, offset, bits16)

    def reach(self, dtype: np.dtype) -> tuple[float, float]:
        # Within [low, high], and within the normal's reach of the mean, or of the bound nearer
        # to it (a far-tail interval's values lie just inside that bound).
        spread = _spread(self.std, dtype)
        return (max(self.low, min(self.high, self.mean) - spread),
                min(self.high, max(self.low, self.mean) + spread))


Distribution = Union[Normal, Uniform, TruncNormal]


def truncated_normal(mean: float, std: float, low: float, high: float) -> Distribution:
    """TruncNormal, or for std = 0 the point mean clipped to [low, high] (as torch)."""
    if std == 0.0:
        value = min(max(mean, low), high)
        return Uniform(value, value)
    return TruncNormal(mean, std, low, high)


# The user's arguments a distribution came from, (name, value) pairs, for error messages.
Arguments = tuple[tuple[str, object], ...]


@functools.lru_cache(maxsize=64)
def _largest(dtype: np.dtype) -> float:
    """dtype's largest finite value (remembered: NumPy works out `dtype.name` in Python, which
    took a fifth of a small fill's Python time)."""
    return _LARGEST[dtype.name]


def check_fits(distribution: Distribution, dtype: np.dtype, because: Arguments) -> None:
    """Reject parameters whose values could overflow dtype (inf or NaN in the output), naming
    the arguments they came from."""
    low, high = distribution.reach(dtype)
    limit = _largest(dtype)
    if not -limit <= low <= high <= limit:
        raise ValueError(
            f"{', '.join(f'{name}={value!r}' for name, value in because)} gives {dtype.name} values in [{low:.6g}, {high:.6g}], beyond "
            f"{dtype.name}'s largest finite value {limit:.8g}; use float64 or smaller parameters"
        )
