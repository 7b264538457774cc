"""The variance-scaling presets, one table for every front end: the NumPy API, and the JAX,
Keras and Dask adapters read it and only translate seeds, shapes and outputs. A new preset is a
new row here; each front end then names it once (tests/numpy_api/test_presets.py says where one is
missing). Docstrings of every front end are filled by one mechanism, `document`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

__all__ = ["JAX_ALIASES", "PRESETS", "Preset", "document"]


class Preset(NamedTuple):
    """variance_scaling(shape, scale, mode, distribution) under a name Keras and JAX share."""

    name: str
    scale: float
    mode: str
    distribution: str
    summary: str
    #: Whether Keras (keras.initializers.<class_name>) and JAX (jax.nn.initializers.<name>)
    #: have this preset under this name; a preset of heinit_rs' own has False.
    in_keras_and_jax: bool = False

    @property
    def origin(self) -> str:
        """Whose preset it is, as the docstrings of every front end say it."""
        if self.in_keras_and_jax:
            return f"Keras' {self.class_name}, jax.nn.initializers.{self.name}"
        return "heinit_rs' own preset: neither Keras nor JAX has one of this name"

    @property
    def class_name(self) -> str:
        """Keras' class name: he_normal -> HeNormal."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def call(self) -> str:
        """The variance_scaling arguments, as a docstring shows them."""
        return f"scale={self.scale:g}, mode={self.mode!r}, distribution={self.distribution!r}"


PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    Preset("he_normal", 2.0, "fan_in", "truncated_normal",
           "He normal: truncated N(0, std^2), std = sqrt(2 / fan_in) / 0.8796",
           in_keras_and_jax=True),
    Preset("he_uniform", 2.0, "fan_in", "uniform",
           "He uniform: U(-limit, limit), limit = sqrt(6 / fan_in)",
           in_keras_and_jax=True),
    Preset("glorot_normal", 1.0, "fan_avg", "truncated_normal",
           "Glorot normal: truncated N(0, std^2), std = sqrt(2 / (fan_in + fan_out)) / 0.8796",
           in_keras_and_jax=True),
    Preset("glorot_uniform", 1.0, "fan_avg", "uniform",
           "Glorot uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))",
           in_keras_and_jax=True),
    Preset("lecun_normal", 1.0, "fan_in", "truncated_normal",
           "LeCun normal: truncated N(0, std^2), std = sqrt(1 / fan_in) / 0.8796",
           in_keras_and_jax=True),
    Preset("lecun_uniform", 1.0, "fan_in", "uniform",
           "LeCun uniform: U(-limit, limit), limit = sqrt(3 / fan_in)",
           in_keras_and_jax=True),
)}

#: jax.nn.initializers' other names for two of the presets.
JAX_ALIASES = {"kaiming_normal": "he_normal", "kaiming_uniform": "he_uniform",
               "xavier_normal": "glorot_normal", "xavier_uniform": "glorot_uniform"}

_Documented = TypeVar("_Documented", bound=Callable[..., Any])


def document(obj: _Documented, template: str | None = None, *, name: str | None = None,
             **fields: object) -> _Documented:
    """Give `obj` the docstring `template` (by default its own) with its {fields} filled in by
    str.format, and, where given, the name `name` (also the field {name})."""
    if name is not None:
        obj.__name__ = obj.__qualname__ = fields["name"] = name
    obj.__doc__ = (template or obj.__doc__ or "").format(**fields)
    return obj
