"""heinit_rs.torch under torch's own rules: materialize initializes every parameter or says
which it cannot, parametrized weights, one writer per tensor, inference tensors, and the
transforms (torch.compile, FakeTensorMode, vmap) that torch.nn.init works under."""

import math
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="heinit_rs.torch needs torch (pip install torch)")
import heinit_rs  # noqa: E402
import heinit_rs.torch as init  # noqa: E402
from heinit_rs import _initializers  # noqa: E402
from heinit_rs.torch import _ops  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import parametrizations  # noqa: E402


@pytest.fixture
def empty_is_nan(monkeypatch):
    """to_empty's memory holds NaN, so a parameter nobody writes is seen, not guessed."""
    real = torch.empty_like

    def nan_like(tensor, *args, **kwargs):
        out = real(tensor, *args, **kwargs)
        return out.fill_(math.nan) if out.is_floating_point() else out

    monkeypatch.setattr(torch, "empty_like", nan_like)


def every_parametrized_module():
    """Each module of torch.nn that holds parameters, with one that initializes itself in
    _reset_parameters (MultiheadAttention, Transformer)."""
    return {
        "Transformer": lambda: nn.Transformer(16, 2, 1, 1, 32, batch_first=True),
        "TransformerEncoderLayer": lambda: nn.TransformerEncoderLayer(16, 2, 32),
        "TransformerDecoderLayer": lambda: nn.TransformerDecoderLayer(16, 2, 32),
        "MultiheadAttention": lambda: nn.MultiheadAttention(16, 2),
        "MultiheadAttention-kdim-vdim": lambda: nn.MultiheadAttention(16, 2, kdim=8, vdim=12),
        "RNN": lambda: nn.RNN(8, 16, 2),
        "LSTM": lambda: nn.LSTM(8, 16, 2, proj_size=4),
        "GRU": lambda: nn.GRU(8, 16, bidirectional=True),
        "RNNCell": lambda: nn.RNNCell(8, 16),
        "LSTMCell": lambda: nn.LSTMCell(8, 16),
        "GRUCell": lambda: nn.GRUCell(8, 16),
        "Bilinear": lambda: nn.Bilinear(8, 6, 4),
        "Embedding": lambda: nn.Embedding(10, 8, padding_idx=0),
        "EmbeddingBag": lambda: nn.EmbeddingBag(10, 8),
        "PReLU": lambda: nn.PReLU(4),
        "BatchNorm2d": lambda: nn.BatchNorm2d(4),
        "LayerNorm": lambda: nn.LayerNorm(8),
        "GroupNorm": lambda: nn.GroupNorm(2, 4),
        "InstanceNorm1d": lambda: nn.InstanceNorm1d(4, affine=True),
        "RMSNorm": lambda: nn.RMSNorm(8),
        "LocalResponseNorm-in-Sequential": lambda: nn.Sequential(nn.Linear(8, 8),
                                                                 nn.LocalResponseNorm(2)),
        "Conv2d": lambda: nn.Conv2d(3, 4, 3),
        "ConvTranspose1d": lambda: nn.ConvTranspose1d(3, 4, 3),
    }


@pytest.mark.parametrize("name", list(every_parametrized_module()))
def test_materialize_writes_every_parameter_of_every_torch_nn_module(name, empty_is_nan):
    with torch.device("meta"):
        module = every_parametrized_module()[name]()
    init.materialize(module, seed=0)
    for parameter_name, parameter in module.named_parameters():
        assert parameter.device.type == "cpu"
        assert torch.isfinite(parameter).all(), parameter_name


def test_multihead_attention_gets_its_own_xavier_init_and_a_finite_forward(empty_is_nan):
    with torch.device("meta"):
        layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)
    init.materialize(layer, seed=0)
    weight = layer.self_attn.in_proj_weight
    # MultiheadAttention._reset_parameters: xavier_uniform_ of (3 * 64, 64), zero biases.
    bound = math.sqrt(6.0 / (64 + 3 * 64))
    assert weight.abs().max() <= bound and weight.std() > 0.5 * bound / math.sqrt(3)
    assert torch.equal(layer.self_attn.in_proj_bias, torch.zeros(3 * 64))
    assert torch.isfinite(layer(torch.randn(2, 5, 64))).all()


