"""heinit_rs for PyTorch: a drop-in for torch.nn.init.

``import heinit_rs.torch as init`` replaces ``import torch.nn.init as init``: the seven random
initializers below fill tensors in place from heinit_rs' Rust core, with torch's signatures,
fans and gains, and every other name (``orthogonal_``, ``zeros_``, ``calculate_gain``, ...) is
torch's own.

- CPU tensors (float32, float64, float16, bfloat16; any strides; parameters that require
  grad) are written in place through shared memory, with no copy; the autograd version
  counter is bumped as an in-place torch op would.
- Seeds: with no `generator`, each call takes a 64-bit key from torch's default CPU generator
  (one ``random_`` draw), so ``torch.manual_seed(s)`` makes a program reproducible and
  consecutive calls differ. A ``torch.Generator`` is drawn from the same way. ``seed=`` takes
  an int or a ``heinit_rs.Generator`` instead, as the NumPy API does. A call that raises draws
  nothing.
- Meta tensors are left alone, as torch leaves them. Tensors on other devices (CUDA, ...) are
  filled from the same stream through a CPU staging tensor, so a weight has the same values on
  every device.
- ``global_shape=`` and ``index=`` fill one block of a larger logical weight, equal bit for bit
  to that block of the whole (docs/stream-spec.md).
"""

from __future__ import annotations

from typing import Any

import torch.nn.init as _torch_init

from heinit_rs.torch._dropins import (
    kaiming_normal_,
    kaiming_uniform_,
    normal_,
    trunc_normal_,
    uniform_,
    xavier_normal_,
    xavier_uniform_,
)
from heinit_rs.torch._fast import fast_init
from heinit_rs.torch._fill import numpy_view  # noqa: F401  (public before the split)
from heinit_rs.torch._materialize import deferred_init, materialize
from heinit_rs.torch._modules import init_module
from heinit_rs.torch._names import name_key
from heinit_rs.torch._ops import register_ops

__all__ = [
    "deferred_init",
    "fast_init",
    "name_key",
    "init_module",
    "materialize",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
]


def __getattr__(name: str) -> Any:
    """Every other name of torch.nn.init is torch's own."""
    try:
        return getattr(_torch_init, name)
    except AttributeError:
        raise AttributeError(f"module 'heinit_rs.torch' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_torch_init)))


register_ops()
