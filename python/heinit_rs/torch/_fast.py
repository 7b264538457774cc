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
import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.init as _torch_init

from heinit_rs._random import Generator, StreamSource, check_seed
from heinit_rs.torch._fill import FLOAT_DTYPES, key_source
from heinit_rs.torch._ops import fill, traced
from heinit_rs.torch._record import recorder, seeded_construction


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
_TORCH_FACTORIES = {name: getattr(torch, name)
                    for name in ("rand", "randn", "rand_like", "randn_like", "normal")}


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
    if _torch_rejects(tensor, initializer, arguments):
        return False
    if generator not in (None, torch.default_generator) and recorder() is not None:
        raise seeded_construction(f"passes its own generator= to {initializer}")
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


def _torch_rejects(tensor: torch.Tensor, initializer: str,
                   arguments: tuple[object, ...]) -> bool:
    """Arguments that heinit_rs takes but torch refuses: U(a, b) wider than the dtype's range,
    a truncated normal of std 0 (torch divides by it)."""
    try:
        numbers = [float(value) for value in arguments  # type: ignore[arg-type]
                   if not isinstance(value, str)]
    except (TypeError, ValueError, RuntimeError):
        return False
    if initializer == "uniform_":
        return bool(numbers[1] - numbers[0] > torch.finfo(tensor.dtype).max)
    return initializer == "trunc_normal_" and numbers[1] == 0


def _made_and_filled(redirect: Redirect, empty: Callable[..., torch.Tensor], args: Any,
                     kwargs: dict[str, Any], initializer: str,
                     arguments: tuple[object, ...]) -> torch.Tensor | None:
    """A random factory's tensor (torch.rand, randn, their _like forms, normal(m, s, size)),
    made empty and filled by heinit_rs; None where torch must make it itself."""
    if "out" in kwargs or "names" in kwargs:
        return None
    kwargs = dict(kwargs)
    generator = kwargs.pop("generator", None)
    requires_grad = kwargs.pop("requires_grad", False)
    try:
        tensor = empty(*args, **kwargs)
    except (TypeError, RuntimeError):
        return None
    if not _redirectable(tensor) or not _redirected(redirect, tensor, initializer, arguments,
                                                    generator):
        return None
    return tensor.requires_grad_(requires_grad)


def _factory(name: str, empty: Callable[..., torch.Tensor],
             initializer: str) -> Callable[..., torch.Tensor]:
    original = getattr(torch, name)
    arguments = (0.0, 1.0)

    def made(*args: Any, **kwargs: Any) -> torch.Tensor:
        redirect = _redirect()
        if redirect is not None:
            tensor = _made_and_filled(redirect, empty, args, kwargs, initializer, arguments)
            if tensor is not None:
                return tensor
        return original(*args, **kwargs)  # type: ignore[no-any-return, unused-ignore]
    made.__wrapped__ = original  # type: ignore[attr-defined]
    return made


def _fast_normal(*args: Any, **kwargs: Any) -> torch.Tensor:
    """torch.normal(mean, std, size, ...) with number mean and std; other forms are torch's."""
    redirect = _redirect()
    if redirect is not None:
        named = dict(zip(("mean", "std", "size"), args))
        rest = {key: value for key, value in kwargs.items() if key not in ("mean", "std", "size")}
        named.update({key: kwargs[key] for key in ("mean", "std", "size") if key in kwargs})
        if len(args) <= 3 and set(named) == {"mean", "std", "size"} and all(
                isinstance(named[key], (int, float)) for key in ("mean", "std")):
            tensor = _made_and_filled(redirect, torch.empty, (named["size"],), rest, "normal_",
                                      (named["mean"], named["std"]))
            if tensor is not None:
                return tensor
    return _TORCH_FACTORIES["normal"](*args, **kwargs)  # type: ignore[no-any-return, unused-ignore]


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


def _fast_timm_trunc_normal_(tensor: torch.Tensor, mean: float, std: float, a: float,
                             b: float) -> torch.Tensor:
    return _fast_trunc_normal_(tensor, mean, std, a, b)


