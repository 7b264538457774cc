"""Blocks of a global array: what `index=` and `global_shape=` select, by NumPy's rules."""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass

import numpy as np

from heinit_rs._fans import check_shape


@dataclass(frozen=True)
class Block:
    """The block offset .. offset + shape of a C-order array of global_shape; `squeezed` are
    the axes an integer index removes from the result."""

    global_shape: tuple[int, ...]
    offset: tuple[int, ...]
    shape: tuple[int, ...]
    squeezed: tuple[int, ...]

    @property
    def result_shape(self) -> tuple[int, ...]:
        if not self.squeezed:
            return self.shape
        return tuple(n for axis, n in enumerate(self.shape) if axis not in self.squeezed)

    @property
    def is_whole(self) -> bool:
        return self.shape is self.global_shape or (
            self.shape == self.global_shape and not self.squeezed)


def block_of(global_shape: tuple[int, ...], index: object) -> Block:
    """The block `index` selects, by NumPy's rules for basic indexing: slices are clipped to
    the axis (start > stop gives an empty axis), an int outside the axis is an IndexError, and
    one Ellipsis stands for the axes not named. Only step-1 slices select a block."""
    if index is None:
        return _whole(global_shape)
    ndim = len(global_shape)
    entries = index if isinstance(index, tuple) else (index,)
    ellipses = [k for k, entry in enumerate(entries) if entry is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    named = len(entries) - len(ellipses)
    if named > ndim:
        raise IndexError(
            f"too many indices: the shape has {ndim} dimensions but {named} were indexed"
        )
    if ellipses:
        k = ellipses[0]
        entries = entries[:k] + (slice(None),) * (ndim - named) + entries[k + 1:]
    entries = entries + (slice(None),) * (ndim - len(entries))
    offset, shape, squeezed = [], [], []
    for axis, (entry, n) in enumerate(zip(entries, global_shape)):
        if isinstance(entry, slice):
            try:
                start, stop, step = entry.indices(n)
            except TypeError:
                raise TypeError(f"index[{axis}] = {entry} must have int bounds") from None
            if step != 1:
                raise ValueError(f"index[{axis}] has step {entry.step}; only step 1 is supported")
            offset.append(start)
            shape.append(max(stop - start, 0))
        elif isinstance(entry, numbers.Integral) and not isinstance(entry, (bool, np.bool_)):
            position = int(entry)
            if not -n <= position < n:
                raise IndexError(f"index {position} is out of bounds for axis {axis} with size {n}")
            offset.append(position % n)
            shape.append(1)
            squeezed.append(axis)
        else:
            raise TypeError(
                f"index[{axis}] must be a slice with step 1, an int or '...', "
                f"got {type(entry).__name__}"
            )
    return Block(global_shape, tuple(offset), tuple(shape), tuple(squeezed))


@functools.lru_cache(maxsize=1024)
def _whole(global_shape: tuple[int, ...]) -> Block:
    """The whole array as a block: models ask for the same few shapes again and again."""
    return Block(global_shape, (0,) * len(global_shape), global_shape, ())


def array_block(arr: np.ndarray, global_shape: object, index: object) -> Block:
    """The block of `global_shape` that `arr` is: `index` of it, or all of arr."""
    if global_shape is None:
        if index is not None:
            raise ValueError("index needs global_shape: the shape of the whole logical array")
        return block_of(arr.shape, None)
    block = block_of(check_shape(global_shape, "global_shape"), index)
    if arr.shape != block.result_shape:
        raise ValueError(
            f"arr has shape {arr.shape} but index selects a block of shape {block.result_shape} "
            f"from global_shape {block.global_shape}"
        )
    return block
