"""The Rust core (src/bindings.rs): fills, the bit generator and settings."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "NORMAL_REACH_F32",
    "NORMAL_REACH_F64",
    "STREAM_VERSION",
    "__version__",
    "derive_key",
    "fill_normal",
    "fill_trunc_normal",
    "fill_uniform",
    "get_num_threads",
    "get_simd_path",
    "philox4x32_10",
    "set_num_threads",
    "set_simd_path",
    "supported_simd_paths",
]

__version__: str
STREAM_VERSION: int
NORMAL_REACH_F32: float
NORMAL_REACH_F64: float

# float32 or float64 arrays, or uint16 arrays holding the bits16 format ("float16", "bfloat16").
_FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.uint16]

def fill_normal(
    arr: _FloatArray,
    mean: float,
    std: float,
    key: int,
    stream: int,
    global_shape: Sequence[int] | None = None,
    offset: Sequence[int] | None = None,
    bits16: str | None = None,
) -> None: ...
def fill_uniform(
    arr: _FloatArray,
    low: float,
    high: float,
    key: int,
    stream: int,
    global_shape: Sequence[int] | None = None,
    offset: Sequence[int] | None = None,
    bits16: str | None = None,
) -> None: ...
def fill_trunc_normal(
    arr: _FloatArray,
    mean: float,
    std: float,
    low: float,
    high: float,
    key: int,
    stream: int,
    global_shape: Sequence[int] | None = None,
    offset: Sequence[int] | None = None,
    bits16: str | None = None,
) -> None: ...
def philox4x32_10(counter: Sequence[int], key: Sequence[int]) -> list[int]: ...
def derive_key(seed: int, index: int) -> int: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def set_simd_path(name: str) -> None: ...
def get_simd_path() -> str: ...
def supported_simd_paths() -> list[str]: ...
