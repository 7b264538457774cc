"""He initialization of a module's layers (`init_module`), parametrized weights included."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from heinit_rs._random import Generator, StreamSource
from heinit_rs.torch._dtensor import dtensor_shard, is_dtensor
from heinit_rs.torch._fill import Seed, key_source
from heinit_rs.torch._ops import fill

_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
           torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)


def init_module(module: torch.nn.Module, nonlinearity: str = "relu", seed: Seed = None, *,
                a: float = 0, mode: str = "fan_in",
                generator: torch.Generator | None = None) -> torch.nn.Module:
    """He-initialize every Linear, Conv1d/2d/3d and ConvTranspose1d/2d/3d layer of `module`.

    Each weight gets ``kaiming_normal_(weight, a, mode, nonlinearity)`` (torch's layout fans,
    as torch computes them for that weight); each bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as
    the layer's ``reset_parameters`` sets it. Other layers are left as they are. Tensors are
    visited in ``module.modules()`` order, one draw each. Parameters that are DTensors (after
    ``fully_shard`` or ``distribute_module``) fill their local shards from their global
    offsets, so a sharded model gets the unsharded model's values.

    A parametrized weight (``torch.nn.utils.parametrizations.weight_norm``, any
    ``torch.nn.utils.parametrize``) is set through its parametrization's ``right_inverse``, so
    that the effective weight is the He-initialized one. A layer whose effective weight cannot
    be set so (``spectral_norm``, which rescales it; a parametrization without
    ``right_inverse``; a weight computed by a forward hook, as the deprecated
    ``torch.nn.utils.weight_norm`` computes it) raises ValueError naming it, with its weight
    as it was.

    Parameters
    ----------
    module : torch.nn.Module
    nonlinearity : str, default "relu"
        The activation after these layers, for `calculate_gain`.
    seed : int or heinit_rs.Generator, optional
        An int seeds a heinit_rs.Generator that this call draws from, so the result depends
        only on the seed; by default draws come from `generator` or torch's default generator.
    a, mode, generator
        As `kaiming_normal_`.

    Returns
    -------
    torch.nn.Module
        `module`.
    """
    _init_layers(module, module_source(module, generator, seed), nonlinearity, a, mode)
    return module




def init_he(module: torch.nn.Module, source: StreamSource, nonlinearity: str, a: float,
             mode: str) -> None:
    for layer in module.modules():
        if isinstance(layer, torch.nn.Embedding):
            fill(layer.weight, "normal_", source, None, None, (0.0, 1.0))
            if layer.padding_idx is not None:
                zero_row(layer.weight, layer.padding_idx)
        elif not isinstance(layer, _LAYERS):
            reset = reset_method(layer)
            if reset is not None:
                reset()
    _init_layers(module, source, nonlinearity, a, mode)


def reset_method(layer: torch.nn.Module) -> Callable[[], object] | None:
    for name in ("reset_parameters", "_reset_parameters"):
        reset = getattr(layer, name, None)
        if callable(reset):
            return reset  # type: ignore[no-any-return, unused-ignore]
    return None


def zero_row(weight: torch.Tensor, row: int) -> None:
    """weight[row] = 0, in the shard that holds that row if weight is a DTensor."""
    local, start = weight, 0
    if is_dtensor(weight):
        shard, _, index = dtensor_shard(weight)
        if shard is None or index is None or not index[0].start <= row < index[0].stop:
            return
        rows = index[0]
        local, start = shard, rows.start
    with torch.no_grad():
        local[row - start].zero_()
    if local is not weight:
        torch.autograd.graph.increment_version(weight)


def module_source(module: object, generator: torch.Generator | None,
                   seed: Seed) -> StreamSource:
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    source = key_source(generator, seed)
    return Generator(source) if isinstance(source, int) else source


def _init_layers(module: torch.nn.Module, source: StreamSource, nonlinearity: str, a: float,
                 mode: str) -> None:
    for name, layer in module.named_modules():
        if not isinstance(layer, _LAYERS):
            continue
        where = f"{name or 'module'} ({type(layer).__name__})"
        if torch.nn.utils.parametrize.is_parametrized(layer, "weight"):
            _init_parametrized_weight(layer, where, source, nonlinearity, a, mode)
        else:
            weight = layer.weight
            if isinstance(weight, torch.nn.parameter.UninitializedParameter):
                raise ValueError(f"{where} has uninitialized (lazy) parameters; run a forward "
                                 "pass before init_module")
            if not isinstance(weight, torch.nn.Parameter):
                raise ValueError(
                    f"{where}: its weight is not a Parameter but computed from others by a "
                    f"forward hook (the deprecated torch.nn.utils.weight_norm or spectral_norm), "
                    f"so a value written there would not last; use "
                    f"torch.nn.utils.parametrizations.weight_norm instead")
            fill(weight, "kaiming_normal_", source, None, None, (a, mode, nonlinearity))
        if layer.bias is not None:
            fan_in = math.prod(layer.weight.shape[1:])
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            fill(layer.bias, "uniform_", source, None, None, (-bound, bound))


def _init_parametrized_weight(layer: torch.nn.Module, where: str, source: StreamSource,
                              nonlinearity: str, a: float, mode: str) -> None:
    """Set a parametrized weight to a He-initialized value through its right_inverse, and
    check that the effective weight is that value; if not, put the originals back and raise."""
    parametrization: Any = getattr(layer, "parametrizations")["weight"]
    originals = {name: tensor.detach().clone()
                 for name, tensor in parametrization.named_parameters(recurse=False)}
    with torch.no_grad():
        like: torch.Tensor = getattr(layer, "weight")
    value = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    fill(value, "kaiming_normal_", source, None, None, (a, mode, nonlinearity))
    kinds = ", ".join(type(p).__name__ for p in parametrization)
    try:
        with torch.no_grad():
            setattr(layer, "weight", value)
            effective: torch.Tensor = getattr(layer, "weight")
        exact = torch.allclose(effective.float(), value.float(), rtol=1e-3, atol=1e-6)
    except (NotImplementedError, RuntimeError) as error:
        _restore(parametrization, originals)
        raise ValueError(f"{where}: its weight parametrization ({kinds}) cannot be set to a "
                         f"He-initialized value: {error}") from None
    if not exact:
        _restore(parametrization, originals)
        raise ValueError(
            f"{where}: its weight parametrization ({kinds}) does not give back the value set "
            f"through right_inverse (spectral_norm rescales every weight to spectral norm 1), so "
            f"its effective weight cannot be He-initialized; initialize it yourself")


def _restore(parametrization: torch.nn.Module, originals: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, tensor in parametrization.named_parameters(recurse=False):
            tensor.set_(originals[name])  # type: ignore[call-overload, unused-ignore]


# ---------------------------------------------------------------------------------------------
# fast_init: the initialization code a model already runs, filled by heinit_rs
#
# torch.nn.init's uniform_, normal_, xavier_* and kaiming_* all end in Tensor.uniform_ or
# Tensor.normal_ (through _no_grad_uniform_/_no_grad_normal_ or directly), and trunc_normal_
# in _no_grad_trunc_normal_, which every copy of trunc_normal_ looks up in torch.nn.init's
# globals at call time. Patching these three leaves therefore reaches every way of calling
# the initializers: torch.nn.init.X, `from torch.nn.init import X` copies, functools.partial
# objects made at import (torchtitan), and transformers' TORCH_INIT_FUNCTIONS.
# The patches are global but act only for threads inside a fast_init block (a thread-local
# stack); every other thread gets torch's own functions.

