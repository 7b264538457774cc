"""heinit_rs on the GPU: torch.nn.init's seven random initializers as one Triton kernel that
gives, on the tensor's own device, the bits heinit_rs.torch gives on a CPU tensor.

Same signatures as `heinit_rs.torch` (``seed=``, ``generator=``, ``global_shape=``,
``index=``), same keys (one 64-bit draw from ``generator=`` or torch's default CPU
generator, or ``seed=``), the same stream (docs/stream-spec.md): the value at each index is
the CPU's, bit for bit, for float32, float64, float16 and bfloat16, any shape and strides,
blocks of a larger weight and counters past 2^32. The kernel runs on CUDA tensors, and with
``TRITON_INTERPRET=1`` (Triton's interpreter, set before importing) on CPU tensors, which is
how the bits are tested on every machine.

A truncated normal whose interval the float32 or float64 lane kernel cannot hold (intervals
beyond 5 sigma, narrower than 2^-10 in probability, or near float32's range: the stream's
double-precision forms) is filled on the CPU and copied to the device.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import triton

from heinit_rs import _core, _initializers
from heinit_rs._distributions import Uniform, check_fits
from heinit_rs._index import array_block
from heinit_rs._random import StreamSource
from heinit_rs.torch._fill import (
    Index,
    Seed,
    TorchDraw,
    check_tensor,
    half_open_bounds,
    key_source,
    numpy_view,
)
from heinit_rs.triton import _kernel

__all__ = [
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
]

_DISTRIBUTIONS = {"kaiming_normal_": _kernel.NORMAL, "xavier_normal_": _kernel.NORMAL,
                  "normal_": _kernel.NORMAL, "kaiming_uniform_": _kernel.UNIFORM,
                  "xavier_uniform_": _kernel.UNIFORM, "uniform_": _kernel.UNIFORM,
                  "trunc_normal_": _kernel.TRUNC_NORMAL}
_OUTPUTS = {torch.float32: (_kernel.OUT_F32, "float32"), torch.float64: (_kernel.OUT_F64, "float64"),
            torch.float16: (_kernel.OUT_F16, "float16"),
            torch.bfloat16: (_kernel.OUT_BF16, "bfloat16")}
# Elements per program: a GPU runs many programs at once; the interpreter runs them one
# after the other, each a few hundred NumPy operations, so it takes larger ones.
_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
_BLOCK = 1024


@functools.cache
def _constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    table, constants = _core.kernel_constants()
    return (torch.tensor(table, dtype=torch.float32, device=device),
            torch.tensor(constants, dtype=torch.float64, device=device))


def fill(tensor: object, initializer: str, source: int | StreamSource,
         global_shape: Sequence[int] | None, index: Index,
         arguments: tuple[object, ...]) -> torch.Tensor:
    """Fill `tensor` in place on its device with heinit_rs.torch's `initializer` values."""
    target = check_tensor(tensor)
    out, format_name = _OUTPUTS[target.dtype]
    block = array_block(target, global_shape, index)  # type: ignore[arg-type, unused-ignore]
    distribution, because = _initializers.torch_distribution(
        initializer, block.global_shape, arguments)
    numpy_dtype = _numpy_dtype(target.dtype)
    check_fits(distribution, numpy_dtype, because)
    half_open = isinstance(distribution, Uniform) and out in (_kernel.OUT_F16, _kernel.OUT_BF16)
    parameters = distribution.kernel_parameters("float32" if half_open else format_name)
    if parameters is None:  # a double-precision form of the truncated normal
        return _through_the_cpu(target, initializer, source, global_shape, index, arguments)
    if half_open:
        assert isinstance(distribution, Uniform)
        low, high = half_open_bounds(distribution, numpy_dtype)
        parameters += [float(low.view(np.uint16)), float(high.view(np.uint16))]
    key, stream = _draw(source)
    if not target.numel():
        warnings.warn(_initializers._ZERO_ELEMENT_WARNING, stacklevel=3)
    else:
        _launch(target, block, key, stream, _DISTRIBUTIONS[initializer], out, half_open,
                parameters)
    if not target.is_inference():
        torch.autograd.graph.increment_version(target)
    return target


@functools.cache
def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return numpy_view(torch.empty(0, dtype=dtype)).dtype


def _draw(source: int | StreamSource) -> tuple[int, int]:
    return (source, 0) if isinstance(source, int) else source.next_stream()


