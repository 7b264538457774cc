"""heinit_rs for PyTorch: a drop-in for torch.nn.init.

``import heinit_rs.torch as init`` replaces ``import torch.nn.init as init``: the seven random
initializers below fill tensors in place from heinit_rs' Rust core, with torch's signatures,
fans and gains, and every other name (``orthogonal_``, ``zeros_``, ``calculate_gain``, ...) is
torch's own.

- CPU tensors (float32, float64, float16, bfloat16; any strides; parameters that require
  grad) are written in place through shared memory, with no copy; the autograd version
  counter is bumped as an in-place torch op would.
- Seeds: with no `generator`, each call takes a 64-bit key from torch's default CPU generator
  (one ``random_`` draw), so ``torch.manual_seed(s)`` makes a program reproducible and
  consecutive calls differ. A ``torch.Generator`` is drawn from the same way. ``seed=`` takes
  an int or a ``heinit_rs.Generator`` instead, as the NumPy API does. A call that raises draws
  nothing.
- Meta tensors are left alone, as torch leaves them. Tensors on other devices (CUDA, ...) are
  filled from the same stream through a CPU staging tensor, so a weight has the same values on
  every device.
- ``global_shape=`` and ``index=`` fill one block of a larger logical weight, equal bit for bit
  to that block of the whole (docs/stream-spec.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.init as _torch_init

from heinit_rs import _core, _initializers
from heinit_rs._checks import bfloat16_dtype
from heinit_rs._gains import Activation
from heinit_rs._presets import document
from heinit_rs._random import MAX_SEED, FixedStream, Generator, StreamSource, check_seed

__all__ = [
    "fast_init",
    "name_key",
    "init_module",
    "materialize",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
]

Seed = int | Generator | None
Index = _initializers.Index
_FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


_scratch = threading.local()


class TorchDraw(StreamSource):
    """A torch.Generator as a heinit_rs stream source: each draw is one 64-bit ``random_``
    from it (stream 0 of that key); a call that fails restores the generator's state."""

    __slots__ = ("generator", "_saved")

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator
        self._saved: torch.Tensor | None = None

    def next_stream(self) -> tuple[int, int]:
        self._saved = self.generator.get_state()
        device = self.generator.device
        if device.type == "cpu":  # one scratch word per thread: torch.empty costs 2 us a call
            word = getattr(_scratch, "word", None)
            if word is None:
                with torch.inference_mode(False):  # a normal tensor, writable in any mode
                    word = _scratch.word = torch.empty((), dtype=torch.int64, device=device)
        else:
            word = torch.empty((), dtype=torch.int64, device=device)
        # from = int64's minimum and no `to`: torch's full 64-bit range.
        word.random_(-(2**63), None, generator=self.generator)
        return int(word.item()) & MAX_SEED, 0

    def _give_back(self, stream: int) -> None:
        if self._saved is not None:
            self.generator.set_state(self._saved)
            self._saved = None


def _source(generator: torch.Generator | None, seed: object) -> int | StreamSource:
    """Where a call's key comes from: `seed` (an int or a heinit_rs.Generator), else
    `generator`, else torch's default CPU generator."""
    if seed is not None:
        if generator is not None:
            raise ValueError("pass generator= (a torch.Generator) or seed=, not both")
        if isinstance(seed, Generator):
            return seed
        return check_seed(seed, what="an int in [0, 2**64 - 1], a heinit_rs.Generator or None")
    if generator is None:
        return TorchDraw(torch.default_generator)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got "
                        f"{type(generator).__name__}")
    return TorchDraw(generator)


def _check_tensor(tensor: object) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"tensor must have dtype float32, float64, float16 or bfloat16, got "
                        f"{tensor.dtype}")
    if tensor.layout != torch.strided:
        raise TypeError(f"tensor must be a strided (dense) tensor, got layout {tensor.layout}")
    if not tensor.is_contiguous() and any(
            stride == 0 and n > 1 for stride, n in zip(tensor.stride(), tensor.shape)):
        raise ValueError(
            "tensor has elements that share one memory location (stride 0, e.g. from "
            "expand()); clone() it before filling it")
    return tensor


