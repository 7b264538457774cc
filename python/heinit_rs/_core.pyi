from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__version__: str
PARALLEL_THRESHOLD: int

def fill_array(
    arr: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    distribution: str,
    params: Sequence[float],
    seed: int,
    stream: int,
    global_shape: Sequence[int] | None = None,
    offset: Sequence[int] | None = None,
) -> None: ...
def philox4x32_10(counter: Sequence[int], key: Sequence[int]) -> list[int]: ...
def derive_key(seed: int, index: int) -> int: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
