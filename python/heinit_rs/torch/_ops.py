"""Under torch.compile, FakeTensorMode, vmap and other transforms a tensor has no memory to
write through: the initializers run there as torch custom ops, which torch traces as it
traces torch.nn.init (fake: no values; real: the eager fill, drawing the same key)."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

import torch

from heinit_rs._index import array_block
from heinit_rs._random import MAX_SEED, FixedStream, StreamSource
from heinit_rs.torch._dtensor import is_dtensor
from heinit_rs.torch._record import record_fill
from heinit_rs.torch._fill import Index, Seed, TorchDraw, check_tensor, fill_memory, key_source

OPS = {
    "kaiming_normal_": "float a, str fan_mode, str nonlinearity",
    "kaiming_uniform_": "float a, str fan_mode, str nonlinearity",
    "xavier_normal_": "float gain",
    "xavier_uniform_": "float gain",
    "trunc_normal_": "float mean, float std, float a, float b",
    "normal_": "float mean, float std",
    "uniform_": "float a, float b",
}
# Where the key and the block come from, as a schema holds them: an int key (int64 bits of the
# 64-bit key) and its stream, instead of the generator; the block as global shape, offset and
# the axes an int index removes.
_WHERE = ("int? key=None, int stream=0, int[]? global_shape=None, int[]? offset=None, "
          "int[]? squeezed=None")
_PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)
_LIBRARIES: list[Any] = []  # torch unregisters a Library's ops when it is collected


def register_ops() -> None:
    if hasattr(torch.ops.heinit_rs, "normal_"):  # this module was imported again
        return
    library = torch.library.Library(  # type: ignore[no-untyped-call, unused-ignore]
        "heinit_rs", "FRAGMENT")
    for name, arguments in OPS.items():
        library.define(  # type: ignore[no-untyped-call, unused-ignore]
            f"{name}(Tensor(a!) tensor, {arguments}, Generator? generator, *, {_WHERE}) -> ()")
        # Dynamo must not trace the fill's Python where a compiled graph runs the op.
        run = torch.compiler.disable(  # type: ignore[no-untyped-call, unused-ignore]
            functools.partial(_run_op, name))
        library.impl(  # type: ignore[no-untyped-call, unused-ignore]
            name, run, "CompositeExplicitAutograd")
        torch.library.register_fake(f"heinit_rs::{name}", _fake_op, lib=library)
        torch.library.register_vmap(f"heinit_rs::{name}", functools.partial(_refuse_vmap, name),
                                    lib=library)
    _LIBRARIES.append(library)


def _run_op(name: str, tensor: torch.Tensor, *arguments: Any, key: int | None = None,
            stream: int = 0, global_shape: list[int] | None = None,
            offset: list[int] | None = None, squeezed: list[int] | None = None) -> None:
    """The op on real memory: the eager fill. Never the op again, which is where a graph
    break under torch.compile would run it."""
    *numbers, generator = arguments
    target = check_tensor(tensor)
    if target.is_meta:
        return
    source = key_source(generator, None) if key is None else FixedStream(key & MAX_SEED, stream)
    index = None
    if global_shape is not None and offset is not None:
        sizes = iter(target.shape)
        index = tuple(start if axis in (squeezed or ()) else slice(start, start + next(sizes))
                      for axis, start in enumerate(offset))
    fill_memory(target, name, source, global_shape, index, tuple(numbers), device_kernel)


def on_device(tensor: torch.Tensor) -> bool:
    """Whether heinit_rs.triton fills `tensor` where it is: a CUDA tensor, Triton installed."""
    return tensor.is_cuda and _triton_installed()


@functools.cache
def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def device_kernel(tensor: torch.Tensor) -> Callable[..., torch.Tensor] | None:
    """The kernel that fills `tensor` on its device, or None for the CPU staging copy."""
    if not on_device(tensor):
        return None
    from heinit_rs.triton import fill as triton_fill

    return triton_fill


def _fake_op(tensor: torch.Tensor, *arguments: Any, **where: Any) -> None:
    return None


def _where(tensor: torch.Tensor, source: int | StreamSource, global_shape: Sequence[int] | None,
           index: Index, initializer: str) -> tuple[torch.Generator | None, dict[str, Any]]:
    """The op's generator and keyword arguments for a key source and the block `tensor` is."""
    where: dict[str, Any] = {}
    generator = None
    if isinstance(source, TorchDraw):  # torch's default generator as None, as torch passes it
        generator = None if source.generator is torch.default_generator else source.generator
    elif isinstance(source, (int, FixedStream)):
        key, stream = (source, 0) if isinstance(source, int) else source.next_stream()
        where.update(key=key - (1 << 64) if key >> 63 else key, stream=stream)
    else:
        raise untraceable(initializer)
    if global_shape is not None or index is not None:
        block = array_block(tensor, global_shape, index)  # type: ignore[arg-type, unused-ignore]
        where.update(global_shape=list(block.global_shape), offset=list(block.offset),
                     squeezed=list(block.squeezed))
    return generator, where


