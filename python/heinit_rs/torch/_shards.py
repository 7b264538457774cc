"""The real tensors of a replay: the whole tensors of a piece of deferred_init's record, or
this rank's blocks of them where each operator acts element by element (block by block as on
the whole), and the shard of each of the module's tensors that a rank holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils import _pytree as pytree

from heinit_rs.torch._dtensor import dtensor_shard, is_dtensor, local_part, one_block
from heinit_rs.torch._fill import FLOAT_DTYPES
from heinit_rs.torch._record import (
    ALLOCATIONS,
    HEINIT_DRAWS,
    Node,
    bind_arguments,
    storage_of,
    tensors_in,
)

_aten = torch.ops.aten
# Factories whose value at an index is a constant: (packet, the fill value or its argument's
# name; None for no value).
FACTORIES: dict[Any, object] = {
    **{packet: None for packet in ALLOCATIONS},
    _aten.zeros: 0, _aten.zeros_like: 0, _aten.new_zeros: 0,
    _aten.ones: 1, _aten.ones_like: 1, _aten.new_ones: 1,
    _aten.full: "fill_value", _aten.full_like: "fill_value", _aten.new_full: "fill_value",
}
# Views that are the whole tensor when their shape is the tensor's, and copies that keep each
# element where it is: block by block as they are on the whole.
WHOLE_VIEWS = {_aten.detach, _aten.alias, _aten.view, _aten._unsafe_view, _aten.reshape,
                _aten.lift_fresh}
ELEMENTWISE = {*WHOLE_VIEWS, _aten.clone, _aten._to_copy, _aten.copy_, _aten.fill_,
                _aten.zero_}
IN_PLACE_DRAWS = {_aten.uniform_, _aten.normal_}
# Operators that a block replay runs, listed for docs/frameworks.md.
BLOCKWISE = ("torch.nn.init's and heinit_rs' random fills of a whole tensor, "
             "Tensor.uniform_/normal_, torch.rand/randn and their _like forms, the "
             "empty/zeros/ones/full factories, fill_, zero_, copy_, clone, dtype "
             "conversions, views of the whole tensor, and every ATen operator tagged "
             "pointwise (arithmetic, clamp, where, ...) with scalars or operands of the "
             "tensor's shape")


class Replay:
    """Real tensors for a record's meta tensors, on `device`."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.made: dict[int, torch.Tensor] = {}  # id(meta tensor) -> real tensor
        self.bases: dict[int, torch.Tensor] = {}  # meta storage -> a real tensor on its twin
        self.storage_at: dict[int, int] = {}  # the running node's

    def real(self, node: Node) -> Any:
        """`node`'s arguments, each meta tensor replaced by its real twin."""
        self.storage_at = node.storage_at
        return pytree.tree_map(self._leaf, (node.args, node.kwargs))

    def storage(self, meta: torch.Tensor) -> int:
        return self.storage_at.get(id(meta)) or storage_of(meta) or 0

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
            base = self.bases[self.storage(meta)]
            made = torch.empty(0, dtype=meta.dtype, device=self.device).set_(
                base.untyped_storage(), meta.storage_offset(), meta.size(), meta.stride())
            self.made[id(meta)] = made
        return made

    def value(self, meta: torch.Tensor) -> torch.Tensor:
        """The real tensor for `meta` as the replay left it."""
        self.storage_at = {}
        return self.resolve(meta)

    def bind(self, meta: list[torch.Tensor], real: list[torch.Tensor]) -> None:
        for one, twin in zip(meta, real):
            self.made[id(one)] = twin
            storage = storage_of(one)
            if storage is not None:
                self.bases.setdefault(storage, twin)


