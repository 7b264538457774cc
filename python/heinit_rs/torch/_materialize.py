"""materialize: real tensors for a module built on the meta device, initialized by a chosen
scheme, the model's own included (deferred_init's record, or a library's init entry)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from heinit_rs._random import Generator, StreamSource
from heinit_rs.torch._fast import Redirect, enter, leave
from heinit_rs.torch._fill import Seed, TorchDraw, key_source
from heinit_rs.torch._modules import init_he, module_source
from heinit_rs.torch._names import (
    NameKeys,
    NameStreams,
    keyed_methods,
    model_init_entry,
    reset_all,
)
from heinit_rs.torch._ops import traced
from heinit_rs.torch._record import Record, keep, record_of, recording
from heinit_rs.torch._replay import replay

_INITS = ("he", "model", "reset")


def deferred_init(fn: Callable[..., torch.nn.Module], *args: Any,
                  **kwargs: Any) -> torch.nn.Module:
    """Build ``fn(*args, **kwargs)`` on the meta device, recording how each parameter and
    buffer gets its value, for ``materialize(module, device, init="model")`` to replay.

    Construction runs as written, with no memory for tensors: every ATen operator it runs is
    recorded (random fills by any path, constants, copies of computed tensors such as
    sinusoidal tables, in-place arithmetic), and tensors made from Python or NumPy data are
    kept. `materialize` replays the operators that reach the module's tensors on the target
    device, each random fill drawn by heinit_rs keyed by the name of the tensor it flows into,
    so a pipeline stage or another construction order gets the same values by name. What
    cannot run on meta tensors (reading a value: ``.item()``, ``if t.sum() > 0``) raises here.

    Parameters
    ----------
    fn : callable
        Returns a torch.nn.Module: a model class, or a function that builds one.
    *args, **kwargs
        Passed to `fn`.

    Returns
    -------
    torch.nn.Module
        The module, on the meta device, with its record.
    """
    with recording() as record:
        enter(Redirect(None, None))  # torch.nn.init's fills reach heinit_rs, which records them
        try:
            module = fn(*args, **kwargs)
        finally:
            leave()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"deferred_init: fn must return a torch.nn.Module, got "
                        f"{type(module).__name__}")
    keep(module, record)
    return module


def materialize(module: torch.nn.Module, device: str | torch.device = "cpu",
                nonlinearity: str = "relu", seed: Seed = None, *,
                init: str | Callable[[torch.nn.Module], object] = "he", a: float = 0,
                mode: str = "fan_in",
                generator: torch.Generator | None = None) -> torch.nn.Module:
    """Give a module built on the meta device real tensors on `device`, initialized by `init`:

    - ``"he"`` (default): `init_module`'s He initialization, N(0, 1) for Embedding weights (a
      padding row zero), as torch's, and every other module's own ``reset_parameters()`` (or
      ``_reset_parameters()``, as ``MultiheadAttention`` and ``Transformer`` name it). Draws
      come one per tensor, in module order, from `seed` or torch's generator.
    - ``"model"``: the model's own initialization, every random fill made by heinit_rs. For a
      module built by `deferred_init`, its recorded construction replayed: deterministic
      tensors exactly as the constructor made them, random ones from heinit_rs with the
      distribution it asked for. Otherwise where a library names its init: a transformers
      ``PreTrainedModel``'s ``initialize_weights()``, torchtitan's ``init_states()``. Any
      other module raises ValueError: build it with `deferred_init`, or ask for ``"reset"``.
    - ``"reset"``: each module's own ``reset_parameters()``, torch's defaults, every fill made
      by heinit_rs.
    - a callable: ``init(module)``, every fill made by heinit_rs.

    Except for ``"he"``, values are keyed by name: a parameter's values depend only on the seed
    and its fully-qualified name (key `name_key(seed, name)`, stream n for its n-th fill),
    also where the model draws into temporaries that it copies into the parameter (keyed by the
    name of the tensor they flow into under ``"model"`` with a record, else of the module whose
    initialization method runs). So a pipeline stage that holds some of the layers gets the
    whole model's values for them, and modules built in another order get the same values.
    The seed is `seed` (an int), else one 64-bit draw from `generator` or torch's default
    generator; a call that raises draws nothing.

    A module whose parameters were sharded on the meta device (``fully_shard``, tensor
    parallelism, both) is materialized one shard per rank, each equal to its block of the
    unsharded model. A `deferred_init` record is replayed on each rank's blocks where its
    operators are element-wise, and piece by piece otherwise: a rank's peak memory is its
    shards plus the largest piece replayed whole (docs/frameworks.md). Every parameter must be
    written: one that nothing initializes raises ValueError naming it, instead of holding
    whatever memory ``to_empty`` gave it. On the meta device, or under FakeTensorMode, tensors
    get no values, as torch's own ``reset_parameters`` gives them none.

    Parameters
    ----------
    module : torch.nn.Module
    device : str or torch.device, default "cpu"
    nonlinearity, a, mode
        As `init_module` (``init="he"`` only).
    seed : int or heinit_rs.Generator, optional
        As `init_module`; with any other `init`, an int or None.
    init : {"he", "model", "reset"} or callable, default "he"
    generator : torch.Generator, optional

    Returns
    -------
    torch.nn.Module
        `module`, on `device`.
    """
    if not (init in _INITS or callable(init)):
        raise ValueError(f"init must be 'he', 'model', 'reset' or a callable taking the module, "
                         f"got {init!r}")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    target = torch.device(device)
    record = record_of(module) if init == "model" else None
    entry = model_init_entry(module, target) if init == "model" else None
    if init == "model" and record is None and entry is None:
        raise ValueError(
            f"materialize(init='model'): {type(module).__name__} has no record of its own "
            f"initialization: build it with heinit_rs.torch.deferred_init({type(module).__name__}"
            f", ...) so that what its constructor does is replayed, or pass init='reset' for "
            f"each module's reset_parameters() (torch's defaults)")
    source: int | StreamSource = module_source(module, generator, seed) if init == "he" \
        else _name_key_source(generator, seed)
    with _draws_nothing_on_failure(source):
        if init == "he":
            module.to_empty(device=target)
            versions = _versions(module)
            assert not isinstance(source, int)  # module_source gives a StreamSource
            init_he(module, source, nonlinearity, a, mode)
            untouched = _unwritten(versions)
        else:
            base = source if isinstance(source, int) else source.next_stream()[0]
            untouched = _init_by_name(module, target, base, init, record, entry)
    if untouched and target.type != "meta" and not any(map(traced, module.parameters())):
        raise ValueError(
            f"materialize: nothing initialized the parameter(s) {', '.join(untouched)}, which "
            f"hold whatever memory to_empty gave them: their modules have no "
            f"reset_parameters() that writes them. Define one, or initialize them yourself "
            f"after module.to_empty(device=...)")
    return module


def _init_by_name(module: torch.nn.Module, device: torch.device, seed: int, init: Any,
                  record: Record | None, entry: Callable[[], object] | None) -> list[str]:
    """Initialize with keys by name: replay a record, then run a library's init entry, `init`
    or the reset methods; the names of the parameters nothing wrote."""
    if record is not None and device.type != "meta":
        unwritten = replay(record, module, device, NameStreams(seed))
        module.to(device)  # what construction made on a real device already
        if entry is None:
            return [name for name, _ in module.named_parameters() if name in unwritten]
    else:
        module.to_empty(device=device)
        unwritten = {name for name, _ in module.named_parameters()}
    # The init's fills counted from 0 again: its values are those it gives the same model built
    # on the meta device, whatever the replay drew before it.
    keys = NameKeys(NameStreams(seed), module)
    versions = _versions(module)
    enter(Redirect(None, keys))
    try:
        with keyed_methods(module, keys):
            if entry is not None:
                entry()
            elif init == "reset":
                reset_all(module)
            elif callable(init):
                init(module)
    finally:
        leave()
    return [name for name in _unwritten(versions) if name in unwritten]


def _versions(module: torch.nn.Module) -> dict[str, tuple[torch.Tensor, int]]:
    """Each parameter and its autograd version now, by name: a write bumps the version."""
    return {name: (tensor, tensor._version) for name, tensor in module.named_parameters()}


def _unwritten(versions: dict[str, tuple[torch.Tensor, int]]) -> list[str]:
    return [name for name, (tensor, version) in versions.items() if tensor._version == version]


def _name_key_source(generator: torch.Generator | None, seed: Seed) -> int | StreamSource:
    if isinstance(seed, Generator):
        raise TypeError("with init='model', 'reset' or a callable, seed must be an int or None "
                        "(values are keyed by name, not by a generator's draws)")
    return key_source(generator, seed)


@contextlib.contextmanager
def _draws_nothing_on_failure(source: int | StreamSource) -> Iterator[None]:
    """Put back the generator's state if the block raises."""
    saved: Any = None
    if isinstance(source, TorchDraw):
        saved = source.generator.get_state()
    elif isinstance(source, Generator):
        saved = source.state
    try:
        yield
    except BaseException:
        if isinstance(source, TorchDraw):
            source.generator.set_state(saved)
        elif isinstance(source, Generator):
            source.state = saved
        raise