def _refuse_vmap(name: str, info: Any, in_dims: Any, *arguments: Any) -> Any:
    raise RuntimeError(
        f"heinit_rs.torch.{name} cannot run under torch.vmap: each batch entry would need a "
        f"key of its own. Fill the whole batched tensor outside vmap instead")


def traced(tensor: object) -> bool:
    """Whether `tensor` lives under a torch transform (compile, fake, vmap, functionalization)
    rather than in memory of its own."""
    if torch.compiler.is_compiling():
        return True
    if not isinstance(tensor, torch.Tensor):
        return False
    # Exact types: a Parameter made of a FakeTensor is a FakeTensor that says it is a Parameter.
    if type(tensor) not in _PLAIN_TENSORS and not is_dtensor(tensor):
        return True
    return bool(torch._C._functorch.is_functorch_wrapped_tensor(tensor))


def fill(tensor: object, initializer: str, source: int | StreamSource,
         global_shape: Sequence[int] | None, index: Index,
         arguments: tuple[object, ...]) -> torch.Tensor:
    """Fill `tensor` in place (`fill_memory`); leave a meta tensor alone; under a transform,
    run the custom op, which draws from a TorchDraw source's generator."""
    target = check_tensor(tensor)
    if target.is_meta:  # left alone, as torch leaves it; deferred_init records the fill
        record_fill(target, initializer, global_shape, index, arguments)
        return target
    if traced(target):  # init_module and materialize reach here under a transform
        return run_traced(initializer, target, arguments, source, global_shape, index)
    return fill_memory(target, initializer, source, global_shape, index, arguments,
                       device_kernel)


def initialize(initializer: str, tensor: torch.Tensor, arguments: tuple[object, ...],
               generator: torch.Generator | None, seed: Seed,
               global_shape: Sequence[int] | None, index: Index) -> torch.Tensor:
    """Eagerly, the fill; under a torch transform, the custom op heinit_rs::<initializer>
    (here while Dynamo traces, which must not see the fill's Python; in `fill` otherwise)."""
    if torch.compiler.is_compiling():
        return run_traced(initializer, tensor, arguments, key_source(generator, seed),
                          global_shape, index)
    return fill(tensor, initializer, key_source(generator, seed), global_shape, index, arguments)


def run_traced(initializer: str, tensor: torch.Tensor, arguments: tuple[object, ...],
               source: int | StreamSource, global_shape: Sequence[int] | None,
               index: Index) -> torch.Tensor:
    if not torch.compiler.is_compiling() and _functionalized(tensor):
        raise RuntimeError(
            f"heinit_rs.torch.{initializer} cannot run under torch.func.functionalize: torch "
            f"functionalizes only ATen's in-place operators, not a library's. Fill the tensor "
            f"outside the functionalized function, or use torch.nn.init there")
    generator, where = _where(tensor, source, global_shape, index, initializer)
    op = getattr(torch.ops.heinit_rs, initializer)
    if tensor.requires_grad and torch.is_grad_enabled():
        with torch.no_grad():  # where torch.nn.init writes a parameter
            op(tensor, *arguments, generator, **where)
    else:  # no grad-mode region, which torch.export could not save without an output
        op(tensor, *arguments, generator, **where)
    return tensor


def _functionalized(tensor: torch.Tensor) -> bool:
    functorch = torch._C._functorch
    while functorch.is_functorch_wrapped_tensor(tensor):
        if functorch.is_functionaltensor(tensor):
            return True
        tensor = functorch.get_unwrapped(tensor)
    return False


def untraceable(initializer: str) -> ValueError:
    return ValueError(f"{initializer}: seed=heinit_rs.Generator works on real tensors only, "
                      "not under torch.compile or FakeTensorMode, where each call would need "
                      "the generator's next draw at run time; pass an int seed= or a "
                      "torch.Generator as generator= there")
