"""fast_init: the initialization code a model already runs, filled by heinit_rs.

torch.nn.init's uniform_, normal_, xavier_* and kaiming_* all end in Tensor.uniform_ or
Tensor.normal_ (through _no_grad_uniform_/_no_grad_normal_ or directly), and trunc_normal_
in _no_grad_trunc_normal_, which every copy of trunc_normal_ looks up in torch.nn.init's
globals at call time. Patching these three leaves therefore reaches every way of calling
the initializers: torch.nn.init.X, `from torch.nn.init import X` copies, functools.partial
objects made at import (torchtitan), and transformers' TORCH_INIT_FUNCTIONS.
The patches are global but act only for threads inside a fast_init block (a thread-local
stack); every other thread gets torch's own functions.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.init as _torch_init

from heinit_rs._random import Generator, StreamSource, check_seed
from heinit_rs.torch._fill import FLOAT_DTYPES, key_source
from heinit_rs.torch._ops import fill, traced


class KeysByName(Protocol):
    def source_for(self, tensor: torch.Tensor) -> StreamSource: ...


class Redirect(NamedTuple):
    """One fast_init block of this thread: where its fills take their keys."""

    seed: Generator | None  # None: the code's generator=, else torch's default generator
    keys: KeysByName | None  # materialize(init=...): keys by parameter name instead


_active = threading.local()
_patch_lock = threading.Lock()
_patch_users = 0
_MISSING = object()
_ORIGINAL_TENSOR_METHODS = {name: torch.Tensor.__dict__.get(name, _MISSING)
                            for name in ("normal_", "uniform_")}
_TORCH_NORMAL = torch.Tensor.normal_
_TORCH_UNIFORM = torch.Tensor.uniform_
_TORCH_TRUNC_NORMAL = _torch_init._no_grad_trunc_normal_


def _redirect() -> Redirect | None:
    stack: list[Redirect] | None = getattr(_active, "stack", None)
    return stack[-1] if stack else None


def _redirectable(tensor: torch.Tensor) -> bool:
    """A real float tensor that heinit_rs fills as torch would: not under a transform, not an
    autograd leaf that torch itself would refuse to write outside no_grad."""
    return (tensor.dtype in FLOAT_DTYPES and tensor.layout == torch.strided
            and not traced(tensor) and not (tensor.requires_grad and torch.is_grad_enabled()))


def _redirected(redirect: Redirect, tensor: torch.Tensor, initializer: str,
                arguments: tuple[object, ...], generator: torch.Generator | None) -> bool:
    """Fill `tensor` from heinit_rs as the redirect says; False where heinit_rs refuses the
    arguments (nothing drawn or written), so that torch runs and raises its own error."""
    if redirect.keys is not None:
        source: int | StreamSource = redirect.keys.source_for(tensor)
    elif generator is not None or redirect.seed is None:
        source = key_source(generator, None)
    else:
        source = redirect.seed
    try:
        fill(tensor, initializer, source, None, None, arguments)
    except (ValueError, TypeError):
        return False
    return True


def _fast_normal_(self: torch.Tensor, mean: float = 0.0, std: float = 1.0, *,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    redirect = _redirect()
    if redirect is not None and _redirectable(self) and _redirected(
            redirect, self, "normal_", (mean, std), generator):
        return self
    return _TORCH_NORMAL(self, mean, std, generator=generator)  # type: ignore[no-any-return, unused-ignore]


def _fast_uniform_(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    # Tensor.uniform_(from=0, to=1, *, generator=None): `from` is a keyword Python cannot name.
    redirect = _redirect()
    if redirect is not None and _redirectable(self) and len(args) <= 2 \
            and set(kwargs) <= {"from", "to", "generator"}:
        low = args[0] if args else kwargs.get("from", 0.0)
        high = args[1] if len(args) > 1 else kwargs.get("to", 1.0)
        if _redirected(redirect, self, "uniform_", (low, high), kwargs.get("generator")):
            return self
    return _TORCH_UNIFORM(self, *args, **kwargs)  # type: ignore[no-any-return, unused-ignore]


def _fast_trunc_normal_(tensor: torch.Tensor, mean: float, std: float, a: float, b: float,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    redirect = _redirect()
    if redirect is not None:
        with torch.no_grad():  # where torch's own helper writes
            if _redirectable(tensor) and _redirected(redirect, tensor, "trunc_normal_",
                                                     (mean, std, a, b), generator):
                return tensor
    return _TORCH_TRUNC_NORMAL(  # type: ignore[no-any-return, unused-ignore]
        tensor, mean, std, a, b, generator=generator)


def _install_patches() -> None:
    global _patch_users
    with _patch_lock:
        if _patch_users == 0:
            torch.Tensor.normal_ = _fast_normal_  # type: ignore[method-assign, assignment, unused-ignore]
            torch.Tensor.uniform_ = _fast_uniform_  # type: ignore[method-assign, assignment, unused-ignore]
            _torch_init._no_grad_trunc_normal_ = _fast_trunc_normal_
        _patch_users += 1


def _remove_patches() -> None:
    global _patch_users
    with _patch_lock:
        _patch_users -= 1
        if _patch_users == 0:
            for name, original in _ORIGINAL_TENSOR_METHODS.items():
                if original is _MISSING:
                    delattr(torch.Tensor, name)
                else:
                    setattr(torch.Tensor, name, original)
            _torch_init._no_grad_trunc_normal_ = _TORCH_TRUNC_NORMAL


class fast_init(contextlib.ContextDecorator):
    """Inside this block (or decorated function), every random initialization of a float tensor
    is filled by heinit_rs, with the distribution and parameters the code asked for: torch.nn.init's
    uniform_, normal_, trunc_normal_, kaiming_* and xavier_* however they are reached (copies,
    functools.partial objects, transformers' TORCH_INIT_FUNCTIONS), and Tensor.normal_ and
    Tensor.uniform_.

    Keys come as heinit_rs.torch takes them: from the call's ``generator=``, else one 64-bit
    draw from torch's default generator, so ``torch.manual_seed(s)`` reproduces a run; with
    ``seed=s``, from a fresh ``heinit_rs.Generator(s)`` each time the block is entered. CPU
    tensors are filled in place, other devices through a CPU staging copy, meta tensors left
    alone. torch keeps everything else: non-float tensors, ``zeros_``/``ones_``/``constant_``,
    ``torch.randn``, dropout, tensors under torch.compile/FakeTensorMode/vmap, and any call
    whose arguments heinit_rs refuses (torch then raises its own error). ``orthogonal_`` and
    ``sparse_`` keep their own algorithm but draw their normals through ``Tensor.normal_``, so
    from heinit_rs.

    The redirect is per thread, like torch's function modes: the patched functions are global
    while any thread is inside a block, but act only for threads inside one; another thread
    gets torch's own values. On exit (also when the block raises) torch.Tensor and
    torch.nn.init are restored exactly. Blocks nest; the innermost one decides.

    Parameters
    ----------
    seed : int, optional
        Draw the keys from ``heinit_rs.Generator(seed)`` instead of torch's generators.

    Examples
    --------
    >>> import torch, heinit_rs.torch
    >>> _ = torch.manual_seed(0)
    >>> with heinit_rs.torch.fast_init():
    ...     layer = torch.nn.Linear(256, 128)  # its reset_parameters, filled by heinit_rs
    >>> bool(layer.weight.abs().max() <= 1 / 16)
    True
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = None if seed is None else check_seed(seed, what="an int in [0, 2**64 - 1] "
                                                                    "or None")

    def __enter__(self) -> fast_init:
        enter(Redirect(None if self.seed is None else Generator(self.seed), None))
        return self

    def __exit__(self, *exc: object) -> None:
        leave()


def enter(redirect: Redirect) -> None:
    _install_patches()
    stack = getattr(_active, "stack", None)
    if stack is None:
        stack = _active.stack = []
    stack.append(redirect)


def leave() -> None:
    _active.stack.pop()
    _remove_patches()

