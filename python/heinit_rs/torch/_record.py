"""deferred_init's record: how a module built on the meta device gave each tensor its value.

The record is torch's own operator stream: a TorchDispatchMode sees every ATen operator that
construction runs (factories, fills, views, copies, in-place arithmetic) on meta tensors, which
have shapes but no memory, so recording costs memory per operator, not per element. Replaying
runs, in order, only the operators whose results reach the module's parameters and buffers at
`materialize` time, on real tensors (_replay.py).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils import _pytree as pytree
from torch.utils._device import DeviceContext
from torch.utils._python_dispatch import TorchDispatchMode


_META = torch.device("meta")
_aten = torch.ops.aten
# Random ATen operators heinit_rs draws for float outputs: packet -> (initializer, arguments).
HEINIT_DRAWS: dict[Any, Callable[[dict[str, Any]], tuple[str, tuple[object, ...]]]] = {
    _aten.uniform_: lambda a: ("uniform_", (a.get("from", 0.0), a.get("to", 1.0))),
    _aten.normal_: lambda a: ("normal_", (a.get("mean", 0.0), a.get("std", 1.0))),
    _aten.rand: lambda a: ("uniform_", (0.0, 1.0)),
    _aten.rand_like: lambda a: ("uniform_", (0.0, 1.0)),
    _aten.randn: lambda a: ("normal_", (0.0, 1.0)),
    _aten.randn_like: lambda a: ("normal_", (0.0, 1.0)),
}
ALLOCATIONS = {_aten.empty, _aten.empty_strided, _aten.empty_like, _aten.new_empty,
                _aten.new_empty_strided}
# torch.tensor(data) and its kin take their values from Python data, which a meta tensor
# would drop: they are made on the CPU and moved to meta, so the record holds the values.
_DATA_CONSTRUCTORS = {torch.tensor, torch.as_tensor, torch.asarray}


@dataclass
class Node:
    """One recorded operator: `run` is an ATen operator, or ("heinit", initializer,
    global_shape, index) for a heinit_rs fill reached on a meta tensor."""

    run: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outputs: list[torch.Tensor]  # what it returns, then the arguments it writes
    returned: int = 0
    reads: set[int] = field(default_factory=set)
    writes: set[int] = field(default_factory=set)


@dataclass
class Record:
    nodes: list[Node] = field(default_factory=list)
    constants: list[tuple[torch.Tensor, int]] = field(default_factory=list)  # (tensor, version)
    # The module's parameters and buffers as construction left them, by name: where sharding
    # replaced one (FSDP2's fully_shard), its name still finds what the record made.
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


_records: weakref.WeakKeyDictionary[torch.nn.Module, Record] = weakref.WeakKeyDictionary()
_recording = threading.local()


def record_of(module: torch.nn.Module) -> Record | None:
    return _records.get(module)


def storage_of(tensor: torch.Tensor) -> int | None:
    """The identity of a meta tensor's storage (views and Parameters share it)."""
    if not tensor.is_meta:
        return None
    try:
        return int(tensor.untyped_storage()._cdata)
    except (RuntimeError, NotImplementedError):
        return None


def tensors_in(tree: Any) -> Iterator[torch.Tensor]:
    return (leaf for leaf in pytree.tree_leaves(tree) if isinstance(leaf, torch.Tensor))


class _Recorder(TorchDispatchMode):  # type: ignore[no-untyped-call, misc, unused-ignore]
    def __init__(self, record: Record) -> None:
        super().__init__()  # type: ignore[no-untyped-call, unused-ignore]
        self.record = record

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        node = Node(func, tuple(args), dict(kwargs), list(tensors_in(out)))
        node.returned = len(node.outputs)
        written = [argument.name for argument in func._schema.arguments
                   if argument.alias_info is not None and argument.alias_info.is_write]
        bound = bind_arguments(func, args, kwargs)
        for name in written:
            node.outputs.extend(tensors_in(bound.get(name)))
        self.add(node, args, kwargs)
        return out

    def add(self, node: Node, args: Any, kwargs: Any) -> None:
        for tensor in tensors_in((args, kwargs)):
            storage = storage_of(tensor)
            if storage is not None:
                node.reads.add(storage)
            elif not tensor.is_meta:
                self.record.constants.append((tensor, tensor._version))
        node.writes = {s for s in map(storage_of, node.outputs) if s is not None}
        self.record.nodes.append(node)


class _MetaDevice(DeviceContext):  # type: ignore[misc, unused-ignore]
    """torch.device("meta"), except that tensors made from data keep their values."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _DATA_CONSTRUCTORS and kwargs.get("device") is None:
            return func(*args, **kwargs).to(_META)
        return super().__torch_function__(  # type: ignore[no-untyped-call, unused-ignore]
            func, types, args, kwargs)


def recorder() -> _Recorder | None:
    return getattr(_recording, "recorder", None)


def record_fill(tensor: torch.Tensor, initializer: str, global_shape: Any, index: Any,
                arguments: tuple[object, ...]) -> bool:
    """Record a heinit_rs fill of a meta tensor while deferred_init records; False if none
    does."""
    active = recorder()
    if active is None:
        return False
    node = Node(("heinit", initializer, global_shape, index), (tensor, *arguments), {},
                 [tensor], returned=1)
    active.add(node, (tensor,), {})
    return True


def bind_arguments(func: Any, args: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """An ATen operator's arguments by schema name."""
    bound = dict(kwargs)
    for argument, value in zip(func._schema.arguments, args):
        bound[argument.name] = value
    return bound


@contextlib.contextmanager
def recording() -> Iterator[Record]:
    """Record what the block runs, on the meta device."""
    if recorder() is not None:
        raise RuntimeError("deferred_init cannot be nested: call it once, on the whole model")
    record = Record()
    mode = _Recorder(record)
    _recording.recorder = mode
    try:
        with _MetaDevice(_META), mode:
            yield record
    finally:
        _recording.recorder = None


def keep(module: torch.nn.Module, record: Record) -> None:
    record.tensors = {name: tensor for name, tensor in
                      [*module.named_parameters(remove_duplicate=False),
                       *module.named_buffers(remove_duplicate=False)] if tensor is not None}
    _records[module] = record
