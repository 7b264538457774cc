"""Replaying deferred_init's record on a real device: the operators that reach the module's
tensors, in order, each random one drawn by heinit_rs keyed by the name of the tensor it flows
into."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils import _pytree as pytree

from heinit_rs.torch._dtensor import dtensor_shard, is_dtensor
from heinit_rs.torch._fill import FLOAT_DTYPES
from heinit_rs.torch._names import NameStreams
from heinit_rs.torch._ops import fill
from heinit_rs.torch._record import (
    ALLOCATIONS,
    HEINIT_DRAWS,
    Node,
    Record,
    bind_arguments,
    storage_of,
    tensors_in,
)

_aten = torch.ops.aten


class _Replay:
    """Real tensors for a record's meta tensors, on `device`."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.made: dict[int, torch.Tensor] = {}  # id(meta tensor) -> real tensor
        self.bases: dict[int, torch.Tensor] = {}  # meta storage -> a real tensor on its twin

    def real(self, tree: Any) -> Any:
        return pytree.tree_map(self._leaf, tree)

    def _leaf(self, leaf: Any) -> Any:
        if isinstance(leaf, torch.Tensor) and leaf.is_meta:
            return self.resolve(leaf)
        if isinstance(leaf, torch.device) and leaf.type == "meta":
            return self.device
        return leaf

    def resolve(self, meta: torch.Tensor) -> torch.Tensor:
        """The real tensor made for `meta`, or the same view of its storage's twin."""
        made = self.made.get(id(meta))
        if made is None:
            base = self.bases.get(storage_of(meta) or 0)
            if base is None:
                raise RuntimeError(
                    "materialize: a meta tensor of this module was not made by the code "
                    "deferred_init recorded (a module or tensor assigned to it afterwards?); "
                    "build the whole model inside deferred_init")
            made = torch.empty(0, dtype=meta.dtype, device=self.device).set_(
                base.untyped_storage(), meta.storage_offset(), meta.size(), meta.stride())
            self.made[id(meta)] = made
        return made

    def bind(self, meta: list[torch.Tensor], real: list[torch.Tensor]) -> None:
        for one, twin in zip(meta, real):
            self.made[id(one)] = twin
            storage = storage_of(one)
            if storage is not None:
                self.bases.setdefault(storage, twin)


def replay(record: Record, module: torch.nn.Module, device: torch.device,
           streams: NameStreams) -> set[str]:
    """Give `module`'s meta parameters and buffers their recorded values on `device`, each
    random fill from the next of `streams` for its name; returns the names of those that
    nothing wrote."""
    for constant, version in record.constants:
        if constant._version != version:
            raise RuntimeError("materialize: a tensor that deferred_init's construction read "
                               "was changed in place afterwards; its recorded use is lost")
    targets = [(name, tensor) for name, tensor in
               [*module.named_parameters(remove_duplicate=False),
                *module.named_buffers(remove_duplicate=False)]
               if tensor is not None and tensor.is_meta]
    sharded = any(is_dtensor(tensor) for _, tensor in targets)
    if sharded:  # FSDP2 replaced them: what construction made, by name
        targets = [(name, _constructed(record, name)) for name, _ in targets]
    owners: dict[int, str] = {}
    for name, tensor in targets:
        storage = storage_of(tensor)
        if storage is None:
            raise ValueError(f"materialize: {name} ({type(tensor).__name__}) is not a tensor "
                             f"deferred_init's record made")
        owners.setdefault(storage, name)
    flows_into = dict(owners)  # storage -> the name of a target it flows into
    chosen: list[tuple[Node, str]] = []
    for node in reversed(record.nodes):
        hit = [flows_into[s] for s in sorted(node.writes) if s in flows_into]
        if hit:
            chosen.append((node, hit[0]))
            for storage in node.reads:
                flows_into.setdefault(storage, hit[0])
    chosen.reverse()

    state = _Replay(device)
    written: set[int] = set()
    with torch.no_grad():
        for node, owner in chosen:
            own = [owners[s] for s in sorted(node.writes) if s in owners]
            name = own[0] if own else f"{owner}:temporary"
            args, kwargs = state.real((node.args, node.kwargs))
            if isinstance(node.run, tuple):
                _, initializer, global_shape, index = node.run
                fill(args[0], initializer, streams.next(name), global_shape, index,
                     tuple(args[1:]))
                out: list[torch.Tensor] = [args[0]]
            else:
                out = _run(node, args, kwargs, streams, name, device)
            state.bind(node.outputs[:node.returned], out)
            if getattr(node.run, "overloadpacket", None) not in ALLOCATIONS:
                written |= node.writes
        untouched = {name for name, tensor in targets if storage_of(tensor) not in written}
        if sharded:
            _copy_shards(module, {name: state.resolve(tensor) for name, tensor in targets},
                         device)
        else:
            _install(module, state)
    return untouched


