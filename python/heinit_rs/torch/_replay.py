"""Replaying deferred_init's record on a real device: the operators that reach the module's
tensors, in order, each random one drawn by heinit_rs keyed by the name of the tensor it flows
into.

The record splits into pieces: operators linked through the tensors they read and write (a
parameter's allocation, fills and arithmetic; a temporary and every parameter it is copied
into). Pieces are replayed one at a time and their temporaries freed before the next, so no
value of the whole model is held beyond the module's own tensors. Where the module's tensors
are DTensors (FSDP2, tensor parallel), a piece whose operators act element by element on
tensors of one shape is replayed on this rank's block alone (random fills at the block's global
offsets); any other piece is replayed whole, its block copied out, then freed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from heinit_rs.torch._dtensor import is_dtensor
from heinit_rs.torch._fill import FLOAT_DTYPES
from heinit_rs.torch._names import NameStreams
from heinit_rs.torch._ops import fill
from heinit_rs.torch._record import (
    HEINIT_DRAWS,
    Node,
    Record,
    bind_arguments,
    storage_of,
    tensors_in,
)
from heinit_rs.torch._shards import (
    FACTORIES,
    IN_PLACE_DRAWS,
    WHOLE_VIEWS,
    BlockReplay,
    Replay,
    Shard,
    blockwise,
    factory_block,
    shard_of,
)


@dataclass
class _Piece:
    """Operators linked through the tensors they read and write, in construction order, each
    with the name that keys its random draws."""

    nodes: list[tuple[Node, str]] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # the module's tensors it makes


def replay(record: Record, module: torch.nn.Module, device: torch.device,
           streams: NameStreams) -> set[str]:
    """Give `module`'s meta parameters and buffers their recorded values on `device`, each
    random fill from the next of `streams` for its name; returns the names of those that
    nothing wrote."""
    present = {name: tensor for name, tensor in _named_tensors(module) if tensor.is_meta}
    sharded = any(is_dtensor(tensor) for tensor in present.values())
    made = {name: _constructed(record, name) if is_dtensor(tensor) else tensor
            for name, tensor in present.items()}
    for name, tensor in made.items():
        if storage_of(tensor) is None:
            raise ValueError(f"materialize: {name} ({type(tensor).__name__}) is not a tensor "
                             f"deferred_init's record made")
    pieces = _pieces(record, made)
    if sharded:
        _to_empty_keeping_ties(module, device)  # FSDP2's shards, which to_empty allocates
        shards = {name: shard_of(tensor) for name, tensor in _named_tensors(module)}
    values: dict[str, torch.Tensor] = {}
    untouched: set[str] = set()
    with torch.no_grad():
        for piece in pieces:
            if sharded:
                written = _replay_shards(piece, made, shards, device, streams)
            else:
                state, written = _replay_whole(piece, device, streams)
                values.update({name: state.value(made[name]) for name in piece.targets})
            untouched |= {name for name in piece.targets if storage_of(made[name]) not in written}
    if not sharded:
        _install(module, {id(present[name]): value for name, value in values.items()})
    return untouched


def _to_empty_keeping_ties(module: torch.nn.Module, device: torch.device) -> None:
    """module.to_empty(device), with parameters shared by several modules (a tied embedding
    and output layer) still shared: to_empty gives each module a tensor of its own."""
    places: dict[int, list[tuple[torch.nn.Module, str]]] = {}
    for layer in module.modules():
        for name, tensor in layer._parameters.items():
            if tensor is not None:
                places.setdefault(id(tensor), []).append((layer, name))
    module.to_empty(device=device)
    for (first, first_name), *others in places.values():
        for layer, name in others:
            layer._parameters[name] = first._parameters[first_name]


def _named_tensors(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(name, tensor) for name, tensor in
            [*module.named_parameters(remove_duplicate=False),
             *module.named_buffers(remove_duplicate=False)] if tensor is not None]


def _pieces(record: Record, made: dict[str, torch.Tensor]) -> list[_Piece]:
    """The record's pieces that make the tensors `made`, in construction order. Keys come
    from the whole construction (record.tensors): a temporary is keyed by the last tensor of
    the constructed model it flows into, whichever of them the module still has."""
    owners: dict[int, str] = {}
    for name, tensor in [*record.tensors.items(), *made.items()]:
        storage = storage_of(tensor)
        if storage is not None:
            owners.setdefault(storage, name)
    flows_into = dict(owners)  # storage -> the name of a tensor it flows into
    chosen: list[tuple[Node, str]] = []
    for node in reversed(record.nodes):
        hit = [flows_into[s] for s in node.writes if s in flows_into]
        if hit:
            own = [owners[s] for s in node.writes if s in owners]
            chosen.append((node, min(own) if own else f"{min(hit)}:temporary"))
            for storage in node.reads:
                flows_into.setdefault(storage, min(hit))
    chosen.reverse()

    parent: dict[int, int] = {}

    def root(storage: int) -> int:
        while parent.setdefault(storage, storage) != storage:
            parent[storage] = parent[parent[storage]]
            storage = parent[storage]
        return storage

    for node, _ in chosen:
        linked = [*node.writes, *node.reads]
        for storage in linked[1:]:
            parent[root(storage)] = root(linked[0])
    pieces: dict[int, _Piece] = {}
    for node, name in chosen:
        pieces.setdefault(root(next(iter(node.writes))), _Piece()).nodes.append((node, name))
    for name, tensor in made.items():
        piece = pieces.get(root(storage_of(tensor) or 0))
        if piece is None:
            raise RuntimeError(
                f"materialize: {name} is a meta tensor that the construction deferred_init "
                f"recorded did not make (a module or tensor assigned to the model "
                f"afterwards?); build the whole model inside deferred_init")
        piece.targets.append(name)
    return [piece for piece in pieces.values() if piece.targets]


def _replay_whole(piece: _Piece, device: torch.device,
                  streams: NameStreams) -> tuple[Replay, set[int]]:
    state = Replay(device)
    return state, _run_nodes(piece.nodes, state, device, streams)


def _run_nodes(nodes: Iterable[tuple[Node, str]], state: Replay, device: torch.device,
               streams: NameStreams) -> set[int]:
    """Run `nodes` on `state`'s real tensors; the storages they gave values. A fill whose
    values a later fill of the whole tensor replaces unread (Linear's reset_parameters before
    the model's own init) is skipped, its stream still counted: the values are the same."""
    nodes = list(nodes)
    dead = _overwritten(nodes)
    written: set[int] = set()
    for position, (node, name) in enumerate(nodes):
        args, kwargs = state.real(node)
        if position in dead:
            if isinstance(node.run, tuple) or node.run.overloadpacket in IN_PLACE_DRAWS:
                streams.next(name)
            out: list[torch.Tensor] = [args[0]]
        elif isinstance(node.run, tuple):
            _, initializer, global_shape, index = node.run
            if isinstance(state, BlockReplay):
                global_shape, index = state.global_shape, state.index
            fill(args[0], initializer, streams.next(name), global_shape, index,
                 tuple(args[1:]))
            out = [args[0]]
        elif isinstance(state, BlockReplay) and node.run.overloadpacket in FACTORIES:
            out = [factory_block(node, state)]
        elif isinstance(state, BlockReplay) and node.run.overloadpacket in WHOLE_VIEWS:
            out = [args[0]]  # the block itself
        else:
            out = _run(node, args, kwargs, streams, name, device, state)
        state.bind(node.outputs[:node.returned], out)
        if node.assigns:
            written |= node.writes
    return written


_OVERWRITES = {*IN_PLACE_DRAWS, torch.ops.aten.fill_, torch.ops.aten.zero_}


def _overwritten(nodes: list[tuple[Node, str]]) -> set[int]:
    """The positions of fills of a whole tensor whose values a later fill of the whole
    tensor replaces before anything reads them."""
    dead: set[int] = set()
    replaced: set[int] = set()  # storages whose next use is a fill of the whole tensor
    for position in range(len(nodes) - 1, -1, -1):
        node = nodes[position][0]
        whole = _fills_whole(node)
        if whole is not None:
            if whole in replaced:
                dead.add(position)
            replaced.add(whole)
        elif isinstance(node.run, tuple) or node.run.overloadpacket not in WHOLE_VIEWS:
            replaced -= node.reads | node.writes
    return dead


def _fills_whole(node: Node) -> int | None:
    """The storage that `node` fills whole without reading it, if it is such a fill."""
    if isinstance(node.run, tuple):
        if node.run[2] is not None or node.run[3] is not None:
            return None
    elif node.run.overloadpacket not in _OVERWRITES:
        return None
    target = node.args[0]
    storage = node.storage_at.get(id(target))
    if storage is None or node.reads != {storage} or target.storage_offset() != 0 or \
            not target.is_contiguous() or \
            target.numel() * target.element_size() != target.untyped_storage().nbytes():
        return None
    return storage


def _replay_shards(piece: _Piece, made: dict[str, torch.Tensor], shards: dict[str, Shard],
                   device: torch.device, streams: NameStreams) -> set[int]:
    """Replay `piece` into this rank's shards of its targets: on the block alone where every
    target has the same block and every operator acts element by element, else whole."""
    first = shards[piece.targets[0]]
    if first.index is not None and first.dtensor is None and \
            all(shards[name].block == first.block for name in piece.targets) and \
            blockwise(piece.nodes, first.global_shape):
        blocks: dict[int, torch.Tensor] = {}
        for name in piece.targets:
            local = shards[name].local
            if local is not None:
                blocks[storage_of(made[name]) or 0] = local
        state = BlockReplay(device, first.global_shape, first.index, blocks)
        return _run_nodes(piece.nodes, state, device, streams)
    whole, written = _replay_whole(piece, device, streams)
    for name in piece.targets:
        shards[name].take(whole.value(made[name]))
    return written


def _constructed(record: Record, name: str) -> torch.Tensor:
    tensor = record.tensors.get(name)
    if tensor is None:
        raise ValueError(f"materialize: the sharded module's {name} is not a parameter or "
                         f"buffer that deferred_init's construction made")
    return tensor


def _run(node: Node, args: Any, kwargs: dict[str, Any], streams: NameStreams, name: str,
         device: torch.device, state: Replay) -> list[torch.Tensor]:
    func = node.run
    if torch.Tag.nondeterministic_seeded not in func.tags:
        return list(tensors_in(func(*args, **kwargs)))
    stream = streams.next(name)
    draw = HEINIT_DRAWS.get(func.overloadpacket)
    like = node.outputs[0]
    if draw is not None and like.dtype in FLOAT_DTYPES and \
            (func.overloadpacket in IN_PLACE_DRAWS or node.returned == 1):
        initializer, arguments = draw(bind_arguments(func, args, kwargs))
        if node.returned == 1 and func._schema.is_mutable:
            target = args[0]
        elif isinstance(state, BlockReplay):
            target = state.new(like)
        else:
            target = torch.empty_strided(like.size(), like.stride(), dtype=like.dtype,
                                         device=device)
        global_shape, index = (state.global_shape, state.index) \
            if isinstance(state, BlockReplay) else (None, None)
        return [fill(target, initializer, stream, global_shape, index, arguments)]
    # Any other random operator (bernoulli_, randint, randperm, complex randn, ...): torch's
    # own, from a torch.Generator seeded by the same key, through the operator's overload that
    # takes a generator where this one takes none.
    seeded = _with_generator(func)
    generator = torch.Generator(device=device)
    generator.manual_seed((stream.key ^ stream.stream) & ((1 << 63) - 1))
    bound = bind_arguments(func, args, kwargs)
    bound["generator"] = generator
    return list(tensors_in(seeded(**bound)))


def _with_generator(func: Any) -> Any:
    """`func`, or the overload of its operator that takes the same arguments and a generator."""
    names = {argument.name for argument in func._schema.arguments}
    if "generator" in names:
        return func
    for overload in func.overloadpacket.overloads():
        candidate = getattr(func.overloadpacket, overload)
        if {argument.name for argument in candidate._schema.arguments} == names | {"generator"}:
            return candidate
    raise RuntimeError(f"materialize: the random operator {func} has no overload that takes "
                       f"a generator, so its values cannot be keyed by seed=")


def _install(module: torch.nn.Module, values: dict[int, torch.Tensor]) -> None:
    """Put the replayed tensors (by id of the meta tensor they replace) in place of the meta
    ones; tied parameters stay tied."""
    parameters: dict[int, torch.nn.Parameter] = {}
    for layer in module.modules():
        for name, tensor in list(layer._parameters.items()):
            if tensor is not None and tensor.is_meta:
                if id(tensor) not in parameters:
                    parameters[id(tensor)] = torch.nn.Parameter(
                        values[id(tensor)], requires_grad=tensor.requires_grad)
                layer._parameters[name] = parameters[id(tensor)]
        for name, buffer in list(layer._buffers.items()):
            if buffer is not None and buffer.is_meta:
                layer._buffers[name] = values[id(buffer)]