def test_materialize_names_a_parameter_that_nothing_initializes(empty_is_nan):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 4))
            self.scale = nn.Parameter(torch.ones(4))

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Scaled()

    with torch.device("meta"):
        model = Outer()
    with pytest.raises(ValueError, match=r"block\.scale\b") as error:
        init.materialize(model, seed=0)
    assert "body" not in str(error.value)  # the Linear was initialized


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_init_module_sets_a_weight_norm_weight_through_right_inverse(dtype):
    layer = parametrizations.weight_norm(nn.Linear(512, 256, dtype=dtype))
    before = layer.weight.detach().clone()
    init.init_module(layer, seed=3)
    plain = init.init_module(nn.Linear(512, 256, dtype=dtype), seed=3)
    # The effective weight is the He-initialized weight of the same draw.
    torch.testing.assert_close(layer.weight, plain.weight, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(layer.weight, before)
    assert abs(layer.weight.std().item() / math.sqrt(2.0 / 512) - 1) < 0.02


def test_init_module_sets_a_custom_parametrization_through_right_inverse():
    class Doubled(nn.Module):
        def forward(self, x):
            return 2 * x

        def right_inverse(self, x):
            return x / 2

    layer = nn.utils.parametrize.register_parametrization(nn.Conv2d(8, 16, 3), "weight",
                                                          Doubled())
    init.init_module(layer, seed=5)
    plain = init.init_module(nn.Conv2d(8, 16, 3), seed=5)
    torch.testing.assert_close(layer.weight, plain.weight)


def test_init_module_refuses_spectral_norm_and_leaves_the_weight_as_it_was():
    model = nn.Sequential(nn.Linear(16, 16), parametrizations.spectral_norm(nn.Linear(64, 32)))
    originals = {n: p.detach().clone() for n, p in model[1].named_parameters()}
    with pytest.raises(ValueError, match=r"^1 \(ParametrizedLinear\).*spectral"):
        init.init_module(model, seed=0)
    for name, parameter in model[1].named_parameters():
        assert torch.equal(parameter, originals[name]), name


def test_init_module_refuses_a_weight_without_right_inverse():
    class Frozen(nn.Module):
        def forward(self, x):
            return x.clamp(-1, 1)

    layer = nn.utils.parametrize.register_parametrization(nn.Linear(8, 8), "weight", Frozen())
    original = layer.parametrizations.weight.original.detach().clone()
    with pytest.raises(ValueError, match=r"module \(ParametrizedLinear\).*right_inverse"):
        init.init_module(layer, seed=0)
    assert torch.equal(layer.parametrizations.weight.original, original)


def test_init_module_refuses_the_hook_based_weight_norm():
    with pytest.warns(FutureWarning):
        layer = nn.utils.weight_norm(nn.Linear(8, 8))
    with pytest.raises(ValueError, match=r"not a Parameter.*parametrizations\.weight_norm"):
        init.init_module(layer, seed=0)


def test_materialize_initializes_a_weight_norm_model_on_the_meta_device(empty_is_nan):
    with torch.device("meta"):
        model = nn.Sequential(parametrizations.weight_norm(nn.Linear(32, 32)), nn.ReLU())
    init.materialize(model, seed=1)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert torch.isfinite(model(torch.randn(3, 32))).all()


# ---------------------------------------------------------------------------------------------
# One writer per tensor


def racing_fills(first, second, rounds=40):
    """Start two fills of overlapping memory together, `rounds` times; return the errors."""
    errors = []
    for _ in range(rounds):
        barrier = threading.Barrier(2)

        def fill(tensor, seed):
            barrier.wait()
            try:
                init.normal_(tensor, seed=seed)
            except RuntimeError as error:
                errors.append(str(error))

        threads = [threading.Thread(target=fill, args=(first, 1)),
                   threading.Thread(target=fill, args=(second, 2))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return errors


class HeldFill:
    """A fill of `tensor` (seed 1) on another thread, held inside its fill until released."""

    def __init__(self, tensor, monkeypatch):
        self.entered, self.release = threading.Event(), threading.Event()
        real_fill = _initializers.normal_

        def slow_fill(arr, *args, **kwargs):
            if threading.current_thread().name == "first":
                self.entered.set()
                assert self.release.wait(10)
            return real_fill(arr, *args, **kwargs)

        monkeypatch.setattr(_initializers, "normal_", slow_fill)
        self.thread = threading.Thread(target=init.normal_, args=(tensor,),
                                       kwargs={"seed": 1}, name="first")
        self.thread.start()
        assert self.entered.wait(10)

    def finish(self):
        self.release.set()
        self.thread.join()


@pytest.mark.parametrize("case", ["same", "transpose", "overlapping slices"])
def test_a_second_writer_of_overlapping_memory_is_refused_and_writes_nothing(case, monkeypatch):
    base = torch.zeros(2048, 2048)
    first, second = {"same": (base, base), "transpose": (base, base.T),
                     "overlapping slices": (base[:1200], base[800:])}[case]
    held = HeldFill(first, monkeypatch)
    state = torch.default_generator.get_state()
    with pytest.raises(RuntimeError, match="being filled by another thread"):
        init.normal_(second)
    assert torch.equal(torch.default_generator.get_state(), state)  # nothing drawn
    held.finish()
    expected = init.normal_(torch.empty_like(first), seed=1)
    assert torch.equal(first, expected)  # the first writer's values alone


@pytest.mark.parametrize("case", ["even and odd columns", "left and right halves"])
def test_element_disjoint_views_whose_bytes_interleave_fill_at_once(case, monkeypatch):
    base = torch.zeros(512, 512)
    first, second = {"even and odd columns": (base[:, ::2], base[:, 1::2]),
                     "left and right halves": (base[:, :256], base[:, 256:])}[case]
    held = HeldFill(first, monkeypatch)
    init.normal_(second, seed=2)  # while the first is being written
    held.finish()
    assert torch.equal(first, init.normal_(torch.empty(first.shape), seed=1))
    assert torch.equal(second, init.normal_(torch.empty(second.shape), seed=2))


def test_disjoint_blocks_of_one_tensor_fill_concurrently():
    base = torch.zeros(2048, 2048)
    errors = racing_fills(base[:1024], base[1024:], rounds=10)
    assert errors == []
    assert torch.equal(base[:1024], init.normal_(torch.empty(1024, 2048), seed=1))


# ---------------------------------------------------------------------------------------------
# Inference tensors, 0-d tensors, transforms


def test_an_inference_tensor_is_refused_outside_inference_mode_and_filled_inside():
    with torch.inference_mode():
        tensor = torch.zeros(8, 8)
    state = torch.default_generator.get_state()
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside "
                                           "InferenceMode is not allowed"):
        init.kaiming_normal_(tensor)
    assert torch.equal(tensor, torch.zeros(8, 8))
    assert torch.equal(torch.default_generator.get_state(), state)
    with pytest.raises(RuntimeError, match="inference tensor"):  # torch refuses it alike
        torch.nn.init.kaiming_normal_(tensor)
    with torch.inference_mode():
        init.kaiming_normal_(tensor, seed=0)
    assert tensor.abs().sum() > 0


@pytest.mark.parametrize("number", [torch.tensor(2.0), np.float32(2.0), np.float64(2.0)])
def test_a_0d_tensor_or_numpy_scalar_is_taken_where_torch_takes_a_number(number):
    expected = init.normal_(torch.empty(64), mean=1.0, std=2.0, seed=4)
    got = init.normal_(torch.empty(64), mean=torch.tensor(1.0), std=number, seed=4)
    assert torch.equal(got, expected)
    torch.nn.init.normal_(torch.empty(64), std=number)  # torch takes it too
    bounded = init.trunc_normal_(torch.empty(64), std=number, a=torch.tensor(-1.0), b=1.0,
                                 seed=4)
    assert bounded.abs().max() <= 1.0


def test_fake_tensor_mode_gives_fake_outputs_as_torch_nn_init_does():
    from torch._subclasses.fake_tensor import (
        DataDependentOutputException,
        FakeTensor,
        FakeTensorMode,
    )

    with FakeTensorMode():
        for name in _ops.OPS:
            tensor = torch.empty(16, 8)
            out = getattr(init, name)(tensor)
            assert out is tensor and isinstance(out, FakeTensor)
            if name == "trunc_normal_":  # torch's rejection loop reads values: it cannot
                with pytest.raises(DataDependentOutputException):
                    torch.nn.init.trunc_normal_(torch.empty(16, 8))
            else:
                assert isinstance(getattr(torch.nn.init, name)(torch.empty(16, 8)), FakeTensor)
        model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))
        init.init_module(model, seed=None)
        assert isinstance(model[0].weight, FakeTensor)


