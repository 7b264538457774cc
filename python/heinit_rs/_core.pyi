"""The Rust core (src/bindings.rs): fills, the bit generator and settings."""

from collections.abc import Sequence
from typing import Self, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALL_SIMD_PATHS",
    "STREAM_VERSION",
    "Normal",
    "TruncNormal",
    "Uniform",
    "__version__",
    "derive_key",
    "environment_problems",
    "get_num_threads",
    "get_simd_path",
    "kernel_constants",
    "philox4x32_10",
    "set_num_threads",
    "set_simd_path",
    "supported_simd_paths",
    "xla_ffi_handler",
]

__version__: str
STREAM_VERSION: int
ALL_SIMD_PATHS: tuple[str, ...]

# float32 or float64 arrays, or uint16 arrays holding the bits16 format ("float16", "bfloat16").
_FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.uint16]

class _Distribution:
    """What every distribution class has (the stub's grouping; at run time each class has
    these methods itself)."""

    def fill(
        self,
        arr: _FloatArray,
        key: int,
        stream: int,
        global_shape: Sequence[int] | None = None,
        offset: Sequence[int] | None = None,
        bits16: str | None = None,
    ) -> None: ...
    def check_fits(
        self, format: str, because: tuple[tuple[str, object], ...] | None = None
    ) -> None: ...
    def kernel_parameters(self, format: str) -> list[float] | None: ...
    def __reduce__(self) -> tuple[type[Self], tuple[float, ...]]: ...

@final
class Normal(_Distribution):
    """N(mean, std^2), std >= 0."""

    def __new__(cls, mean: float, std: float) -> Self: ...
    @property
    def mean(self) -> float: ...
    @property
    def std(self) -> float: ...

@final
class Uniform(_Distribution):
    """U(a, b), a <= b with b - a finite."""

    def __new__(cls, a: float, b: float) -> Self: ...
    @property
    def a(self) -> float: ...
    @property
    def b(self) -> float: ...

@final
class TruncNormal(_Distribution):
    """N(mean, std^2) truncated to [a, b], std >= 0, a < b."""

    def __new__(cls, mean: float, std: float, a: float, b: float) -> Self: ...
    @property
    def mean(self) -> float: ...
    @property
    def std(self) -> float: ...
    @property
    def a(self) -> float: ...
    @property
    def b(self) -> float: ...

def philox4x32_10(counter: Sequence[int], key: Sequence[int]) -> list[int]: ...
def derive_key(seed: int, index: int) -> int: ...
def kernel_constants() -> tuple[list[float], list[float]]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def set_simd_path(name: str) -> None: ...
def get_simd_path() -> str: ...
def environment_problems() -> list[tuple[str, str]]: ...
def supported_simd_paths() -> list[str]: ...
def xla_ffi_handler() -> object: ...  # a PyCapsule
