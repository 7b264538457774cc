"""heinit_rs for Keras 3: keras.initializers' variance-scaling family, filled by heinit_rs.

The classes take Keras' arguments and follow Keras' formulas and fans (docs/conventions.md):
"normal" means the truncated normal, as in Keras; the truncated normal is cut at +-2 std and
divided by 0.8796... They are registered as serializable (package "heinit_rs"), so a model
built with them saves with ``model.save("m.keras")`` and loads with
``keras.saving.load_model``.

Seeds follow Keras: an int seed gives the same values on every call (heinit_rs key = the int,
stream 0); None picks an int once, from Python's `random` as Keras does (so
``keras.utils.set_random_seed`` makes it reproducible); a ``keras.random.SeedGenerator`` gives
new values on every call: its next state (s, k) is heinit_rs stream k of key s, so its first
call equals ``seed=s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from heinit_rs import _initializers
from heinit_rs._checks import check_real
from heinit_rs._fans import axes_product, check_shape, fans_of_checked_shape
from heinit_rs._presets import PRESETS, document
from heinit_rs._random import StreamSource

__all__ = [
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "LecunNormal",
    "LecunUniform",
    "VarianceScaling",
    "keras_fans",
]

_PACKAGE = "heinit_rs"


class SeedGeneratorDraw(StreamSource):
    """A keras.random.SeedGenerator as a stream source: its next state (s, k) is stream k of
    key s."""

    __slots__ = ("seed_generator",)

    def __init__(self, seed_generator: keras.random.SeedGenerator) -> None:
        self.seed_generator = seed_generator

    def next_stream(self) -> tuple[int, int]:
        state = keras.ops.convert_to_numpy(self.seed_generator.next())
        key, stream = (int(word) & 0xFFFFFFFF for word in np.asarray(state).reshape(-1)[:2])
        return key, stream


def keras_fans(shape: tuple[int, ...], input_axes: Sequence[int] | None = None,
               output_axes: Sequence[int] | None = None) -> tuple[int, int]:
    """(fan_in, fan_out) by keras.initializers' rule: with both axis lists, the products of
    the shape over each (they may overlap or repeat, as Keras lets them; an axis outside the
    shape raises IndexError, as in Keras); otherwise (*kernel, in, out), a 1-D shape (n,)
    giving (n, n) and a 0-D one (1, 1)."""
    if input_axes is not None and output_axes is not None:
        return (axes_product(shape, input_axes, "input_axes"),
                axes_product(shape, output_axes, "output_axes"))
    return fans_of_checked_shape(shape, "keras")


def _heinit_seed(seed: int | keras.random.SeedGenerator) -> int | keras.random.SeedGenerator:
    """Keras' seed (as keras.initializers' RandomInitializer accepted it) as heinit_rs takes it:
    a bool is the int it is to Keras; an int must be a 64-bit key."""
    if isinstance(seed, keras.random.SeedGenerator):
        return seed
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an int in [0, 2**64) (heinit_rs keys are 64-bit), a "
                         f"keras.random.SeedGenerator or None, got {seed!r}")
    return int(seed)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class VarianceScaling(keras.initializers.VarianceScaling):  # type: ignore[misc]
    """keras.initializers.VarianceScaling, filled by heinit_rs.

    With n = fan_in, fan_out or (fan_in + fan_out) / 2 by `mode` (at least 1):
    "truncated_normal" (or "normal") gives std = sqrt(scale / n) / 0.87962566103423978 cut at
    +-2 std, "untruncated_normal" N(0, scale / n), "uniform" U(-sqrt(3 scale / n),
    sqrt(3 scale / n)). Fans are Keras': (*kernel, in, out), or, with both `input_axes` and
    `output_axes`, the products of those axes.

    It is a subclass of Keras' own class, so every Keras layer that checks for it (EinsumDense,
    and through it MultiHeadAttention and GroupQueryAttention, hand it their einsum's axes)
    treats it as Keras' own. Keras checks the arguments; heinit_rs adds that `scale` is finite
    and an int seed a 64-bit key.

    Parameters
    ----------
    scale : float, default 1.0
    mode : {"fan_in", "fan_out", "fan_avg"}, default "fan_in"
    distribution : {"truncated_normal", "normal", "untruncated_normal", "uniform"}
    seed : int, keras.random.SeedGenerator or None
    input_axes, output_axes : sequence of int, optional
    """

    seed: int | keras.random.SeedGenerator

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: Any = None,
                 input_axes: Sequence[int] | None = None,
                 output_axes: Sequence[int] | None = None) -> None:
        super().__init__(scale, mode, distribution, seed, input_axes, output_axes)
        self.scale = check_real("scale", scale, positive=True)
        self.seed = _heinit_seed(self.seed)

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        shape, seed = check_shape(shape), self.seed
        values = _initializers.variance_scaling_of_fans(
            shape, keras_fans(shape, self.input_axes, self.output_axes), self.scale, self.mode,
            self.distribution, dtype=dtype,
            seed=SeedGeneratorDraw(seed) if isinstance(seed, keras.random.SeedGenerator)
            else seed)
        if dtype == "bfloat16" and keras.backend.backend() != "jax":
            # Backends other than JAX read no ml_dtypes arrays; float32 holds bfloat16 exactly.
            return keras.ops.cast(keras.ops.convert_to_tensor(values.astype(np.float32)), dtype)
        return keras.ops.convert_to_tensor(values, dtype=dtype)


_PRESET_DOC = """{preset.summary} ({preset.origin}), filled by heinit_rs.

    ``VarianceScaling({preset.call})``.

    Parameters
    ----------
    seed : int, keras.random.SeedGenerator or None
    input_axes, output_axes : sequence of int, optional
    """


def _preset(name: str) -> type:
    preset = next(p for p in PRESETS.values() if p.class_name == name)

    def __init__(self: VarianceScaling, seed: Any = None,
                 input_axes: Sequence[int] | None = None,
                 output_axes: Sequence[int] | None = None) -> None:
        VarianceScaling.__init__(self, preset.scale, preset.mode, preset.distribution, seed,
                                 input_axes, output_axes)

    def get_config(self: VarianceScaling) -> dict[str, Any]:
        return {"seed": keras.saving.serialize_keras_object(self._init_seed),
                "input_axes": self.input_axes, "output_axes": self.output_axes}

    cls = type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                          "__module__": __name__})
    registered: type = keras.saving.register_keras_serializable(package=_PACKAGE)(
        document(cls, _PRESET_DOC, name=name, preset=preset))
    return registered


HeNormal = _preset("HeNormal")
HeUniform = _preset("HeUniform")
GlorotNormal = _preset("GlorotNormal")
GlorotUniform = _preset("GlorotUniform")
LecunNormal = _preset("LecunNormal")
LecunUniform = _preset("LecunUniform")
