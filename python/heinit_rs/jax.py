"""heinit_rs for JAX and Flax: jax.nn.initializers' variance-scaling family.

Each function returns an initializer ``init(key, shape, dtype=dtype, out_sharding=None)``
with JAX's signature, defaults and formulas (in_axis=-2, out_axis=-1; "normal" is the
untruncated normal; the truncated normal is cut at +-2 std and divided by 0.8796...). The
values come from heinit_rs' Rust core on the host, through ``jax.pure_callback``, so an
initializer works eagerly and inside ``jax.jit`` (a Flax ``model.init``) with the same bits.

The key: ``jax.random.key_data(key)`` gives two uint32 words (w0, w1), typed key or legacy
``uint32[2]`` alike; the heinit_rs key is ``w0 * 2**32 + w1`` and the stream is 0. So
``jax.random.key(s)`` for s < 2**32 gives exactly ``heinit_rs.variance_scaling(...,
layout="jax", seed=s)``; split keys give unrelated streams.

With ``out_sharding`` (a ``jax.sharding.Sharding``) outside a trace, every shard is generated
alone at its global offset (``jax.make_array_from_callback``), never sliced from the whole.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from heinit_rs import _initializers
from heinit_rs._checks import check_choice, check_real

__all__ = [
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
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


def _key_words(key: Any) -> jax.Array:
    """The key's two uint32 words (typed keys and legacy uint32[2] keys); traceable."""
    if isinstance(key, (jax.Array, np.ndarray)) and jnp.issubdtype(
            key.dtype, jax.dtypes.prng_key):
        words = jax.random.key_data(key)
    else:
        words = jnp.asarray(key)
        if words.dtype != jnp.uint32:
            raise TypeError(f"key must be a JAX PRNG key (jax.random.key) or a uint32[2] "
                            f"array (jax.random.PRNGKey), got dtype {words.dtype}")
    if words.shape != (2,):
        raise ValueError(f"key must hold 2 uint32 words (the threefry key of jax.random.key), "
                         f"got key data of shape {words.shape}")
    return words


def key_to_seed(words: Any) -> int:
    """The heinit_rs key of a JAX key's two uint32 words: w0 * 2**32 + w1."""
    w0, w1 = (int(w) for w in np.asarray(words, dtype=np.uint32))
    return (w0 << 32) | w1


def variance_scaling(scale: float, mode: str, distribution: str, in_axis: AxisSpec = -2,
                     out_axis: AxisSpec = -1, batch_axis: AxisSpec = (),
                     dtype: Any = None) -> Initializer:
    """jax.nn.initializers.variance_scaling, filled by heinit_rs.

    With n = fan_in, fan_out, (fan_in + fan_out) / 2 or sqrt(fan_in * fan_out) by `mode`
    (JAX's fans: in * receptive field, out * receptive field):
    "truncated_normal" gives std = sqrt(scale / n) / 0.87962566103423978 cut at +-2 std,
    "normal" N(0, scale / n), "uniform" U(-sqrt(3 scale / n), sqrt(3 scale / n)).

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
    # JAX's default axes are the "jax" layout's; naming them would lose its message for 1-D.
    default_axes = (type(in_axis) is int and in_axis == -2 and type(out_axis) is int
                    and out_axis == -1 and batch_axis == ())
    axes: dict[str, Any] = {} if default_axes else {
        "in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis}

    def init(key: Any, shape: Sequence[int], dtype: Any = dtype,
             out_sharding: Any = None) -> jax.Array:
        shape = tuple(int(n) for n in shape)
        dtype = jax.dtypes.canonicalize_dtype(jnp.float_ if dtype is None else dtype)
        words = _key_words(key)

        values = functools.partial(
            _initializers.variance_scaling, shape, scale, mode, numpy_distribution,
            layout="jax", **axes, dtype=np.dtype(dtype))
        _initializers.check_new_array(values, shape)  # before tracing
        if out_sharding is not None and isinstance(out_sharding, jax.sharding.Sharding) \
                and not isinstance(words, jax.core.Tracer):
            seed = key_to_seed(words)
            return jax.make_array_from_callback(
                shape, out_sharding, lambda index: values(index=index, seed=seed))
        like = jax.ShapeDtypeStruct(shape, dtype)  # type: ignore[no-untyped-call, unused-ignore]
        result: jax.Array = jax.pure_callback(lambda w: values(seed=key_to_seed(w)), like,
                                              words, vmap_method="sequential")
        if out_sharding is not None:
            result = jax.lax.with_sharding_constraint(  # type: ignore[no-untyped-call, unused-ignore]
                result, out_sharding)
        return result

    return init


def _preset(name: str, scale: float, mode: str, distribution: str,
            what: str) -> Callable[..., Initializer]:
    def preset(in_axis: AxisSpec = -2, out_axis: AxisSpec = -1, batch_axis: AxisSpec = (),
               dtype: Any = None) -> Initializer:
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)

    preset.__name__ = preset.__qualname__ = name
    preset.__doc__ = f"""{what}, as jax.nn.initializers.{name}.

    ``variance_scaling({scale:g}, {mode!r}, {distribution!r}, in_axis, out_axis, batch_axis,
    dtype)``.

    Returns
    -------
    callable
        ``init(key, shape, dtype=dtype, out_sharding=None) -> jax.Array``.
    """
    return preset


he_normal = _preset("he_normal", 2.0, "fan_in", "truncated_normal",
                    "He normal: truncated N(0, 2 / fan_in)")
he_uniform = _preset("he_uniform", 2.0, "fan_in", "uniform",
                     "He uniform: U(-sqrt(6 / fan_in), sqrt(6 / fan_in))")
glorot_normal = _preset("glorot_normal", 1.0, "fan_avg", "truncated_normal",
                        "Glorot normal: truncated N(0, 2 / (fan_in + fan_out))")
glorot_uniform = _preset("glorot_uniform", 1.0, "fan_avg", "uniform",
                         "Glorot uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))")
lecun_normal = _preset("lecun_normal", 1.0, "fan_in", "truncated_normal",
                       "LeCun normal: truncated N(0, 1 / fan_in)")
lecun_uniform = _preset("lecun_uniform", 1.0, "fan_in", "uniform",
                        "LeCun uniform: U(-sqrt(3 / fan_in), sqrt(3 / fan_in))")
# JAX's aliases.
kaiming_normal, kaiming_uniform = he_normal, he_uniform
xavier_normal, xavier_uniform = glorot_normal, glorot_uniform
