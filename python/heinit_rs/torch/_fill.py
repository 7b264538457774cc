"""The fill: a float tensor's memory, a stream source and the NumPy API's initializer."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from heinit_rs import _initializers
from heinit_rs._checks import bfloat16_dtype
from heinit_rs._distributions import Uniform, check_fits
from heinit_rs._random import MAX_SEED, Generator, StreamSource, check_seed
from heinit_rs.torch._dtensor import dtensor_shard, is_dtensor, local_part, one_block

Seed = int | Generator | None
Index = _initializers.Index
FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

_scratch = threading.local()


class TorchDraw(StreamSource):
    """A torch.Generator as a heinit_rs stream source: each draw is one 64-bit ``random_``
    from it (stream 0 of that key); a call that fails restores the generator's state."""

    __slots__ = ("generator", "_saved")

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator
        self._saved: torch.Tensor | None = None

    def next_stream(self) -> tuple[int, int]:
        self._saved = self.generator.get_state()
        device = self.generator.device
        if device.type == "cpu":  # one scratch word per thread: torch.empty costs 2 us a call
            word = getattr(_scratch, "word", None)
            if word is None:
                with torch.inference_mode(False):  # a normal tensor, writable in any mode
                    word = _scratch.word = torch.empty((), dtype=torch.int64, device=device)
        else:
            word = torch.empty((), dtype=torch.int64, device=device)
        # from = int64's minimum and no `to`: torch's full 64-bit range.
        word.random_(-(2**63), None, generator=self.generator)
        return int(word.item()) & MAX_SEED, 0

    def _give_back(self, stream: int) -> None:
        if self._saved is not None:
            self.generator.set_state(self._saved)
            self._saved = None


def key_source(generator: torch.Generator | None, seed: object) -> int | StreamSource:
    """Where a call's key comes from: `seed` (an int or a heinit_rs.Generator), else
    `generator`, else torch's default CPU generator."""
    if seed is not None:
        if generator is not None:
            raise ValueError("pass generator= (a torch.Generator) or seed=, not both")
        if isinstance(seed, Generator):
            return seed
        return check_seed(seed, what="an int in [0, 2**64 - 1], a heinit_rs.Generator or None")
    if generator is None:
        return TorchDraw(torch.default_generator)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got "
                        f"{type(generator).__name__}")
    return TorchDraw(generator)


def check_tensor(tensor: object) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype not in FLOAT_DTYPES:
        raise TypeError(f"tensor must have dtype float32, float64, float16 or bfloat16, got "
                        f"{tensor.dtype}")
    if tensor.layout != torch.strided:
        raise TypeError(f"tensor must be a strided (dense) tensor, got layout {tensor.layout}")
    if not tensor.is_contiguous() and any(
            stride == 0 and n > 1 for stride, n in zip(tensor.stride(), tensor.shape)):
        raise ValueError(
            "tensor has elements that share one memory location (stride 0, e.g. from "
            "expand()); clone() it before filling it")
    return tensor


