"""heinit_rs for JAX and Flax: jax.nn.initializers' variance-scaling family.

Each function returns an initializer ``init(key, shape, dtype=dtype, out_sharding=None)``
with JAX's signature, defaults and formulas (in_axis=-2, out_axis=-1; "normal" is the
untruncated normal; the truncated normal is cut at +-2 std and divided by 0.8796...). The
values come from heinit_rs' Rust core on the host. Eagerly they are handed to JAX without a
copy and nothing is compiled; under a trace (``jax.jit``, ``vmap``, a Flax ``model.init``) on
the CPU backend as one call of the XLA FFI target ``heinit_rs_fill`` (src/xla_ffi.rs), which
writes into XLA's own output buffer, and on other backends through ``jax.pure_callback``. All
give the same bits. Only threefry keys (two key words) are taken.

The key: ``jax.random.key_data(key)`` gives two uint32 words (w0, w1), typed key or legacy
``uint32[2]`` alike; the heinit_rs key is ``w0 * 2**32 + w1`` and the stream is 0. So
``jax.random.key(s)`` for s < 2**32 gives exactly ``heinit_rs.variance_scaling(...,
layout="jax", seed=s)``; split keys give unrelated streams.

With ``out_sharding`` (a ``jax.sharding.Sharding``) outside a trace, every shard is generated
alone at its global offset (``jax.make_array_from_callback``), never sliced from the whole.
Under ``jit`` a ``NamedSharding`` whose mesh divides the shape evenly does the same on each
device (a ``shard_map`` of a per-shard callback); another sharding gets the whole array, then
resharded.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from heinit_rs import _core, _initializers
from heinit_rs._checks import check_choice, check_real
from heinit_rs._fans import axes_product, check_shape
from heinit_rs._presets import JAX_ALIASES, PRESETS, document

__all__ = [
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "jax_fans",
    "key_to_seed",
    "lecun_normal",
    "lecun_uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
]

AxisSpec = int | Sequence[int]
Initializer = Callable[..., jax.Array]
_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")
_ALIGNMENT = 64  # bytes: XLA's CPU client adopts host buffers aligned to this
_PLANS = 1024  # (shape, dtype, distribution) plans kept, each holding one compiled function
_FFI_TARGET = "heinit_rs_fill"
# The FFI call's `kind` and `parameters` of each distribution (src/xla_ffi.rs).
_FFI_KINDS: dict[type, tuple[int, tuple[str, ...]]] = {
    _core.Normal: (0, ("mean", "std")),
    _core.Uniform: (1, ("a", "b")),
    _core.TruncNormal: (2, ("mean", "std", "a", "b")),
}
# Registered on import, so that a process running an exported program finds it too.
jax.ffi.register_ffi_target(_FFI_TARGET, _core.xla_ffi_handler(), platform="cpu")


def _key_words(key: Any) -> jax.Array:
    """The key's two uint32 words (typed keys and legacy uint32[2] keys); traceable."""
    if isinstance(key, (jax.Array, np.ndarray)) and jnp.issubdtype(
            key.dtype, jax.dtypes.prng_key):
        words = jax.random.key_data(key)
    else:
        words = jnp.asarray(key)
        if words.dtype != jnp.uint32 or words.shape != (2,):
            # TypeError, as JAX raises for legacy key data that is not uint32[2].
            raise TypeError(f"key must be a JAX PRNG key (jax.random.key) or a uint32[2] "
                            f"array (jax.random.PRNGKey), got {words.dtype}{list(words.shape)}")
    if words.shape != (2,):
        raise ValueError(f"key must hold 2 uint32 words (the threefry key of jax.random.key), "
                         f"got key data of shape {words.shape}")
    return words


def _placement(key: Any) -> Any:
    """Where jax.random puts an eager call's values: on the device a key is committed to,
    committed there; None (the default device, uncommitted) otherwise."""
    if isinstance(key, jax.Array) and key.committed and isinstance(
            key.sharding, jax.sharding.SingleDeviceSharding):
        return key.sharding
    return None


def key_to_seed(words: Any) -> int:
    """The heinit_rs key of a JAX key's two uint32 words: w0 * 2**32 + w1."""
    w0, w1 = (int(w) for w in np.asarray(words, dtype=np.uint32))
    return (w0 << 32) | w1


def _axes_size(shape: tuple[int, ...], axis: AxisSpec, name: str) -> int:
    """The product of `shape` over `axis`, an int or a sequence of ints, as JAX indexes it."""
    try:
        axes: tuple[object, ...] = (axis,) if isinstance(axis, numbers.Integral) \
            else tuple(axis)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {axis!r}") from None
    return axes_product(shape, axes, name)