def numpy_view(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy array sharing a CPU tensor's memory (bfloat16 through ml_dtypes)."""
    if tensor.requires_grad:
        tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        bits: np.ndarray = tensor.view(torch.int16).numpy()
        return bits.view(bfloat16_dtype("a bfloat16 tensor"))
    view: np.ndarray = tensor.numpy()
    return view


def _byte_span(tensor: torch.Tensor) -> tuple[int, int]:
    """[first, last] byte addresses a non-empty tensor's elements may occupy."""
    first = tensor.data_ptr()
    if tensor.is_contiguous():
        return first, first + tensor.numel() * tensor.element_size() - 1
    reach = sum((n - 1) * stride for n, stride in zip(tensor.shape, tensor.stride()))
    return first, first + (reach + 1) * tensor.element_size() - 1


# Byte spans being filled now, by any thread. The NumPy API refuses a second writer through
# NumPy's borrow checking, which the fresh NumPy view made of a tensor for each call escapes:
# two writers of one tensor would leave a mix of both calls' values.
_writing_lock = threading.Lock()
_writing: list[tuple[int, int]] = []


def _claim(span: tuple[int, int]) -> None:
    """Mark `span` as being written, or raise if another call is writing any of it."""
    with _writing_lock:
        for first, last in _writing:
            if first <= span[1] and span[0] <= last:
                raise RuntimeError(
                    "tensor, or memory it shares, is being filled by another thread right "
                    "now; heinit_rs lets one call at a time write to a tensor")
        _writing.append(span)


def _release(span: tuple[int, int]) -> None:
    with _writing_lock:
        _writing.remove(span)


def _fill(tensor: object, initializer: str, source: int | StreamSource,
          global_shape: Sequence[int] | None, index: Index,
          arguments: tuple[object, ...]) -> torch.Tensor:
    """Fill `tensor` in place with the NumPy API's `initializer` (given torch's positional
    `arguments`) on a view of its memory, or on a CPU staging tensor copied to its device. A
    DTensor fills its local shard from its global offset."""
    target = _check_tensor(tensor)
    if target.is_meta:
        return target
    if _traced(target):  # init_module and materialize reach here under a transform
        if not isinstance(source, TorchDraw) or global_shape is not None or index is not None:
            raise _untraceable(initializer)
        return _run_traced(initializer, target, arguments, source.generator)
    inference = target.is_inference()
    if inference and not torch.is_inference_mode_enabled():
        raise RuntimeError("Inplace update to inference tensor outside InferenceMode is not "
                           "allowed. You can make a clone to get a normal tensor before doing "
                           "inplace update.")
    local = target
    if _is_dtensor(target):
        if global_shape is not None or index is not None:
            raise ValueError("a DTensor knows its global shape and its shard; pass neither "
                             "global_shape nor index")
        shard_of_rank, global_shape, index = _dtensor_shard(target)
        if shard_of_rank is None:  # this rank holds no part of it
            return target
        local = shard_of_rank
    on_cpu = local.is_cpu
    written = local if on_cpu else torch.empty(local.shape, dtype=local.dtype)
    arguments = tuple([value.item() if isinstance(value, torch.Tensor) and value.dim() == 0
                       else value for value in arguments])
    span = _byte_span(local) if local.numel() else None
    if span is not None:
        _claim(span)
    try:
        getattr(_initializers, initializer)(numpy_view(written), *arguments, seed=source,
                                            global_shape=global_shape, index=index)
    finally:
        if span is not None:
            _release(span)
    if not on_cpu:
        with torch.no_grad():
            local.copy_(written)
    elif not inference:
        torch.autograd.graph.increment_version(local)
    if local is not target:  # a DTensor: its own version counts the write too
        torch.autograd.graph.increment_version(target)
    return target


# Under torch.compile, FakeTensorMode, vmap and other transforms the tensor has no memory to
# write through: the initializers run there as torch custom ops, which torch traces as it
# traces torch.nn.init (fake: no values; real: the eager fill, drawing the same key).
_OPS = {
    "kaiming_normal_": "float a, str fan_mode, str nonlinearity",
    "kaiming_uniform_": "float a, str fan_mode, str nonlinearity",
    "xavier_normal_": "float gain",
    "xavier_uniform_": "float gain",
    "trunc_normal_": "float mean, float std, float a, float b",
    "normal_": "float mean, float std",
    "uniform_": "float a, float b",
}
_PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)


