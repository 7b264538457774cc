"""DTensor (FSDP2, tensor parallel) support: a DTensor is filled per local shard, from that
shard's offset in the global shape, so a sharded weight equals the unsharded one."""

from __future__ import annotations

import functools
from typing import Any

import torch


@functools.cache
def _dtensor_class() -> type | None:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # a torch built without distributed support
        return None
    dtensor: type = DTensor
    return dtensor


def is_dtensor(tensor: object) -> bool:
    dtensor = _dtensor_class()
    return dtensor is not None and isinstance(tensor, dtensor)


def dtensor_shard(
        tensor: Any) -> tuple[torch.Tensor | None, tuple[int, ...], tuple[slice, ...] | None]:
    """(local shard, global shape, index of the shard) of a DTensor with Shard or Replicate
    placements; the local shard is None on a rank outside its mesh."""
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    for placement in tensor.placements:
        if not isinstance(placement, (Shard, Replicate)):
            raise ValueError(f"a DTensor is filled per shard from Shard or Replicate "
                             f"placements; got {placement}")
    global_shape = tuple(tensor.shape)
    if tensor.device_mesh.get_coordinate() is None:
        return None, global_shape, None
    local = tensor.to_local()
    shape, offset = compute_local_shape_and_global_offset(global_shape, tensor.device_mesh,
                                                          tensor.placements)
    if tuple(local.shape) != tuple(shape):
        raise ValueError(f"the DTensor's local shard has shape {tuple(local.shape)}, but its "
                         f"placements give {tuple(shape)}")
    return local, global_shape, tuple(slice(o, o + n) for o, n in zip(offset, shape))


def one_block(tensor: Any) -> bool:
    """Whether a DTensor's local shard is one block of the global tensor (Shard and Replicate
    placements; strided sharding, as FSDP2 over tensor parallelism lays out, is not)."""
    from torch.distributed.tensor import Replicate, Shard

    return all(type(placement) in (Shard, Replicate) for placement in tensor.placements)


def local_part(tensor: Any, whole: torch.Tensor) -> torch.Tensor:
    """This rank's part of a DTensor whose whole value `whole` every rank holds, as DTensor
    lays it out (no communication)."""
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(whole, tensor.device_mesh, tensor.placements,
                             src_data_rank=None).to_local()


def local_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """A DTensor's local shard, any other tensor itself."""
    return tensor.to_local() if is_dtensor(tensor) else tensor  # type: ignore[attr-defined, no-any-return, unused-ignore]