def jax_fans(shape: tuple[int, ...], in_axis: AxisSpec = -2, out_axis: AxisSpec = -1,
             batch_axis: AxisSpec = ()) -> tuple[float, float]:
    """(fan_in, fan_out) by jax.nn.initializers' rule: in and out sizes times the receptive
    field prod(shape) / in / out / batch, a float (axes may overlap, as JAX lets them).
    Raises what JAX raises: ValueError for a 0-D or 1-D shape with the default in_axis,
    IndexError for an axis outside the shape, ZeroDivisionError for an empty axis."""
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise ValueError(
            f"Can't compute input and output sizes of a {len(shape)}-dimensional weights "
            "tensor with default in_axis. Must be at least 2D or specify in_axis explicitly.")
    in_size = _axes_size(shape, in_axis, "in_axis")
    out_size = _axes_size(shape, out_axis, "out_axis")
    batch_size = _axes_size(shape, batch_axis, "batch_axis")
    if 0 in (in_size, out_size, batch_size):
        raise ZeroDivisionError(
            f"shape {shape} has an empty in, out or batch axis, so its receptive field "
            f"prod(shape) / in / out / batch is undefined (JAX raises too)")
    receptive = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive, out_size * receptive


def _aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialized array whose data starts on a 64-byte boundary, which
    ``jax.device_put`` adopts on the CPU without a copy."""
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % _ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


class _Plan(NamedTuple):
    """One (shape, dtype, distribution): its NumPy initializer, checked, the FFI call's
    attributes, and the jitted whole-array function that traced calls share, so that XLA
    compiles it once."""

    values: Callable[..., np.ndarray]
    attributes: dict[str, Any]
    traced: Callable[[jax.Array], jax.Array]


def _ffi_attributes(distribution: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    """The attributes of the FFI target's call (src/xla_ffi.rs) for `distribution`."""
    kind, names = _FFI_KINDS[type(distribution)]
    return {"kind": kind, "stream": np.uint64(0),
            "parameters": np.array([getattr(distribution, n) for n in names], np.float64),
            "global_shape": np.array(shape, np.int64)}


def _block(plan: _Plan, local: tuple[int, ...], dtype: np.dtype, words: jax.Array,
           position: jax.Array) -> jax.Array:
    """Under a trace: block ``position * local .. (position + 1) * local`` of the array. On the
    CPU backend the FFI target writes it into XLA's own buffer (no copy, no host transfer);
    on other backends it comes through ``pure_callback`` from the host."""
    like = jax.ShapeDtypeStruct(local, dtype)  # type: ignore[no-untyped-call, unused-ignore]

    def on_cpu(words: jax.Array, position: jax.Array) -> jax.Array:
        call = jax.ffi.ffi_call(_FFI_TARGET, like, vmap_method="sequential")
        result: jax.Array = call(words, position, **plan.attributes)
        return result

    def host(words: np.ndarray, position: np.ndarray) -> np.ndarray:
        index = tuple(slice(int(p) * n, (int(p) + 1) * n) for p, n in zip(position, local))
        return plan.values(seed=key_to_seed(words), index=index)

    def elsewhere(words: jax.Array, position: jax.Array) -> jax.Array:
        result: jax.Array = jax.pure_callback(host, like, words, position,
                                              vmap_method="sequential")
        return result

    block: jax.Array = jax.lax.platform_dependent(words, position, cpu=on_cpu,
                                                  default=elsewhere)
    return block


@functools.lru_cache(maxsize=_PLANS)
def _plan(shape: tuple[int, ...], dtype: np.dtype, scale: float, mode: str, distribution: str,
          fans: tuple[float, float]) -> _Plan:
    values = functools.partial(
        _initializers.variance_scaling_of_fans, shape, fans, scale, mode, distribution,
        at_least_one=False, dtype=dtype, empty=_aligned_empty)
    _initializers.check_new_array(values, shape)  # before anything is drawn or traced
    attributes = _ffi_attributes(_initializers.variance_scaling_distribution(
        fans, scale, mode, distribution, at_least_one=False), shape)

    def traced(words: jax.Array) -> jax.Array:
        return _block(plan, shape, dtype, words, jnp.zeros(len(shape), jnp.int32))

    plan = _Plan(values, attributes, jax.jit(traced))
    return plan


def _axis_names(entry: Any) -> tuple[str, ...]:
    """The mesh axes a PartitionSpec entry shards one dimension over, major first."""
    return () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)


def _mesh_position(entry: Any, mesh: Any) -> Any:
    """Inside shard_map: this device's shard along a PartitionSpec entry's mesh axes."""
    position = jnp.int32(0)
    for name in _axis_names(entry):
        position = position * mesh.shape[name] + jax.lax.axis_index(name)
    return position