class BlockReplay(Replay):
    """Real blocks `index` of a record's meta tensors of shape `global_shape`: each storage
    is one block tensor, views of the whole tensor are that tensor."""

    def __init__(self, device: torch.device, global_shape: tuple[int, ...],
                 index: tuple[slice, ...], blocks: dict[int, torch.Tensor]) -> None:
        super().__init__(device)
        self.global_shape = global_shape
        self.index = index
        self.blocks = blocks  # meta storage -> its block (the module's shards to start with)

    def _leaf(self, leaf: Any) -> Any:
        if isinstance(leaf, torch.Tensor) and not leaf.is_meta and \
                tuple(leaf.shape) == self.global_shape:
            return leaf[self.index]  # a constant of the tensor's shape: its block
        return super()._leaf(leaf)

    def resolve(self, meta: torch.Tensor) -> torch.Tensor:
        return self.blocks[self.storage(meta)]

    def new(self, like: torch.Tensor) -> torch.Tensor:
        """The block of a tensor a factory makes: the module's shard where it is one."""
        block = self.blocks.get(storage_of(like) or 0)
        if block is None or block.dtype != like.dtype:
            block = torch.empty([s.stop - s.start for s in self.index], dtype=like.dtype,
                                device=self.device)
        return block

    def bind(self, meta: list[torch.Tensor], real: list[torch.Tensor]) -> None:
        for one, twin in zip(meta, real):
            storage = storage_of(one)
            if storage is None:
                continue
            block = self.blocks.get(storage)
            if block is None:
                self.blocks[storage] = twin
            elif block is not twin:
                block.copy_(twin)


@dataclass
class Shard:
    """A module's tensor on this rank: its local tensor (None outside the DTensor's mesh), the
    global shape and the block it holds (None: the whole tensor, or not one block)."""

    local: torch.Tensor | None
    global_shape: tuple[int, ...]
    index: tuple[slice, ...] | None
    dtensor: Any = None  # a DTensor whose placements are not one block (strided sharding)

    @property
    def block(self) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...] | None]:
        return self.global_shape, None if self.index is None else tuple(
            (s.start, s.stop) for s in self.index)

    def take(self, value: torch.Tensor) -> None:
        """Copy this rank's part of the whole `value` into the local tensor."""
        if self.local is None:
            return
        if self.dtensor is not None:
            part = local_part(self.dtensor, value)
        else:
            part = value if self.index is None else value[self.index]
        self.local.copy_(part)


def shard_of(tensor: torch.Tensor) -> Shard:
    if not is_dtensor(tensor):
        return Shard(tensor, tuple(tensor.shape), None)
    if not one_block(tensor):
        local = tensor.to_local()  # type: ignore[attr-defined, unused-ignore]
        return Shard(local, tuple(tensor.shape), None, dtensor=tensor)
    local, global_shape, index = dtensor_shard(tensor)
    if index is not None and all(s.start == 0 and s.stop == n
                                 for s, n in zip(index, global_shape)):
        index = None
    return Shard(local, global_shape, index)


def blockwise(nodes: list[tuple[Node, str]], global_shape: tuple[int, ...]) -> bool:
    """Whether each of the piece's operators gives a block of its result from the same block
    of its operands (docs/frameworks.md lists them)."""
    for node, _ in nodes:
        if isinstance(node.run, tuple):
            if node.run[2] is not None or node.run[3] is not None:  # a block of its own
                return False
            continue
        metas = [t for t in tensors_in((node.args, node.kwargs, node.outputs)) if t.is_meta]
        if any(tuple(t.shape) != global_shape or t.storage_offset() != 0 or
               not t.is_contiguous() for t in metas):
            return False
        if any(t.dim() != 0 and tuple(t.shape) != global_shape
               for t in tensors_in((node.args, node.kwargs)) if not t.is_meta):
            return False
        func = node.run
        packet = func.overloadpacket
        floats = all(t.dtype in FLOAT_DTYPES for t in node.outputs)
        if packet in FACTORIES or packet in ELEMENTWISE:
            continue
        if torch.Tag.nondeterministic_seeded in func.tags:
            if packet in HEINIT_DRAWS and floats:
                continue
            return False
        if torch.Tag.pointwise not in func.tags:
            return False
    return True


def factory_block(node: Node, state: BlockReplay) -> torch.Tensor:
    block = state.new(node.outputs[0])
    value = FACTORIES[node.run.overloadpacket]
    if isinstance(value, str):
        value = bind_arguments(node.run, node.args, node.kwargs)[value]
    if value is not None:
        block.fill_(value)  # type: ignore[call-overload, unused-ignore]
    return block