_FAST_FACTORIES = {
    "rand": _factory("rand", torch.empty, "uniform_"),
    "randn": _factory("randn", torch.empty, "normal_"),
    "rand_like": _factory("rand_like", torch.empty_like, "uniform_"),
    "randn_like": _factory("randn_like", torch.empty_like, "normal_"),
    "normal": _fast_normal,
}
# timm's trunc_normal_, trunc_normal_tf_, variance_scaling_ and lecun_normal_ (whichever way
# they are bound) draw through this helper, looked up in timm's module at call time.
_TIMM_WEIGHT_INIT = "timm.layers.weight_init"
_timm_original: list[Any] = []


def _install_patches() -> None:
    global _patch_users
    with _patch_lock:
        if _patch_users == 0:
            torch.Tensor.normal_ = _fast_normal_  # type: ignore[method-assign, assignment, unused-ignore]
            torch.Tensor.uniform_ = _fast_uniform_  # type: ignore[method-assign, assignment, unused-ignore]
            _torch_init._no_grad_trunc_normal_ = _fast_trunc_normal_
            for name, patched in _FAST_FACTORIES.items():
                setattr(torch, name, patched)
            timm_init = sys.modules.get(_TIMM_WEIGHT_INIT)
            if timm_init is not None and callable(getattr(timm_init, "_trunc_normal_", None)):
                _timm_original.append((timm_init, timm_init._trunc_normal_))
                setattr(timm_init, "_trunc_normal_", _fast_timm_trunc_normal_)
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
            for name, original in _TORCH_FACTORIES.items():
                setattr(torch, name, original)
            while _timm_original:
                timm_init, helper = _timm_original.pop()
                setattr(timm_init, "_trunc_normal_", helper)


class fast_init(contextlib.ContextDecorator):
    """Inside this block (or decorated function), every random initialization of a float tensor
    is filled by heinit_rs, with the distribution and parameters the code asked for: torch.nn.init's
    uniform_, normal_, trunc_normal_, kaiming_* and xavier_* however they are reached (copies,
    functools.partial objects, transformers' TORCH_INIT_FUNCTIONS), Tensor.normal_ and
    Tensor.uniform_, the factories torch.rand, torch.randn, torch.rand_like, torch.randn_like
    and torch.normal(mean, std, size) (called as ``torch.X``), and timm's trunc_normal_,
    trunc_normal_tf_, variance_scaling_ and lecun_normal_ (when timm is imported).

    Keys come as heinit_rs.torch takes them: from the call's ``generator=``, else one 64-bit
    draw from torch's default generator per fill, so ``torch.manual_seed(s)`` reproduces a run
    (torch's generator advances by one draw per fill, where torch's own kernels advance it by
    one or more per value); with ``seed=s``, from ``heinit_rs.Generator(s)``, made once per
    fast_init object: a decorated function continues one stream across its calls (consecutive
    calls differ, a rerun of the program repeats them), and each ``with fast_init(seed=s)``
    starts it afresh. CPU tensors are filled in place, other devices through a CPU staging
    copy, meta tensors left alone. torch keeps everything else: non-float tensors,
    ``zeros_``/``ones_``/``constant_``, integer generators, dropout, tensors under
    torch.compile/FakeTensorMode/vmap, and any call whose arguments heinit_rs or torch refuses
    (torch then raises its own error, with nothing drawn or written). ``orthogonal_`` and
    ``sparse_`` keep their own algorithm but draw their normals through ``Tensor.normal_``, so
    from heinit_rs.

    The redirect is per thread, like torch's function modes: the patched functions are global
    while any thread is inside a block, but act only for threads inside one; another thread
    gets torch's own values. On exit (also when the block raises) torch, torch.Tensor,
    torch.nn.init and timm are restored exactly. Blocks nest; the innermost one decides.

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
        self.generator = None if self.seed is None else Generator(self.seed)

    def __enter__(self) -> fast_init:
        enter(Redirect(self.generator, None))
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

