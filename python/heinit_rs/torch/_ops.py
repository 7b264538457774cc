"""Under torch.compile, FakeTensorMode, vmap and other transforms a tensor has no memory to
write through: the initializers run there as torch custom ops, which torch traces as it
traces torch.nn.init (fake: no values; real: the eager fill, drawing the same key)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch

from heinit_rs._random import StreamSource
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
_PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)
_LIBRARIES: list[Any] = []  # torch unregisters a Library's ops when it is collected


def register_ops() -> None:
    if hasattr(torch.ops.heinit_rs, "normal_"):  # this module was imported again
        return
    library = torch.library.Library(  # type: ignore[no-untyped-call, unused-ignore]
        "heinit_rs", "FRAGMENT")
    for name, arguments in OPS.items():
        library.define(  # type: ignore[no-untyped-call, unused-ignore]
            f"{name}(Tensor(a!) tensor, {arguments}, Generator? generator) -> ()")
        library.impl(  # type: ignore[no-untyped-call, unused-ignore]
            name, functools.partial(_run_op, name), "CompositeExplicitAutograd")
        torch.library.register_fake(f"heinit_rs::{name}", _fake_op, lib=library)
        torch.library.register_vmap(f"heinit_rs::{name}", functools.partial(_refuse_vmap, name),
                                    lib=library)
    _LIBRARIES.append(library)


def _run_op(name: str, tensor: torch.Tensor, *arguments: Any) -> None:
    *numbers, generator = arguments
    fill(tensor, name, key_source(generator, None), None, None, tuple(numbers))


def _fake_op(tensor: torch.Tensor, *arguments: Any) -> None:
    return None


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
        if not isinstance(source, TorchDraw) or global_shape is not None or index is not None:
            raise untraceable(initializer)
        return run_traced(initializer, target, arguments, source.generator)
    return fill_memory(target, initializer, source, global_shape, index, arguments)


def initialize(initializer: str, tensor: torch.Tensor, arguments: tuple[object, ...],
               generator: torch.Generator | None, seed: Seed,
               global_shape: Sequence[int] | None, index: Index) -> torch.Tensor:
    """Eagerly, the fill; under a torch transform, the custom op heinit_rs::<initializer>
    (here while Dynamo traces, which must not see the fill's Python; in `fill` otherwise)."""
    if torch.compiler.is_compiling():
        if seed is not None or global_shape is not None or index is not None:
            raise untraceable(initializer)
        return run_traced(initializer, tensor, arguments, generator)
    return fill(tensor, initializer, key_source(generator, seed), global_shape, index, arguments)


def run_traced(initializer: str, tensor: torch.Tensor, arguments: tuple[object, ...],
               generator: torch.Generator | None) -> torch.Tensor:
    with torch.no_grad():
        getattr(torch.ops.heinit_rs, initializer)(tensor, *arguments, generator)
    return tensor


def untraceable(initializer: str) -> ValueError:
    return ValueError(f"{initializer}'s seed=, global_shape= and index= work on real tensors "
                      "only, not under torch.compile, FakeTensorMode or vmap; pass generator= "
                      "there")