def _launch(target: torch.Tensor, block: Any, key: int, stream: int, distribution: int,
            out: int, half_open: bool, parameters: list[float]) -> None:
    device = target.device
    compute = torch.float64 if out == _kernel.OUT_F64 else torch.float32
    table, constants = _constants(device)
    global_strides = [1] * len(block.global_shape)
    for axis in range(len(block.global_shape) - 2, -1, -1):
        global_strides[axis] = global_strides[axis + 1] * block.global_shape[axis + 1]
    base = sum(o * s for o, s in zip(block.offset, global_strides))
    kept = [axis for axis in range(len(block.global_shape)) if axis not in block.squeezed]
    shape, strides = list(target.shape) or [1], list(target.stride()) or [1]
    gstrides = [global_strides[axis] for axis in kept] or [1]
    geometry = torch.tensor([shape, strides, gstrides], dtype=torch.int64, device=device)
    written = target.view(torch.uint16) if out in (_kernel.OUT_F16, _kernel.OUT_BF16) \
        else target.detach()
    n = target.numel()
    block_size = triton.next_power_of_2(min(n, 1 << 16)) if _INTERPRETED else _BLOCK
    _kernel.fill_kernel[(triton.cdiv(n, block_size),)](
        written, n, key & 0xFFFFFFFF, key >> 32, stream & 0xFFFFFFFF, stream >> 32, base,
        geometry[0], geometry[1], geometry[2],
        torch.tensor(parameters, dtype=compute, device=device), table, constants,
        NDIM=len(shape), DIST=distribution, OUT=out, HALF_OPEN=half_open, BLOCK=block_size,
        enable_fp_fusion=False)


def _through_the_cpu(target: torch.Tensor, initializer: str, source: int | StreamSource,
                     global_shape: Sequence[int] | None, index: Index,
                     arguments: tuple[object, ...]) -> torch.Tensor:
    from heinit_rs.torch._fill import fill_memory

    staging = torch.empty(target.shape, dtype=target.dtype)
    fill_memory(staging, initializer, source, global_shape, index, arguments)
    with torch.no_grad():
        target.copy_(staging)
    return target


def _initialize(initializer: str, tensor: torch.Tensor, arguments: tuple[object, ...],
                generator: torch.Generator | None, seed: Seed,
                global_shape: Sequence[int] | None, index: Index) -> torch.Tensor:
    source = key_source(generator, seed)
    try:
        return fill(tensor, initializer, source, global_shape, index, arguments)
    except BaseException:
        if isinstance(source, TorchDraw):
            source._give_back(0)
        raise


def kaiming_normal_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: torch.Generator | None = None,
                    *, seed: Seed = None, global_shape: Sequence[int] | None = None,
                    index: Index = None) -> torch.Tensor:
    """heinit_rs.torch.kaiming_normal_, on the tensor's device."""
    return _initialize("kaiming_normal_", tensor, (a, mode, nonlinearity), generator, seed,
                       global_shape, index)


def kaiming_uniform_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: torch.Generator | None = None,
                     *, seed: Seed = None, global_shape: Sequence[int] | None = None,
                     index: Index = None) -> torch.Tensor:
    """heinit_rs.torch.kaiming_uniform_, on the tensor's device."""
    return _initialize("kaiming_uniform_", tensor, (a, mode, nonlinearity), generator, seed,
                       global_shape, index)


def xavier_normal_(tensor: torch.Tensor, gain: float = 1.0,
                   generator: torch.Generator | None = None, *, seed: Seed = None,
                   global_shape: Sequence[int] | None = None,
                   index: Index = None) -> torch.Tensor:
    """heinit_rs.torch.xavier_normal_, on the tensor's device."""
    return _initialize("xavier_normal_", tensor, (gain,), generator, seed, global_shape, index)


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0,
                    generator: torch.Generator | None = None, *, seed: Seed = None,
                    global_shape: Sequence[int] | None = None,
                    index: Index = None) -> torch.Tensor:
    """heinit_rs.torch.xavier_uniform_, on the tensor's device."""
    return _initialize("xavier_uniform_", tensor, (gain,), generator, seed, global_shape, index)


def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: torch.Generator | None = None, *,
                  seed: Seed = None, global_shape: Sequence[int] | None = None,
                  index: Index = None) -> torch.Tensor:
    """heinit_rs.torch.trunc_normal_, on the tensor's device."""
    return _initialize("trunc_normal_", tensor, (mean, std, a, b), generator, seed,
                       global_shape, index)


def normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0,
            generator: torch.Generator | None = None, *, seed: Seed = None,
            global_shape: Sequence[int] | None = None, index: Index = None) -> torch.Tensor:
    """heinit_rs.torch.normal_, on the tensor's device."""
    return _initialize("normal_", tensor, (mean, std), generator, seed, global_shape, index)


def uniform_(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0,
             generator: torch.Generator | None = None, *, seed: Seed = None,
             global_shape: Sequence[int] | None = None, index: Index = None) -> torch.Tensor:
    """heinit_rs.torch.uniform_, on the tensor's device."""
    return _initialize("uniform_", tensor, (a, b), generator, seed, global_shape, index)
