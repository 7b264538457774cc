"""Keys by name: a parameter's values depend only on the seed and its fully-qualified name."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from heinit_rs import _core
from heinit_rs._random import FixedStream, Generator
from heinit_rs.torch._dtensor import local_tensor
from heinit_rs.torch._fill import Seed, key_source
from heinit_rs.torch._modules import reset_method

_NAME_SPACE = 1 << 63  # derive_key indices with the top bit set: never a spawn() child's index


def name_key(seed: int, name: str) -> int:
    """The key of the fills made for the parameter (or module) `name` under `seed`:
    ``derive_key(seed, 2**63 | (blake2b-64(name) >> 1))`` (docs/stream-spec.md)."""
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
    return _core.derive_key(seed, _NAME_SPACE | (digest >> 1))


class NameStreams:
    """The n-th fill made for a name is stream n of that name's key under `seed`."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.fills: dict[str, int] = {}  # name -> fills made
        self.lock = threading.Lock()

    def next(self, name: str) -> FixedStream:
        with self.lock:
            n = self.fills.get(name, 0)
            self.fills[name] = n + 1
        return FixedStream(name_key(self.seed, name), n)


class NameKeys:
    """Keys by name: a fill of a parameter's or buffer's memory is stream n (its n-th fill) of
    that tensor's name's key; a fill of any other tensor (a temporary that the model's init
    copies into a parameter later) is stream n of the key of the name of the module whose
    initialization is running, with ":temporary" appended."""

    def __init__(self, streams: NameStreams, module: torch.nn.Module) -> None:
        self.streams = streams
        self.owners: dict[int, str] = {}
        named = [*module.named_parameters(remove_duplicate=False),
                 *module.named_buffers(remove_duplicate=False)]
        for name, tensor in named:
            if tensor is not None:
                self.owners.setdefault(storage_address(tensor), name)
        # Held until the init ends: a buffer that the init replaces (torchtitan recomputes its
        # RoPE cache) would free its memory, and a temporary allocated there would take its name.
        self.held = [tensor for _, tensor in named]
        self.running: list[str] = []  # the modules whose initialization is running, innermost last

    def source_for(self, tensor: torch.Tensor) -> FixedStream:
        name = self.owners.get(storage_address(tensor))
        if name is None:
            name = f"{self.running[-1] if self.running else ''}:temporary"
        return self.streams.next(name)

    @contextlib.contextmanager
    def initializing(self, name: str) -> Iterator[None]:
        self.running.append(name)
        try:
            yield
        finally:
            self.running.pop()


def storage_address(tensor: torch.Tensor) -> int:
    local = local_tensor(tensor)
    return int(local.untyped_storage().data_ptr()) if not local.is_meta else 0


# The methods through which models initialize themselves, and whose module's name keys the
# fills they make into temporaries: transformers' _init_weights(module) (the module it is given),
# torchtitan's _init_self_parameters() and torch's reset methods (the module they belong to).
_INIT_METHODS = ("_init_weights", "_init_self_parameters", "reset_parameters", "_reset_parameters")


@contextlib.contextmanager
def keyed_methods(module: torch.nn.Module, keys: NameKeys) -> Iterator[None]:
    """While the block runs, fills into temporaries are keyed by the initializing module's
    name, whichever of its initialization methods runs them."""
    names = {id(m): name for name, m in module.named_modules()}
    with contextlib.ExitStack() as stack:
        stack.enter_context(_keyed_method(
            module, "_init_weights", keys,
            lambda owner, initialized=None, *_: names.get(id(initialized), names[id(owner)])))
        for attribute in _INIT_METHODS[1:]:
            stack.enter_context(_keyed_method(module, attribute, keys,
                                              lambda owner, *_: names[id(owner)]))
        yield


def model_init_entry(module: torch.nn.Module,
                     device: torch.device) -> Callable[[], object] | None:
    """A model's own initialization where a library names it: a transformers
    PreTrainedModel's initialize_weights() (then tie_weights()), torchtitan's init_states()."""
    if callable(getattr(module, "initialize_weights", None)) and \
            callable(getattr(module, "_init_weights", None)):
        def transformers_init() -> None:
            getattr(module, "initialize_weights")()
            if callable(getattr(module, "tie_weights", None)):
                getattr(module, "tie_weights")()
        return transformers_init
    init_states = getattr(module, "init_states", None)
    if callable(init_states):
        return lambda: init_states(buffer_device=device)
    return None


def reset_all(module: torch.nn.Module) -> None:
    """Each module's own reset_parameters() (or _reset_parameters()), in module order."""
    for layer in module.modules():
        reset = reset_method(layer)
        if reset is not None:
            reset()


@contextlib.contextmanager
def _keyed_method(module: torch.nn.Module, attribute: str, keys: NameKeys,
                  name_of: Callable[..., str]) -> Iterator[None]:
    """While the block runs, each submodule's method `attribute` keys the fills it makes into
    temporaries under ``name_of(owner, *its arguments)``; the instance attributes that do so
    are removed again on exit."""
    owners = [m for m in module.modules()
              if callable(getattr(m, attribute, None)) and attribute not in m.__dict__]
    for owner in owners:
        setattr(owner, attribute, _keyed_under(getattr(owner, attribute), keys,
                                               functools.partial(name_of, owner)))
    try:
        yield
    finally:
        for owner in owners:
            delattr(owner, attribute)


def _keyed_under(method: Callable[..., Any], keys: NameKeys,
                 name_of: Callable[..., str]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        with keys.initializing(name_of(*args)):
            return method(*args, **kwargs)
    return run




def name_key_seed(module: object, generator: torch.Generator | None, seed: Seed) -> int:
    """The seed of name keys: `seed`, or one draw from `generator` or torch's default one."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if isinstance(seed, Generator):
        raise TypeError("with init='model' or a callable, seed must be an int or None (values "
                        "are keyed by name, not by a generator's draws)")
    source = key_source(generator, seed)
    return source if isinstance(source, int) else source.next_stream()[0]