def _per_shard(plan: _Plan, shape: tuple[int, ...], dtype: np.dtype, sharding: Any,
               words: jax.Array) -> jax.Array | None:
    """Under a trace, a NamedSharding's shards each made on its own device from its block of
    the stream (a shard_map of a per-shard callback); None where the shape does not divide
    evenly among the devices (then the whole array is made and resharded)."""
    if not isinstance(sharding, jax.sharding.NamedSharding):
        return None
    spec = tuple(sharding.spec) + (None,) * (len(shape) - len(sharding.spec))
    counts = [math.prod(sharding.mesh.shape[name] for name in _axis_names(entry))
              for entry in spec]
    if any(n % count for n, count in zip(shape, counts)):
        return None
    local = tuple(n // count for n, count in zip(shape, counts))

    def shard(words: jax.Array) -> jax.Array:
        position = jnp.stack([_mesh_position(entry, sharding.mesh) for entry in spec]) \
            if spec else jnp.zeros(0, jnp.int32)
        return _block(plan, local, dtype, words, position)

    partition: Any = jax.sharding.PartitionSpec
    result: jax.Array = jax.shard_map(  # type: ignore[attr-defined, unused-ignore]
        shard, mesh=sharding.mesh, in_specs=partition(), out_specs=partition(*spec),
        check_vma=False)(words)
    return result


def variance_scaling(scale: float, mode: str, distribution: str, in_axis: AxisSpec = -2,
                     out_axis: AxisSpec = -1, batch_axis: AxisSpec = (),
                     dtype: Any = None) -> Initializer:
    """jax.nn.initializers.variance_scaling, filled by heinit_rs.

    With n = fan_in, fan_out, (fan_in + fan_out) / 2 or sqrt(fan_in * fan_out) by `mode`
    (JAX's fans: in and out sizes times prod(shape) / in / out / batch, see `jax_fans`):
    "truncated_normal" gives std = sqrt(scale / n) / 0.87962566103423978 cut at +-2 std,
    "normal" N(0, scale / n), "uniform" U(-sqrt(3 scale / n), sqrt(3 scale / n)).

    Eagerly (a concrete key) the values are made on the host and handed to JAX without a
    copy, compiling nothing; under a trace (``jit``, ``vmap``) one FFI call writes them into
    XLA's buffer on the CPU backend (a ``jax.pure_callback`` on others).

    Parameters
    ----------
    scale : float
        > 0.
    mode : {"fan_in", "fan_out", "fan_avg", "fan_geo_avg"}
    distribution : {"truncated_normal", "normal", "uniform"}
    in_axis, out_axis, batch_axis : int or sequence of int
        JAX's axes.
    dtype : dtype, optional
        The default dtype of the initializer (JAX's default float when None): float32,
        float64, float16 or bfloat16.

    Returns
    -------
    callable
        ``init(key, shape, dtype=dtype, out_sharding=None) -> jax.Array``.
    """
    scale = check_real("scale", scale, positive=True)
    mode = check_choice("mode", mode, _MODES)
    distribution = check_choice("distribution", distribution, _DISTRIBUTIONS)
    numpy_distribution = "untruncated_normal" if distribution == "normal" else distribution

    def init(key: Any, shape: Sequence[int], dtype: Any = dtype,
             out_sharding: Any = None) -> jax.Array:
        shape = check_shape(shape)
        dtype = jax.dtypes.canonicalize_dtype(jnp.float_ if dtype is None else dtype)
        plan = _plan(shape, np.dtype(dtype), scale, mode, numpy_distribution,
                     jax_fans(shape, in_axis, out_axis, batch_axis))
        words = _key_words(key)
        if isinstance(words, jax.core.Tracer):
            per_shard = _per_shard(plan, shape, np.dtype(dtype), out_sharding, words)
            result = plan.traced(words) if per_shard is None else per_shard
        elif isinstance(out_sharding, jax.sharding.Sharding):
            seed = key_to_seed(words)
            return jax.make_array_from_callback(
                shape, out_sharding, lambda index: plan.values(index=index, seed=seed))
        else:
            result = jax.device_put(plan.values(seed=key_to_seed(words)), _placement(key))
        if out_sharding is not None:
            result = jax.lax.with_sharding_constraint(  # type: ignore[no-untyped-call, unused-ignore]
                result, out_sharding)
        return result

    return init


_PRESET_DOC = """{preset.summary} ({preset.origin}).

    ``variance_scaling({preset.scale:g}, {preset.mode!r}, {preset.distribution!r}, in_axis,
    out_axis, batch_axis, dtype)``.

    Returns
    -------
    callable
        ``init(key, shape, dtype=dtype, out_sharding=None) -> jax.Array``.
    """


def _preset(name: str) -> Callable[..., Initializer]:
    preset = PRESETS[JAX_ALIASES.get(name, name)]

    def initializer(in_axis: AxisSpec = -2, out_axis: AxisSpec = -1, batch_axis: AxisSpec = (),
                    dtype: Any = None) -> Initializer:
        return variance_scaling(preset.scale, preset.mode, preset.distribution, in_axis,
                                out_axis, batch_axis, dtype)

    return document(initializer, _PRESET_DOC, name=name, preset=preset)


he_normal = _preset("he_normal")
he_uniform = _preset("he_uniform")
glorot_normal = _preset("glorot_normal")
glorot_uniform = _preset("glorot_uniform")
lecun_normal = _preset("lecun_normal")
lecun_uniform = _preset("lecun_uniform")
kaiming_normal = _preset("kaiming_normal")
kaiming_uniform = _preset("kaiming_uniform")
xavier_normal = _preset("xavier_normal")
xavier_uniform = _preset("xavier_uniform")