def _constructed(record: Record, name: str) -> torch.Tensor:
    tensor = record.tensors.get(name)
    if tensor is None:
        raise ValueError(f"materialize: the sharded module's {name} is not a parameter or "
                         f"buffer that deferred_init's construction made")
    return tensor


def _copy_shards(module: torch.nn.Module, values: dict[str, torch.Tensor],
                 device: torch.device) -> None:
    """Memory for a sharded module (to_empty, which FSDP2 follows), then each rank's block of
    each replayed value copied in."""
    module.to_empty(device=device)
    for name, tensor in [*module.named_parameters(remove_duplicate=False),
                         *module.named_buffers(remove_duplicate=False)]:
        value = values.get(name)
        if value is None:
            continue
        if is_dtensor(tensor):
            local, _, index = dtensor_shard(tensor)
            if local is not None and index is not None:
                local.copy_(value[index])
        else:
            tensor.copy_(value)


def _run(node: Node, args: Any, kwargs: dict[str, Any], streams: NameStreams, name: str,
         device: torch.device) -> list[torch.Tensor]:
    func = node.run
    if torch.Tag.nondeterministic_seeded not in func.tags:
        return list(tensors_in(func(*args, **kwargs)))
    stream = streams.next(name)
    draw = HEINIT_DRAWS.get(func.overloadpacket)
    like = node.outputs[0]
    if draw is not None and like.dtype in FLOAT_DTYPES and \
            (func.overloadpacket in (_aten.uniform_, _aten.normal_) or node.returned == 1):
        initializer, arguments = draw(bind_arguments(func, args, kwargs))
        target = args[0] if node.returned == 1 and func._schema.is_mutable else \
            torch.empty_strided(like.size(), like.stride(), dtype=like.dtype, device=device)
        return [fill(target, initializer, stream, None, None, arguments)]
    # Any other random operator (bernoulli_, randint, randperm, ...): torch's own, from a
    # torch.Generator seeded by the same key.
    if any(argument.name == "generator" for argument in func._schema.arguments):
        generator = torch.Generator(device=device)
        generator.manual_seed((stream.key ^ stream.stream) & ((1 << 63) - 1))
        kwargs = {**kwargs, "generator": generator}
    return list(tensors_in(func(*args, **kwargs)))


def _install(module: torch.nn.Module, state: _Replay) -> None:
    """Put the replayed tensors in place of the meta ones; tied parameters stay tied."""
    parameters: dict[int, torch.nn.Parameter] = {}
    for layer in module.modules():
        for name, tensor in list(layer._parameters.items()):
            if tensor is not None and tensor.is_meta:
                if id(tensor) not in parameters:
                    parameters[id(tensor)] = torch.nn.Parameter(
                        state.resolve(tensor), requires_grad=tensor.requires_grad)
                layer._parameters[name] = parameters[id(tensor)]
        for name, buffer in list(layer._buffers.items()):
            if buffer is not None and buffer.is_meta:
                layer._buffers[name] = state.resolve(buffer)
