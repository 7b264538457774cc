"""deferred_init's record: how a module built on the meta device gave each tensor its value.

The record is torch's own operator stream: a TorchDispatchMode sees every ATen operator that
construction runs (factories, fills, views, copies, in-place arithmetic) on meta tensors, which
have shapes but no memory, so recording costs memory per operator, not per element. Replaying
runs, in order, only the operators whose results reach the module's parameters and buffers at
`materialize` time, on real tensors (_replay.py).
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils import _pytree as pytree
from torch.utils._device import DeviceContext, _device_constructors
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
    # Whether it gives values to what it writes: an allocation or a view does not.
    assigns: bool = True
    # id -> storage of each meta tensor it reads, when it ran (Tensor.set_, which
    # parametrizations' right_inverse runs, moves a tensor to another storage later).
    storage_at: dict[int, int] = field(default_factory=dict)


@dataclass
class Record:
    nodes: list[Node] = field(default_factory=list)
    # Copies of the real (CPU) tensors construction read into meta tensors, taken when it read
    # them: NumPy writes to an array behind torch.from_numpy bypass torch's version counter.
    constants: list[torch.Tensor] = field(default_factory=list)
    # The module's parameters and buffers as construction left them, by name: where sharding
    # replaced one (FSDP2's fully_shard), its name still finds what the record made.
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


_records: weakref.WeakKeyDictionary[torch.nn.Module, Record] = weakref.WeakKeyDictionary()
_recording = threading.local()
# The recording patches (torch.Tensor's is_meta and __new__, torch.manual_seed) are global:
# one recording at a time.
_recording_lock = threading.Lock()


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
        bound = bind_arguments(func, args, kwargs)
        if bound.get("generator") not in (None, torch.default_generator):
            raise seeded_construction(f"passes its own generator= to {func.overloadpacket}")
        out = func(*args, **kwargs)
        outputs = list(tensors_in(out))
        if not any(t.is_meta for t in (*outputs, *tensors_in((args, kwargs)))):
            return out  # real tensors alone: nothing of it reaches a meta tensor
        node = Node(func, tuple(args), dict(kwargs), outputs)
        node.returned = len(node.outputs)
        written = [argument.name for argument in func._schema.arguments
                   if argument.alias_info is not None and argument.alias_info.is_write]
        for name in written:
            node.outputs.extend(tensors_in(bound.get(name)))
        views = all(r.alias_info is not None for r in func._schema.returns)
        node.assigns = func.overloadpacket not in ALLOCATIONS and bool(written or not views)
        self.add(node)
        return out

    def add(self, node: Node) -> None:
        """Append `node`, its real tensors replaced by copies (the values construction used)."""
        def snapshot(leaf: Any) -> Any:
            if isinstance(leaf, torch.Tensor) and not leaf.is_meta:
                copy = leaf.detach().clone()
                self.record.constants.append(copy)
                return copy
            return leaf

        node.args, node.kwargs = pytree.tree_map(snapshot, (node.args, node.kwargs))
        node.storage_at = {id(t): s for t in tensors_in((node.args, node.kwargs))
                           if (s := storage_of(t)) is not None}
        node.reads = set(node.storage_at.values())
        node.writes = {s for s in map(storage_of, node.outputs) if s is not None}
        self.record.nodes.append(node)


# DeviceContext knows torch's factories by identity, from a set it makes on first use: made
# now, it holds torch's own torch.randn and kin, not fast_init's wrappers of them (which call
# those, and would make CPU tensors on a set made while they are installed).
_device_constructors()


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


def seeded_construction(what: str) -> RuntimeError:
    """The error for a constructor that fixes its own random values."""
    return RuntimeError(
        f"deferred_init: the constructor {what} (at {_user_line()}); materialize keys every "
        f"random value by seed= and the tensor's name instead, so that seeding cannot hold "
        f"there. Remove it from the constructor (seed materialize instead), or build the "
        f"model normally")


def _user_line(frames: traceback.StackSummary | None = None) -> str:
    """file:line of the innermost of `frames` (by default the stack) outside torch and
    heinit_rs."""
    for frame in reversed(traceback.extract_stack() if frames is None else frames):
        if f"{_SEP}torch{_SEP}" not in frame.filename and \
                f"{_SEP}heinit_rs{_SEP}" not in frame.filename:
            return f"{frame.filename}:{frame.lineno}"
    return "an unknown line"


_SEP = "/" if "/" in __file__ else "\\"
# torch.nn.init functions that return early on a meta tensor (`if tensor.is_meta: return`),
# found in torch's own code: while deferred_init records, `is_meta` reads False in their frames
# alone, so they run their operators on the meta tensor and the record gets them.
_SKIP_META = {f.__code__ for f in vars(torch.nn.init).values()
              if inspect.isfunction(f) and "is_meta" in f.__code__.co_names}
META_SKIPPING_INITS = sorted(f.__name__ for f in vars(torch.nn.init).values()
                             if inspect.isfunction(f) and f.__code__ in _SKIP_META)
_IS_META = torch._C.TensorBase.__dict__["is_meta"]
_TENSOR_NEW = torch.Tensor.__new__
_MANUAL_SEEDS = {(torch, "manual_seed"), (torch.random, "manual_seed"),
                 (torch.cuda, "manual_seed"), (torch.cuda, "manual_seed_all")}


def _is_meta(tensor: torch.Tensor) -> bool:
    meta = bool(_IS_META.__get__(tensor))
    if meta and recorder() is not None and sys._getframe(1).f_code in _SKIP_META:
        return False
    return meta


def _legacy_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    """torch.Tensor(n, m, ...) and torch.Tensor(size) while recording: meta, as torch.empty
    would make it (the legacy constructor ignores the default device)."""
    sizes = args[0] if len(args) == 1 and isinstance(args[0], torch.Size) else args
    if cls is torch.Tensor and recorder() is not None and args and not kwargs and \
            all(isinstance(n, int) for n in sizes):
        return torch.empty(sizes, device=_META)
    return _TENSOR_NEW(cls, *args, **kwargs)


def _refuse_seeding(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise seeded_construction(f"calls torch.{name}")
    return refuse


@contextlib.contextmanager
def _recording_patches() -> Iterator[None]:
    saved = [(owner, name, getattr(owner, name)) for owner, name in _MANUAL_SEEDS]
    for owner, name, _ in saved:
        setattr(owner, name, _refuse_seeding(name))
    torch.Tensor.is_meta = property(_is_meta)  # type: ignore[method-assign, assignment, unused-ignore]
    torch.Tensor.__new__ = _legacy_new  # type: ignore[method-assign, assignment, unused-ignore]
    try:
        yield
    finally:
        del torch.Tensor.is_meta
        del torch.Tensor.__new__
        for owner, name, original in saved:
            setattr(owner, name, original)


def record_fill(tensor: torch.Tensor, initializer: str, global_shape: Any, index: Any,
                arguments: tuple[object, ...]) -> bool:
    """Record a heinit_rs fill of a meta tensor while deferred_init records; False if none
    does."""
    active = recorder()
    if active is None:
        return False
    node = Node(("heinit", initializer, global_shape, index), (tensor, *arguments), {},
                 [tensor], returned=1)
    active.add(node)
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
        with _recording_lock, _recording_patches(), _MetaDevice(_META), mode:
            try:
                yield record
            except (NotImplementedError, RuntimeError) as error:
                if "meta" not in str(error) or str(error).startswith("deferred_init"):
                    raise
                line = _user_line(traceback.extract_tb(error.__traceback__))
                raise RuntimeError(
                    f"deferred_init: construction read the value of a meta tensor at {line} "
                    f"({error}). Under deferred_init tensors have shapes but no values, so a value computed from a random or uninitialized "
                    f"tensor cannot be read; compute it from Python numbers, or build the "
                    f"model normally (with heinit_rs.torch.fast_init() for fast fills), or "
                    f"on the meta device and materialize(init='reset' or a callable)") \
                    from error
    finally:
        _recording.recorder = None



def keep(module: torch.nn.Module, record: Record) -> None:
    record.tensors = {name: tensor for name, tensor in
                      [*module.named_parameters(remove_duplicate=False),
                       *module.named_buffers(remove_duplicate=False)] if tensor is not None}
    _records[module] = record
