"""Shapes and fans: exactly torch.nn.init's, Keras' and JAX's conventions (docs/conventions.md)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

import numpy as np

LAYOUTS = ("torch", "keras", "jax")
# Default (in_axis, out_axis) of each layout when only some axes are given.
_DEFAULT_AXES = {"torch": (1, 0), "keras": (-2, -1), "jax": (-2, -1)}

AxisSpec = int | Sequence[int]


_MAX_ELEMENTS = 2**63 - 1


def check_shape(shape: object, name: str = "shape") -> tuple[int, ...]:
    """A shape as a tuple of non-negative ints, with at most 2**63 - 1 elements."""
    # Fast path for the common case (a tuple of plain ints): models make thousands of calls.
    if type(shape) is tuple:
        for n in shape:
            if type(n) is not int or n < 0:
                break
        else:
            if math.prod(shape) <= _MAX_ELEMENTS:
                return shape
    if isinstance(shape, np.ndarray):
        raise TypeError(f"{name} must be a tuple of ints; for an array pass arr.shape")
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Iterable):
        raise TypeError(f"{name} must be a tuple of ints, got {type(shape).__name__}")
    dims: list[int] = []
    for axis, n in enumerate(shape):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"{name}[{axis}] must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"{name}[{axis}] must be >= 0, got {n}")
        dims.append(int(n))
    if math.prod(dims) > _MAX_ELEMENTS:
        raise ValueError(
            f"{name} {tuple(dims)} has {math.prod(dims)} elements, more than 2**63 - 1")
    return tuple(dims)


def _check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}, got {layout!r}")
    return layout


def _normalize_axes(spec: AxisSpec, ndim: int, name: str) -> tuple[int, ...]:
    items = (spec,) if isinstance(spec, numbers.Integral) else spec
    try:
        items = tuple(items)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {spec!r}") from None
    axes: list[int] = []
    for axis in items:
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"{name} must be an int or a sequence of ints, got {spec!r}")
        if not -ndim <= axis < ndim:
            raise ValueError(f"{name}={spec!r} is out of range for a {ndim}-dimensional shape")
        axes.append(int(axis) % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}={spec!r} names an axis twice")
    return tuple(axes)


def axes_product(shape: tuple[int, ...], axes: Iterable[object], name: str) -> int:
    """The product of `shape` over `axes`, indexed as Python indexes a tuple: repeated and
    overlapping axes count again, as Keras and JAX let them, and an axis outside the shape
    raises IndexError, as theirs does (for the framework adapters' own fan rules)."""
    size = 1
    for axis in axes:
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"{name} must be an int or a sequence of ints, got {axes!r}")
        index = int(axis)
        if not -len(shape) <= index < len(shape):
            raise IndexError(f"{name}={axes!r} names axis {index}, outside the "
                             f"{len(shape)}-dimensional shape {shape}")
        size *= shape[index]
    return size


def _fans_from_axes(
    shape: tuple[int, ...], in_axis: AxisSpec, out_axis: AxisSpec, batch_axis: AxisSpec
) -> tuple[int, int]:
    ndim = len(shape)
    named = {
        "in_axis": _normalize_axes(in_axis, ndim, "in_axis"),
        "out_axis": _normalize_axes(out_axis, ndim, "out_axis"),
        "batch_axis": _normalize_axes(batch_axis, ndim, "batch_axis"),
    }
    seen: dict[int, str] = {}
    for name, axes in named.items():
        for axis in axes:
            if axis in seen:
                raise ValueError(f"{seen[axis]} and {name} overlap at axis {axis}")
            seen[axis] = name
    receptive = math.prod(n for axis, n in enumerate(shape) if axis not in seen)
    in_size = math.prod(shape[a] for a in named["in_axis"])
    out_size = math.prod(shape[a] for a in named["out_axis"])
    return in_size * receptive, out_size * receptive


def calculate_fan_in_and_fan_out(
    shape: Sequence[int],
    layout: str = "torch",
    *,
    in_axis: AxisSpec | None = None,
    out_axis: AxisSpec | None = None,
    batch_axis: AxisSpec = (),
) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape, by torch's, Keras' or JAX's rules.

    fan_in = in * receptive field and fan_out = out * receptive field, where the receptive
    field is the product of every axis that is neither in, out nor batch.

    Parameters
    ----------
    shape : sequence of int
        The weight's shape.
    layout : {"torch", "keras", "jax"}, default "torch"
        "torch": (out, in, *kernel), fewer than 2 dimensions raise as in torch. "keras":
        (*kernel, in, out); 0-D gives (1, 1) and 1-D (n,) gives (n, n). "jax": the keras axes;
        fewer than 2 dimensions raise unless axes are given.
    in_axis, out_axis, batch_axis : int or sequence of int, optional
        Override the layout's axes, as in jax.nn.initializers.variance_scaling.

    Returns
    -------
    tuple of int
        (fan_in, fan_out).

    Examples
    --------
    >>> import heinit_rs
    >>> heinit_rs.calculate_fan_in_and_fan_out((128, 64, 3, 3))  # torch Conv2d weight
    (576, 1152)
    >>> heinit_rs.calculate_fan_in_and_fan_out((3, 3, 64, 128), "keras")
    (576, 1152)
    """
    return fans_of_checked_shape(check_shape(shape), layout, in_axis, out_axis, batch_axis)


def fans_of_checked_shape(
    shape: tuple[int, ...],
    layout: str = "torch",
    in_axis: AxisSpec | None = None,
    out_axis: AxisSpec | None = None,
    batch_axis: AxisSpec = (),
) -> tuple[int, int]:
    """calculate_fan_in_and_fan_out for a shape check_shape already accepted."""
    ndim = len(shape)
    axes_given = in_axis is not None or out_axis is not None or batch_axis not in ((), [], None)
    # torch's layout first: the common case, before the layout check it would pass anyway.
    if layout == "torch" and not axes_given:
        if ndim < 2:
            raise ValueError(
                "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
            )
        receptive = math.prod(shape[2:])
        return shape[1] * receptive, shape[0] * receptive
    layout = _check_layout(layout)
    if axes_given:
        default_in, default_out = _DEFAULT_AXES[layout]
        return _fans_from_axes(
            shape,
            default_in if in_axis is None else in_axis,
            default_out if out_axis is None else out_axis,
            () if batch_axis is None else batch_axis,
        )
    if layout == "keras" and ndim < 2:
        return (1, 1) if ndim == 0 else (shape[0], shape[0])
    if ndim < 2:
        raise ValueError(
            f"Can't compute input and output sizes of a {ndim}-dimensional weights tensor "
            "with default in_axis. Must be at least 2D or specify in_axis explicitly."
        )
    # Keras and JAX by default: in_axis=-2, out_axis=-1, every leading axis is receptive field
    # (what _fans_from_axes(shape, -2, -1, ()) computes, without its generality).
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive
