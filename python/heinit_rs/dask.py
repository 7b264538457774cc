"""heinit_rs for Dask: initializers that return a ``dask.array.Array``.

Each chunk is one task that generates that block of the weight alone, at its global offset,
with the Rust kernel (``index=`` of the NumPy API): no task reads another, the graph holds no
arrays, and the result equals the in-memory array of the same seed bit for bit, whatever the
chunks and wherever the tasks run (a ``dask.distributed`` cluster included). The call makes
its one draw from `seed` when the graph is built; the workers only compute.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from heinit_rs import _initializers
from heinit_rs._checks import check_dtype
from heinit_rs._fans import AxisSpec, check_shape
from heinit_rs._gains import Activation
from heinit_rs._presets import PRESETS, document
from heinit_rs._random import FixedStream, resolve_seed

__all__ = [
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "variance_scaling",
]

Seed = _initializers.Seed
Chunks = Any  # what dask.array accepts: "auto", an int, a tuple of ints or of tuples
NewArray = Callable[..., np.ndarray]


def _block(new_array: NewArray, source: FixedStream,
           index: tuple[slice, ...]) -> np.ndarray:
    return new_array(index=index, seed=source)


def _dask_array(new_array: NewArray, shape: tuple[int, ...], dtype: np.dtype, chunks: Chunks,
                seed: Seed) -> da.Array:
    """A Dask array whose every chunk is `new_array(index=chunk, seed=...)` for one draw."""
    _initializers.check_new_array(new_array, shape)
    normalized = da.core.normalize_chunks(  # type: ignore[no-untyped-call, unused-ignore]
        chunks, shape, dtype=dtype)
    key, stream, _ = resolve_seed(seed)
    source = FixedStream(key, stream)
    name = f"heinit_rs-{tokenize(new_array, key, stream, normalized)}"
    starts = [list(itertools.accumulate(axis[:-1], initial=0)) for axis in normalized]
    graph: dict[Any, Any] = {}
    for position in itertools.product(*(range(len(axis)) for axis in normalized)):
        index = tuple(slice(starts[a][i], starts[a][i] + normalized[a][i])
                      for a, i in enumerate(position))
        graph[(name, *position)] = (_block, new_array, source, index)
    layers = HighLevelGraph.from_collections(name, graph, dependencies=())
    meta = np.empty((0,) * len(shape), dtype)
    return da.Array(layers, name, normalized, meta=meta)  # type: ignore[no-untyped-call, unused-ignore]


def variance_scaling(shape: Sequence[int], scale: float = 1.0, mode: str = "fan_in",
                     distribution: str = "truncated_normal", *, chunks: Chunks = "auto",
                     layout: str = "keras", in_axis: AxisSpec | None = None,
                     out_axis: AxisSpec | None = None, batch_axis: AxisSpec = (),
                     dtype: npt.DTypeLike = np.float32, seed: Seed = None) -> da.Array:
    """`heinit_rs.variance_scaling` as a Dask array, one task per chunk.

    Parameters
    ----------
    shape, scale, mode, distribution, layout, in_axis, out_axis, batch_axis, dtype, seed
        As `heinit_rs.variance_scaling`.
    chunks : str, int or tuple, default "auto"
        Dask's chunks.

    Returns
    -------
    dask.array.Array
        Equal, computed, to ``heinit_rs.variance_scaling(shape, ..., seed=seed)``.
    """
    resolved, checked = check_dtype(dtype), check_shape(shape)
    new_array = functools.partial(
        _initializers.variance_scaling, checked, scale, mode, distribution, layout=layout,
        in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis, dtype=resolved)
    return _dask_array(new_array, checked, resolved, chunks, seed)


_DOC = """`heinit_rs.{name}` as a Dask array, one task per chunk.

    Parameters
    ----------
    {arguments}
        As `heinit_rs.{name}`.
    chunks : str, int or tuple, default "auto"
        Dask's chunks.

    Returns
    -------
    dask.array.Array
        Equal, computed, to ``heinit_rs.{name}(shape, ..., seed=seed)``.
    """


def _preset(name: str) -> Callable[..., da.Array]:
    preset = PRESETS[name]

    def initializer(shape: Sequence[int], *, chunks: Chunks = "auto", layout: str = "keras",
               in_axis: AxisSpec | None = None, out_axis: AxisSpec | None = None,
               batch_axis: AxisSpec = (), dtype: npt.DTypeLike = np.float32,
               seed: Seed = None) -> da.Array:
        resolved, checked = check_dtype(dtype), check_shape(shape)
        new_array = functools.partial(
            _initializers.variance_scaling, checked, preset.scale, preset.mode,
            preset.distribution, layout=layout, in_axis=in_axis, out_axis=out_axis,
            batch_axis=batch_axis, dtype=resolved)
        return _dask_array(new_array, checked, resolved, chunks, seed)

    return document(initializer, _DOC, name=name,
                    arguments="shape, layout, in_axis, out_axis, batch_axis, dtype, seed")


he_normal = _preset("he_normal")
he_uniform = _preset("he_uniform")
glorot_normal = _preset("glorot_normal")
glorot_uniform = _preset("glorot_uniform")
lecun_normal = _preset("lecun_normal")
lecun_uniform = _preset("lecun_uniform")


def _kaiming(numpy_function: NewArray) -> Callable[..., da.Array]:
    def kaiming(shape: Sequence[int], a: float = 0, mode: str = "fan_in",
                nonlinearity: str | Activation = "leaky_relu", *, chunks: Chunks = "auto",
                layout: str = "torch", dtype: npt.DTypeLike = np.float32,
                seed: Seed = None) -> da.Array:
        resolved, checked = check_dtype(dtype), check_shape(shape)
        new_array = functools.partial(numpy_function, checked, a, mode, nonlinearity,
                                      layout=layout, dtype=resolved)
        return _dask_array(new_array, checked, resolved, chunks, seed)

    return document(kaiming, _DOC, name=numpy_function.__name__,
                    arguments="shape, a, mode, nonlinearity, layout, dtype, seed")


kaiming_normal = _kaiming(_initializers.kaiming_normal)
kaiming_uniform = _kaiming(_initializers.kaiming_uniform)