def _register_ops() -> None:
    if hasattr(torch.ops.heinit_rs, "normal_"):  # this module was imported again
        return
    library = torch.library.Library("heinit_rs", "FRAGMENT")
    for name, arguments in _OPS.items():
        library.define(f"{name}(Tensor(a!) tensor, {arguments}, Generator? generator) -> ()")
        library.impl(name, functools.partial(_run_op, name), "CompositeExplicitAutograd")
        torch.library.register_fake(f"heinit_rs::{name}", _fake_op, lib=library)
        torch.library.register_vmap(f"heinit_rs::{name}", functools.partial(_refuse_vmap, name),
                                    lib=library)
    _LIBRARIES.append(library)


_LIBRARIES: list[Any] = []  # torch unregisters a Library's ops when it is collected


def _run_op(name: str, tensor: torch.Tensor, *arguments: Any) -> None:
    *numbers, generator = arguments
    _fill(tensor, name, _source(generator, None), None, None, tuple(numbers))


def _fake_op(tensor: torch.Tensor, *arguments: Any) -> None:
    return None


def _refuse_vmap(name: str, info: Any, in_dims: Any, *arguments: Any) -> Any:
    raise RuntimeError(
        f"heinit_rs.torch.{name} cannot run under torch.vmap: each batch entry would need a "
        f"key of its own. Fill the whole batched tensor outside vmap instead")


def _traced(tensor: object) -> bool:
    """Whether `tensor` lives under a torch transform (compile, fake, vmap, functionalization)
    rather than in memory of its own."""
    if torch.compiler.is_compiling():
        return True
    if not isinstance(tensor, torch.Tensor):
        return False
    # Exact types: a Parameter made of a FakeTensor is a FakeTensor that says it is a Parameter.
    if type(tensor) not in _PLAIN_TENSORS and not _is_dtensor(tensor):
        return True
    return bool(torch._C._functorch.is_functorch_wrapped_tensor(tensor))


def _initialize(initializer: str, tensor: torch.Tensor, arguments: tuple[object, ...],
                generator: torch.Generator | None, seed: Seed,
                global_shape: Sequence[int] | None, index: Index) -> torch.Tensor:
    """Eagerly, the fill; under a torch transform, the custom op heinit_rs::<initializer>
    (here while Dynamo traces, which must not see the fill's Python; in `_fill` otherwise)."""
    if torch.compiler.is_compiling():
        if seed is not None or global_shape is not None or index is not None:
            raise _untraceable(initializer)
        return _run_traced(initializer, tensor, arguments, generator)
    return _fill(tensor, initializer, _source(generator, seed), global_shape, index, arguments)


def _run_traced(initializer: str, tensor: torch.Tensor, arguments: tuple[object, ...],
                generator: torch.Generator | None) -> torch.Tensor:
    with torch.no_grad():
        getattr(torch.ops.heinit_rs, initializer)(tensor, *arguments, generator)
    return tensor


def _untraceable(initializer: str) -> ValueError:
    return ValueError(f"{initializer}'s seed=, global_shape= and index= work on real tensors "
                      "only, not under torch.compile, FakeTensorMode or vmap; pass generator= "
                      "there")


@functools.cache
def _dtensor_class() -> type | None:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # a torch built without distributed support
        return None
    dtensor: type = DTensor
    return dtensor


def _is_dtensor(tensor: torch.Tensor) -> bool:
    dtensor = _dtensor_class()
    return dtensor is not None and isinstance(tensor, dtensor)


def _dtensor_shard(
        tensor: Any) -> tuple[torch.Tensor | None, tuple[int, ...], tuple[slice, ...] | None]:
    """(local shard, global shape, index of the shard) of a DTensor with Shard or Replicate
    placements; the local shard is None on a rank outside its mesh."""
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    for placement in tensor.placements:
        if not isinstance(placement, (Shard, Replicate)):
            raise ValueError(f"a DTensor is filled per shard from Shard or Replicate "
                             f"placements; got {placement}")
    global_shape = tuple(tensor.shape)
    if tensor.device_mesh.get_coordinate() is None:
        return None, global_shape, None
    local = tensor.to_local()
    shape, offset = compute_local_shape_and_global_offset(global_shape, tensor.device_mesh,
                                                          tensor.placements)
    if tuple(local.shape) != tuple(shape):
        raise ValueError(f"the DTensor's local shard has shape {tuple(local.shape)}, but its "
                         f"placements give {tuple(shape)}")
    return local, global_shape, tuple(slice(o, o + n) for o, n in zip(offset, shape))


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
    return _initialize('kaiming_normal_', tensor, (a, mode, nonlinearity), generator, seed, global_shape, index)


