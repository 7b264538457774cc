"""Argument checks shared by the initializers: each error names the argument and what is
allowed, and nothing is drawn or written before every check has passed."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[Any]
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
SUPPORTED = "float32, float64, float16 or bfloat16"

_Choice = TypeVar("_Choice", bound=str)


def _unsupported_dtype(requirement: str, dtype: np.dtype) -> TypeError:
    return TypeError(f"{requirement} {SUPPORTED}, got {dtype}")


def is_bfloat16(dtype: np.dtype) -> bool:
    """ml_dtypes' bfloat16, recognised without importing ml_dtypes."""
    return dtype.name == "bfloat16" and dtype.itemsize == 2


def _is_float_dtype(dtype: np.dtype) -> bool:
    """float16, float32 or float64 in either byte order (non-native ones are filled through a
    copy), or bfloat16."""
    return (dtype.kind == "f" and dtype.itemsize in (2, 4, 8)) or is_bfloat16(dtype)


def check_array(arr: object) -> None:
    """Check that arr is a writeable, aligned float32 or float64 ndarray."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"arr must be a numpy.ndarray, got {type(arr).__name__}")
    if arr.dtype not in DTYPES and not _is_float_dtype(arr.dtype):
        raise _unsupported_dtype("arr must have dtype", arr.dtype)
    if not arr.flags.writeable:
        raise ValueError("arr is read-only (arr.flags.writeable is False); pass a writeable array")
    if not arr.flags.aligned:
        raise ValueError(
            "arr is not aligned to its dtype; pass an aligned copy (numpy.ascontiguousarray)"
        )


def check_dtype(dtype: npt.DTypeLike) -> np.dtype:
    """dtype as float32, float64, float16 (either byte order) or bfloat16."""
    if dtype is np.float32:
        return DTYPES[0]
    if dtype == "bfloat16":
        return bfloat16_dtype("dtype='bfloat16'")
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be {SUPPORTED}, got {dtype!r}") from None
    if resolved not in DTYPES and not _is_float_dtype(resolved):
        raise _unsupported_dtype("dtype must be", resolved)
    return resolved


def bfloat16_dtype(what: str) -> np.dtype:
    """ml_dtypes' bfloat16 as a NumPy dtype; `what` names what needs it in the error."""
    try:
        import ml_dtypes
    except ImportError:
        raise TypeError(f"{what} needs ml_dtypes: pip install ml_dtypes") from None
    bfloat16: np.dtype = np.dtype(ml_dtypes.bfloat16)
    return bfloat16


def as_real(name: str, value: object) -> float:
    """value as a float: any real number (Python or NumPy) but a bool. What values are allowed
    is the distribution's to check (src/distributions.rs)."""
    if type(value) is not float and (isinstance(value, (bool, np.bool_))
                                     or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def check_real(name: str, value: object, *, minimum: float | None = None,
               positive: bool = False) -> float:
    """value as a float (`as_real`), finite, and at least `minimum` or above 0 where asked: for
    the arguments that are not a distribution's own (gain, scale)."""
    v = as_real(name, value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if positive and not v > 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {v}")
    return v


def check_choice(name: str, value: object, allowed: Sequence[_Choice]) -> _Choice:
    """value, which must be one of `allowed`."""
    for option in allowed:
        if value == option and isinstance(value, str):
            return option
    raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