@pytest.mark.parametrize("name", ["kaiming_normal_", "trunc_normal_", "uniform_"])
def test_torch_compile_fullgraph_traces_the_fills_with_the_eager_bits(name):
    torch._dynamo.reset()

    def build(weight):
        getattr(init, name)(weight)
        return weight * 1

    torch.manual_seed(0)
    eager = build(torch.empty(64, 32)).clone()
    compiled = torch.compile(build, fullgraph=True)
    torch.manual_seed(0)
    assert torch.equal(compiled(torch.empty(64, 32)), eager)
    assert not torch.equal(compiled(torch.empty(64, 32)), eager)  # the next draw


def test_torch_compile_traces_a_module_initialized_in_forward():
    torch._dynamo.reset()

    class Reinit(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(16, 16)

        def forward(self, x):
            init.kaiming_uniform_(self.linear.weight, a=math.sqrt(5))
            return self.linear(x)

    model = Reinit()
    out = torch.compile(model, fullgraph=True)(torch.randn(2, 16))
    assert torch.isfinite(out).all() and model.linear.weight.abs().max() <= 0.25


def test_vmap_gives_a_clear_error():
    with pytest.raises(RuntimeError, match=r"heinit_rs\.torch\.normal_ cannot run under "
                                           r"torch\.vmap"):
        torch.vmap(lambda x: init.normal_(x))(torch.empty(4, 3))


@pytest.mark.parametrize("where", [
    {"seed": 7},
    {"seed": 2**64 - 1},  # a key with the top bit set: int64 in the op's schema
    {"seed": 7, "global_shape": (40, 32), "index": (slice(8, 24), slice(None))},
    {"seed": 7, "global_shape": (3, 16, 32), "index": (1, slice(0, 16))},  # an int index
], ids=["seed", "top-bit seed", "block", "int index"])
@pytest.mark.parametrize("fullgraph", [True, False])
def test_seed_global_shape_and_index_under_torch_compile_give_the_eager_bits(where, fullgraph):
    torch._dynamo.reset()

    def build(weight):
        init.kaiming_normal_(weight, **where)
        return weight * 1

    eager = build(torch.empty(16, 32)).clone()
    assert torch.equal(torch.compile(build, fullgraph=fullgraph)(torch.empty(16, 32)), eager)


def test_seed_global_shape_and_index_under_fake_tensor_mode():
    from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

    with FakeTensorMode():
        out = init.normal_(torch.empty(4, 8), seed=1, global_shape=(8, 8), index=slice(4, 8))
        assert isinstance(out, FakeTensor)
        with pytest.raises(IndexError, match="out of bounds"):  # checked while tracing
            init.normal_(torch.empty(8), seed=1, global_shape=(2, 8), index=5)


def test_a_heinit_rs_generator_is_refused_under_a_transform_with_a_clear_error():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(), pytest.raises(ValueError, match="pass an int seed= or a "
                                                           "torch.Generator"):
        init.normal_(torch.empty(4), seed=heinit_rs.Generator(1))


def test_torch_compile_without_fullgraph_graph_breaks_cleanly_with_a_generator():
    """It recursed (_fill -> op -> _fill) until Python's limit."""
    torch._dynamo.reset()

    def build(x, generator):
        init.normal_(x, generator=generator)
        return x * 2

    compiled = torch.compile(build)(torch.empty(8), torch.Generator().manual_seed(0))
    eager = init.normal_(torch.empty(8), generator=torch.Generator().manual_seed(0))
    assert torch.equal(compiled, eager * 2)


def test_an_exported_program_that_fills_saves_and_loads(tmp_path):
    class Noisy(nn.Module):
        def forward(self, x):
            noise = torch.empty_like(x)
            init.normal_(noise)
            return x + noise

    program = torch.export.export(Noisy(), (torch.zeros(4),))
    torch.export.save(program, tmp_path / "noisy.pt2")
    loaded = torch.export.load(tmp_path / "noisy.pt2").module()
    torch.manual_seed(3)
    out = loaded(torch.zeros(4))
    torch.manual_seed(3)
    assert torch.equal(out, init.normal_(torch.empty(4)))


def test_functionalize_says_it_cannot():
    from torch.func import functionalize

    with pytest.raises(RuntimeError, match="cannot run under torch.func.functionalize"):
        functionalize(lambda x: init.normal_(x, seed=1))(torch.zeros(3))