def kaiming_uniform_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str | Activation = "leaky_relu",
                     generator: torch.Generator | None = None, *, seed: Seed = None,
                     global_shape: Sequence[int] | None = None,
                     index: Index = None) -> torch.Tensor:
    """torch.nn.init.kaiming_uniform_: U(-bound, bound), bound = sqrt(3) * gain / sqrt(fan).
    """
    return _initialize('kaiming_uniform_', tensor, (a, mode, nonlinearity), generator, seed, global_shape, index)


def xavier_normal_(tensor: torch.Tensor, gain: float = 1.0,
                   generator: torch.Generator | None = None, *, seed: Seed = None,
                   global_shape: Sequence[int] | None = None,
                   index: Index = None) -> torch.Tensor:
    """torch.nn.init.xavier_normal_: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).
    """
    return _initialize('xavier_normal_', tensor, (gain,), generator, seed, global_shape, index)


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0,
                    generator: torch.Generator | None = None, *, seed: Seed = None,
                    global_shape: Sequence[int] | None = None,
                    index: Index = None) -> torch.Tensor:
    """torch.nn.init.xavier_uniform_: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)).
    """
    return _initialize('xavier_uniform_', tensor, (gain,), generator, seed, global_shape, index)


def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: torch.Generator | None = None, *,
                  seed: Seed = None, global_shape: Sequence[int] | None = None,
                  index: Index = None) -> torch.Tensor:
    """torch.nn.init.trunc_normal_: N(mean, std^2) truncated to [a, b] (absolute bounds).

    Exact inverse CDF, one draw per value: no pile-up at the bounds in any dtype, and no
    rejection loop (docs/stream-spec.md).
    """
    return _initialize('trunc_normal_', tensor, (mean, std, a, b), generator, seed, global_shape, index)


def normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0,
            generator: torch.Generator | None = None, *, seed: Seed = None,
            global_shape: Sequence[int] | None = None, index: Index = None) -> torch.Tensor:
    """torch.nn.init.normal_: N(mean, std^2).
    """
    return _initialize('normal_', tensor, (mean, std), generator, seed, global_shape, index)


def uniform_(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0,
             generator: torch.Generator | None = None, *, seed: Seed = None,
             global_shape: Sequence[int] | None = None, index: Index = None) -> torch.Tensor:
    """torch.nn.init.uniform_: U(a, b).
    """
    return _initialize('uniform_', tensor, (a, b), generator, seed, global_shape, index)


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
    _init_layers(module, _module_source(module, generator, seed), nonlinearity, a, mode)
    return module


