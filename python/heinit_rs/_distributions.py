"""The three distributions the Rust core draws from: `_core.Normal`, `_core.Uniform` and
`_core.TruncNormal`, which check their own parameters when made and know the range their values
reach in each output format (src/distributions.rs). Here only what the Python layer adds: the
arguments an error names, and dtype names as the core takes them."""

from __future__ import annotations

import functools
from typing import Union

import numpy as np

from heinit_rs._core import Normal, TruncNormal, Uniform

__all__ = ["Arguments", "Distribution", "Normal", "TruncNormal", "Uniform", "check_fits"]

Distribution = Union[Normal, Uniform, TruncNormal]

# The user's arguments a distribution came from, (name, value) pairs, for error messages.
Arguments = tuple[tuple[str, object], ...]


@functools.lru_cache(maxsize=64)
def _format(dtype: np.dtype) -> str:
    """dtype's name (remembered: NumPy works out `dtype.name` in Python, which took a fifth of a
    small fill's Python time)."""
    return dtype.name


def check_fits(distribution: Distribution, dtype: np.dtype, because: Arguments) -> None:
    """Raise ValueError, naming `because`, where values could overflow dtype (inf or NaN)."""
    distribution.check_fits(_format(dtype), because)
