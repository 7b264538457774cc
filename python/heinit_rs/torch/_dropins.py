"""The seven drop-ins for torch.nn.init's random initializers."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch

from heinit_rs._gains import Activation
from heinit_rs._presets import document
from heinit_rs.torch._fill import Index, Seed
from heinit_rs.torch._ops import initialize

_SHARD_DOC = """
    seed : int or heinit_rs.Generator, optional
        Instead of `generator`: stream 0 of an int key, or a heinit_rs.Generator's next draw.
    global_shape : sequence of int, optional
        The shape of the whole logical weight of which `tensor` is the block `index`; fans
        come from it.
    index : int, slice, tuple or Ellipsis, optional
        Which block of `global_shape` `tensor` holds (NumPy basic indexing, step-1 slices)."""


def kaiming_normal_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str | Activation = "leaky_relu",
                    generator: torch.Generator | None = None, *, seed: Seed = None,
                    global_shape: Sequence[int] | None = None,
                    index: Index = None) -> torch.Tensor:
    """torch.nn.init.kaiming_normal_: N(0, std^2), std = gain / sqrt(fan).
    """
    return initialize('kaiming_normal_', tensor, (a, mode, nonlinearity), generator, seed, global_shape, index)


def kaiming_uniform_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str | Activation = "leaky_relu",
                     generator: torch.Generator | None = None, *, seed: Seed = None,
                     global_shape: Sequence[int] | None = None,
                     index: Index = None) -> torch.Tensor:
    """torch.nn.init.kaiming_uniform_: U(-bound, bound), bound = sqrt(3) * gain / sqrt(fan).
    """
    return initialize('kaiming_uniform_', tensor, (a, mode, nonlinearity), generator, seed, global_shape, index)


def xavier_normal_(tensor: torch.Tensor, gain: float = 1.0,
                   generator: torch.Generator | None = None, *, seed: Seed = None,
                   global_shape: Sequence[int] | None = None,
                   index: Index = None) -> torch.Tensor:
    """torch.nn.init.xavier_normal_: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).
    """
    return initialize('xavier_normal_', tensor, (gain,), generator, seed, global_shape, index)


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0,
                    generator: torch.Generator | None = None, *, seed: Seed = None,
                    global_shape: Sequence[int] | None = None,
                    index: Index = None) -> torch.Tensor:
    """torch.nn.init.xavier_uniform_: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)).
    """
    return initialize('xavier_uniform_', tensor, (gain,), generator, seed, global_shape, index)


def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: torch.Generator | None = None, *,
                  seed: Seed = None, global_shape: Sequence[int] | None = None,
                  index: Index = None) -> torch.Tensor:
    """torch.nn.init.trunc_normal_: N(mean, std^2) truncated to [a, b] (absolute bounds).

    Exact inverse CDF, one draw per value: no pile-up at the bounds in any dtype, and no
    rejection loop (docs/stream-spec.md).
    """
    return initialize('trunc_normal_', tensor, (mean, std, a, b), generator, seed, global_shape, index)


def normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0,
            generator: torch.Generator | None = None, *, seed: Seed = None,
            global_shape: Sequence[int] | None = None, index: Index = None) -> torch.Tensor:
    """torch.nn.init.normal_: N(mean, std^2).
    """
    return initialize('normal_', tensor, (mean, std), generator, seed, global_shape, index)


def uniform_(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0,
             generator: torch.Generator | None = None, *, seed: Seed = None,
             global_shape: Sequence[int] | None = None, index: Index = None) -> torch.Tensor:
    """torch.nn.init.uniform_: U(a, b).
    """
    return initialize('uniform_', tensor, (a, b), generator, seed, global_shape, index)


_DROP_IN_DOC = """{body}

    Parameters
    ----------
    tensor : torch.Tensor
        A float32, float64, float16 or bfloat16 tensor{fans}.
    {torch_arguments}
        As torch.nn.init.{name}.{shard}

    Returns
    -------
    torch.Tensor
        `tensor`, filled.
    """

for _fn in (kaiming_normal_, kaiming_uniform_, xavier_normal_, xavier_uniform_, trunc_normal_,
            normal_, uniform_):
    # The torch arguments of a drop-in are those of its signature between tensor and generator.
    _names = list(inspect.signature(_fn).parameters)
    document(_fn, _DROP_IN_DOC, body=(_fn.__doc__ or "").rstrip(), name=_fn.__name__,
             torch_arguments=", ".join(_names[1:_names.index("generator") + 1]),
             fans=" with at least 2 dimensions" if _fn.__name__.startswith(("kaiming", "xavier"))
             else "", shard=_SHARD_DOC)
del _fn, _names