def materialize(module: torch.nn.Module, device: str | torch.device = "cpu",
                nonlinearity: str = "relu", seed: Seed = None, *,
                init: str | Callable[[torch.nn.Module], object] = "he", a: float = 0,
                mode: str = "fan_in",
                generator: torch.Generator | None = None) -> torch.nn.Module:
    """Give a module built on the meta device real tensors on `device` (``to_empty``), then
    initialize them, by `init`:

    - ``"he"`` (default): `init_module`'s He initialization, N(0, 1) for Embedding weights (a
      padding row zero), as torch's, and every other module's own ``reset_parameters()`` (or
      ``_reset_parameters()``, as ``MultiheadAttention`` and ``Transformer`` name it). Draws
      come one per tensor, in module order, from `seed` or torch's generator.
    - ``"model"``: the model's own initialization, every fill made by heinit_rs
      (`fast_init`): a transformers ``PreTrainedModel``'s ``initialize_weights()``,
      torchtitan's ``init_states()``, otherwise each module's reset method.
    - a callable: ``init(module)``, every fill made by heinit_rs.

    With ``"model"`` or a callable, values are keyed by name: a parameter's values depend
    only on the seed and its fully-qualified name (key `name_key(seed, name)`, stream n for
    its n-th fill), also where the model draws into temporaries that it copies into the
    parameter (those are keyed by the initializing module's name). So a pipeline stage that
    holds some of the layers gets the whole model's values for them, modules built in another
    order get the same values, and an FSDP2 model sharded on the meta device gets, on each
    rank, its block of the unsharded values. The seed is `seed` (an int), else one 64-bit draw
    from `generator` or torch's default generator.

    A module whose parameters were sharded on the meta device (``fully_shard``) is
    materialized one shard per rank, each equal to its block of the unsharded model. Every
    parameter must be written: one that nothing initializes raises ValueError naming it,
    instead of holding whatever memory ``to_empty`` gave it. Buffers that a module computes in
    ``__init__`` and does not recompute in its initialization are left uninitialized by
    ``to_empty``, as torch leaves them.

    Parameters
    ----------
    module : torch.nn.Module
    device : str or torch.device, default "cpu"
    nonlinearity, a, mode
        As `init_module` (``init="he"`` only).
    seed : int or heinit_rs.Generator, optional
        As `init_module`; with ``init="model"`` or a callable, an int or None.
    init : {"he", "model"} or callable, default "he"
    generator : torch.Generator, optional

    Returns
    -------
    torch.nn.Module
        `module`, on `device`.
    """
    if not (init in ("he", "model") or callable(init)):
        raise ValueError(f"init must be 'he', 'model' or a callable taking the module, got "
                         f"{init!r}")
    if init == "he":
        source = _module_source(module, generator, seed)
    else:
        base = _name_key_seed(module, generator, seed)
    module.to_empty(device=device)
    parameters = dict(module.named_parameters())
    versions = {name: parameter._version for name, parameter in parameters.items()}
    if init == "he":
        _init_he(module, source, nonlinearity, a, mode)
    else:
        keys = _NameKeys(base, module)
        _enter(_Redirect(None, keys))
        try:
            if init == "model":
                _run_model_init(module, keys, torch.device(device))
            else:
                init(module)  # type: ignore[operator]
        finally:
            _leave()
    untouched = [name for name, parameter in parameters.items()
                 if parameter._version == versions[name]]
    if untouched:
        raise ValueError(
            f"materialize: nothing initialized the parameter(s) {', '.join(untouched)}, which "
            f"hold whatever memory to_empty gave them: their modules have no "
            f"reset_parameters() that writes them. Define one, or initialize them yourself "
            f"after module.to_empty(device=...)")
    return module


def _init_he(module: torch.nn.Module, source: StreamSource, nonlinearity: str, a: float,
             mode: str) -> None:
    for layer in module.modules():
        if isinstance(layer, torch.nn.Embedding):
            _fill(layer.weight, "normal_", source, None, None, (0.0, 1.0))
            if layer.padding_idx is not None:
                _zero_row(layer.weight, layer.padding_idx)
        elif not isinstance(layer, _LAYERS):
            reset = _reset_method(layer)
            if reset is not None:
                reset()
    _init_layers(module, source, nonlinearity, a, mode)