def numpy_view(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy array sharing a CPU tensor's memory (bfloat16 through ml_dtypes)."""
    if tensor.requires_grad:
        tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        bits: np.ndarray = tensor.view(torch.int16).numpy()
        return bits.view(bfloat16_dtype("a bfloat16 tensor"))
    view: np.ndarray = tensor.numpy()
    return view


# What is being filled now, by any thread: (device, byte span, NumPy view on the CPU). The
# NumPy API refuses a second writer through NumPy's borrow checking, which the fresh NumPy
# view made of a tensor for each call escapes: two writers of one tensor would leave a mix of
# both calls' values. Writers of element-disjoint views (t[:, ::2] and t[:, 1::2]) both go on.
_writing_lock = threading.Lock()
_Claim = tuple[str, tuple[int, int], np.ndarray | None]
_writing: list[_Claim] = []


def _byte_span(tensor: torch.Tensor) -> tuple[int, int]:
    """[first, last] byte addresses a non-empty tensor's elements may occupy."""
    first = tensor.data_ptr()
    if tensor.is_contiguous():
        return first, first + tensor.numel() * tensor.element_size() - 1
    reach = sum((n - 1) * stride for n, stride in zip(tensor.shape, tensor.stride()))
    return first, first + (reach + 1) * tensor.element_size() - 1


def _share_elements(one: np.ndarray | None, other: np.ndarray | None) -> bool:
    if one is None or other is None:
        return True
    try:
        shares: Any = np.shares_memory  # numpy's stubs allow max_work -1 or 0 only
        return bool(shares(one, other, max_work=100_000))
    except np.exceptions.TooHardError:
        return True


@contextlib.contextmanager
def _claimed(tensor: torch.Tensor, view: np.ndarray | None) -> Iterator[None]:
    """Hold `tensor`'s memory (`view` of it on the CPU) as being written while the block runs,
    or raise if another call is writing any of its elements now."""
    if not tensor.numel():
        yield
        return
    claim = (str(tensor.device), _byte_span(tensor), view)
    device, (first, last), _ = claim
    with _writing_lock:
        for other_device, (other_first, other_last), other_view in _writing:
            if other_device == device and other_first <= last and first <= other_last \
                    and _share_elements(view, other_view):
                raise RuntimeError(
                    "tensor, or memory it shares, is being filled by another thread right "
                    "now; heinit_rs lets one call at a time write to a tensor")
        _writing.append(claim)
    try:
        yield
    finally:
        with _writing_lock:
            _writing.remove(claim)


# torch's float16 and bfloat16 uniform_ rounds a float32 U(a, b) value to the format, to
# nearest, and a value that rounds to b becomes a (rounded): [a, b), where the NumPy API's
# 16-bit uniform keeps the values rounding to b inside [a, b] (docs/stream-spec.md).
_HALF_OPEN = (torch.float16, torch.bfloat16)
_UNIFORMS = ("uniform_", "kaiming_uniform_", "xavier_uniform_")


def _half_open_uniform(view: np.ndarray, initializer: str, arguments: tuple[object, ...],
                       source: int | StreamSource, global_shape: Sequence[int] | None,
                       index: Index) -> None:
    """A float16/bfloat16 `view` filled as torch fills it: the float32 fill of the same
    U(a, b) (one draw), rounded to nearest even, a value equal to b (rounded) set to a
    (rounded)."""
    shape = tuple(global_shape) if global_shape is not None else view.shape
    distribution, because = _initializers.torch_distribution(initializer, shape, arguments)
    assert isinstance(distribution, Uniform)
    check_fits(distribution, view.dtype, because)
    wide = np.empty(view.shape, np.float32)
    _initializers.uniform_(wide, distribution.a, distribution.b, seed=source,
                           global_shape=global_shape, index=index)
    values = wide.astype(view.dtype)
    low, high = half_open_bounds(distribution, view.dtype)
    if high > low:
        values[values == high] = low
    view[...] = values


def half_open_bounds(distribution: Uniform, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """a and b of a 16-bit half-open uniform, rounded to `dtype` from double precision."""
    low, high = (np.asarray(bound).astype(dtype) for bound in (distribution.a, distribution.b))
    return low, high


DeviceKernel = Callable[..., torch.Tensor]


def fill_memory(target: torch.Tensor, initializer: str, source: int | StreamSource,
                global_shape: Sequence[int] | None, index: Index,
                arguments: tuple[object, ...],
                device_kernel: Callable[[torch.Tensor], DeviceKernel | None] | None = None
                ) -> torch.Tensor:
    """Fill a checked, real (not meta, not traced) tensor in place with the NumPy API's
    `initializer` (given torch's positional `arguments`) on a view of its memory; on another
    device by ``device_kernel(tensor)`` where it gives a kernel (heinit_rs.triton on CUDA),
    else on a CPU staging tensor copied there. A DTensor fills its local shard from its
    global offset."""
    inference = target.is_inference()
    if inference and not torch.is_inference_mode_enabled():
        raise RuntimeError("Inplace update to inference tensor outside InferenceMode is not "
                           "allowed. You can make a clone to get a normal tensor before doing "
                           "inplace update.")
    local = target
    if is_dtensor(target):
        if global_shape is not None or index is not None:
            raise ValueError("a DTensor knows its global shape and its shard; pass neither "
                             "global_shape nor index")
        if not one_block(target):  # the whole value, then this rank's part of it
            local = target.to_local()  # type: ignore[attr-defined, unused-ignore]
            whole = torch.empty(target.shape, dtype=target.dtype, device=local.device)
            fill_memory(whole, initializer, source, None, None, arguments, device_kernel)
            with torch.no_grad():
                local.copy_(local_part(target, whole))
            torch.autograd.graph.increment_version(target)
            return target
        shard_of_rank, global_shape, index = dtensor_shard(target)
        if shard_of_rank is None:  # this rank holds no part of it
            return target
        local = shard_of_rank
    arguments = tuple([value.item() if isinstance(value, torch.Tensor) and value.dim() == 0
                       else value for value in arguments])
    kernel = device_kernel(local) if device_kernel is not None else None
    if kernel is not None:
        with _claimed(local, None):
            kernel(local, initializer, source, global_shape, index, arguments)
        if local is not target:
            torch.autograd.graph.increment_version(target)
        return target
    on_cpu = local.is_cpu
    written = local if on_cpu else torch.empty(local.shape, dtype=local.dtype)
    view = numpy_view(written)
    with _claimed(local, view if on_cpu else None):
        if initializer in _UNIFORMS and local.dtype in _HALF_OPEN:
            _half_open_uniform(view, initializer, arguments, source, global_shape, index)
        else:
            getattr(_initializers, initializer)(view, *arguments, seed=source,
                                                global_shape=global_shape, index=index)
    if not on_cpu:
        with torch.no_grad():
            local.copy_(written)
    elif not inference:
        torch.autograd.graph.increment_version(local)
    if local is not target:  # a DTensor: its own version counts the write too
        torch.autograd.graph.increment_version(target)
    return target