def _name_key_seed(module: object, generator: torch.Generator | None, seed: Seed) -> int:
    """The seed of name keys: `seed`, or one draw from `generator` or torch's default one."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if isinstance(seed, Generator):
        raise TypeError("with init='model' or a callable, seed must be an int or None (values "
                        "are keyed by name, not by a generator's draws)")
    source = _source(generator, seed)
    return source if isinstance(source, int) else source.next_stream()[0]


def _reset_method(layer: torch.nn.Module) -> Callable[[], object] | None:
    for name in ("reset_parameters", "_reset_parameters"):
        reset = getattr(layer, name, None)
        if callable(reset):
            return reset  # type: ignore[no-any-return, unused-ignore]
    return None


def _zero_row(weight: torch.Tensor, row: int) -> None:
    """weight[row] = 0, in the shard that holds that row if weight is a DTensor."""
    local, start = weight, 0
    if _is_dtensor(weight):
        shard, _, index = _dtensor_shard(weight)
        if shard is None or index is None or not index[0].start <= row < index[0].stop:
            return
        rows = index[0]
        local, start = shard, rows.start
    with torch.no_grad():
        local[row - start].zero_()
    if local is not weight:
        torch.autograd.graph.increment_version(weight)


def _module_source(module: object, generator: torch.Generator | None,
                   seed: Seed) -> StreamSource:
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    source = _source(generator, seed)
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
            _fill(weight, "kaiming_normal_", source, None, None, (a, mode, nonlinearity))
        if layer.bias is not None:
            fan_in = math.prod(layer.weight.shape[1:])
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            _fill(layer.bias, "uniform_", source, None, None, (-bound, bound))


def _init_parametrized_weight(layer: torch.nn.Module, where: str, source: StreamSource,
                              nonlinearity: str, a: float, mode: str) -> None:
    """Set a parametrized weight to a He-initialized value through its right_inverse, and
    check that the effective weight is that value; if not, put the originals back and raise."""
    parametrization = layer.parametrizations["weight"]
    originals = {name: tensor.detach().clone()
                 for name, tensor in parametrization.named_parameters(recurse=False)}
    with torch.no_grad():
        like = layer.weight
    value = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    _fill(value, "kaiming_normal_", source, None, None, (a, mode, nonlinearity))
    kinds = ", ".join(type(p).__name__ for p in parametrization)
    try:
        with torch.no_grad():
            setattr(layer, "weight", value)
            effective = layer.weight
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
            tensor.set_(originals[name])


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


class _Redirect(NamedTuple):
    """One fast_init block of this thread: where its fills take their keys."""

    seed: Generator | None  # None: the code's generator=, else torch's default generator
    keys: _NameKeys | None  # materialize(init=...): keys by parameter name instead


_active = threading.local()
_patch_lock = threading.Lock()
_patch_users = 0
_MISSING = object()
_ORIGINAL_TENSOR_METHODS = {name: torch.Tensor.__dict__.get(name, _MISSING)
                            for name in ("normal_", "uniform_")}
_TORCH_NORMAL = torch.Tensor.normal_
_TORCH_UNIFORM = torch.Tensor.uniform_
_TORCH_TRUNC_NORMAL = _torch_init._no_grad_trunc_normal_


def _redirect() -> _Redirect | None:
    stack: list[_Redirect] | None = getattr(_active, "stack", None)
    return stack[-1] if stack else None


def _redirectable(tensor: torch.Tensor) -> bool:
    """A real float tensor that heinit_rs fills as torch would: not under a transform, not an
    autograd leaf that torch itself would refuse to write outside no_grad."""
    return (tensor.dtype in _FLOAT_DTYPES and tensor.layout == torch.strided
            and not _traced(tensor) and not (tensor.requires_grad and torch.is_grad_enabled()))


def _redirected(redirect: _Redirect, tensor: torch.Tensor, initializer: str,
                arguments: tuple[object, ...], generator: torch.Generator | None) -> bool:
    """Fill `tensor` from heinit_rs as the redirect says; False where heinit_rs refuses the
    arguments (nothing drawn or written), so that torch runs and raises its own error."""
    if redirect.keys is not None:
        source: int | StreamSource = redirect.keys.source_for(tensor)
    elif generator is not None or redirect.seed is None:
        source = _source(generator, None)
    else:
        source = redirect.seed
    try:
        _fill(tensor, initializer, source, None, None, arguments)
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
        _enter(_Redirect(None if self.seed is None else Generator(self.seed), None))
        return self

    def __exit__(self, *exc: object) -> None:
        _leave()


def _enter(redirect: _Redirect) -> None:
    _install_patches()
    stack = getattr(_active, "stack", None)
    if stack is None:
        stack = _active.stack = []
    stack.append(redirect)


def _leave() -> None:
    _active.stack.pop()
    _remove_patches()


# ---------------------------------------------------------------------------------------------
# Keys by name: materialize(init="model")

_NAME_SPACE = 1 << 63  # derive_key indices with the top bit set: never a spawn() child's index


def name_key(seed: int, name: str) -> int:
    """The key of the fills made for the parameter (or module) `name` under `seed`:
    ``derive_key(seed, 2**63 | (blake2b-64(name) >> 1))`` (docs/stream-spec.md)."""
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
    return _core.derive_key(seed, _NAME_SPACE | (digest >> 1))


class _NameKeys:
    """Keys by name: a fill of a parameter's or buffer's memory is stream n (its n-th fill) of
    that tensor's name's key; a fill of any other tensor (a temporary that the model's init
    copies into a parameter later) is stream n of the key of the name of the module whose
    initialization is running, with ":temporary" appended."""

    def __init__(self, seed: int, module: torch.nn.Module) -> None:
        self.seed = seed
        self.owners: dict[int, str] = {}
        named = [*module.named_parameters(remove_duplicate=False),
                 *module.named_buffers(remove_duplicate=False)]
        for name, tensor in named:
            if tensor is not None:
                self.owners.setdefault(_storage_address(tensor), name)
        # Held until the init ends: a buffer that the init replaces (torchtitan recomputes its
        # RoPE cache) would free its memory, and a temporary allocated there would take its name.
        self.held = [tensor for _, tensor in named]
        self.fills: dict[str, int] = {}
        self.running: list[str] = []  # the modules whose initialization is running, innermost last
        self.lock = threading.Lock()

    def source_for(self, tensor: torch.Tensor) -> FixedStream:
        name = self.owners.get(_storage_address(tensor))
        if name is None:
            name = f"{self.running[-1] if self.running else ''}:temporary"
        with self.lock:
            n = self.fills.get(name, 0)
            self.fills[name] = n + 1
        return FixedStream(name_key(self.seed, name), n)

    @contextlib.contextmanager
    def initializing(self, name: str) -> Iterator[None]:
        self.running.append(name)
        try:
            yield
        finally:
            self.running.pop()


def _storage_address(tensor: torch.Tensor) -> int:
    local = tensor.to_local() if _is_dtensor(tensor) else tensor
    return int(local.untyped_storage().data_ptr()) if not local.is_meta else 0


def _run_model_init(module: torch.nn.Module, keys: _NameKeys, device: torch.device) -> None:
    """The model's own initialization: a transformers PreTrainedModel's initialize_weights()
    (each _init_weights(m) keyed under m's name), torchtitan's init_states() (each module's
    _init_self_parameters() under its name), else each module's reset_parameters()."""
    names = {id(m): name for name, m in module.named_modules()}
    if callable(getattr(module, "initialize_weights", None)) and \
            callable(getattr(module, "_init_weights", None)):
        with _keyed_method(module, "_init_weights", keys,
                           lambda owner, initialized, *_: names.get(id(initialized), "")):
            module.initialize_weights()
            if callable(getattr(module, "tie_weights", None)):
                module.tie_weights()
    elif callable(getattr(module, "init_states", None)):
        with _keyed_method(module, "_init_self_parameters", keys,
                           lambda owner, *_: names[id(owner)]):
            module.init_states(buffer_device=device)
    else:
        for name, layer in module.named_modules():
            reset = _reset_method(layer)
            if reset is not None:
                with keys.initializing(name):
                    reset()


@contextlib.contextmanager
def _keyed_method(module: torch.nn.Module, attribute: str, keys: _NameKeys,
                  name_of: Callable[..., str]) -> Iterator[None]:
    """While the block runs, each submodule's method `attribute` keys the fills it makes into
    temporaries under ``name_of(owner, *its arguments)``; the instance attributes that do so
    are removed again on exit."""
    owners = [m for m in module.modules() if callable(getattr(m, attribute, None))]
    for owner in owners:
        setattr(owner, attribute, _keyed_under(getattr(owner, attribute), keys,
                                               functools.partial(name_of, owner)))
    try:
        yield
    finally:
        for owner in owners:
            delattr(owner, attribute)


def _keyed_under(method: Callable[..., Any], keys: _NameKeys,
                 name_of: Callable[..., str]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        with keys.initializing(name_of(*args)):
            return method(*args, **kwargs)
    return run


def __getattr__(name: str) -> Any:
    """Every other name of torch.nn.init is torch's own."""
    try:
        return getattr(_torch_init, name)
    except AttributeError:
        raise AttributeError(f"module 'heinit_rs.torch' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_torch_init)))


_register_ops()
