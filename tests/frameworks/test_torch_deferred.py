"""deferred_init + materialize(init="model") against the real libraries, model by model: every
tensor of the replayed model against the model built normally, exact where construction is
deterministic, two-sample KS where it is random; stages and other construction orders get the
whole model's values by name; every random value comes from heinit_rs, keyed by name."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="heinit_rs.torch needs torch (pip install torch)")
stats = pytest.importorskip("scipy.stats")
import heinit_rs.torch as ht  # noqa: E402
from heinit_rs.torch import _record  # noqa: E402
from torch import nn  # noqa: E402

KS_THRESHOLD = 1e-4  # two-sample KS p-value under which a random tensor's distribution differs


class Research(nn.Module):
    """What research code does in __init__: randn parameters, computed buffers, data tensors,
    in-place arithmetic, a slice filled on its own, a tied weight."""

    def __init__(self, width=64, length=32):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(width) * 0.02)
        self.gate = nn.Parameter(torch.rand(width, width).mul_(2).sub_(1))
        self.offsets = nn.Parameter(torch.tensor([0.5, -1.5, 2.0]))
        self.embed = nn.Embedding(100, width, padding_idx=0)
        self.head = nn.Linear(width, 100, bias=False)
        self.head.weight = self.embed.weight
        position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, width, 2).float() * (-math.log(10000.0) / width))
        table = torch.zeros(length, width)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency)
        self.register_buffer("sinusoids", table)
        self.register_buffer("steps", torch.from_numpy(np.arange(5.0)).float())
        self.mixed = nn.Parameter(torch.empty(width, width))
        with torch.no_grad():
            self.mixed.zero_()
            self.mixed[:8].normal_(0, 0.5)
            self.mixed.add_(torch.eye(width))


class PPOAgent(nn.Module):
    """CleanRL's PPO agent: orthogonal weights with a gain, constant biases."""

    def __init__(self):
        super().__init__()

        def layer(inputs, outputs, std=math.sqrt(2)):
            linear = nn.Linear(inputs, outputs)
            nn.init.orthogonal_(linear.weight, std)
            nn.init.constant_(linear.bias, 0.0)
            return linear

        self.critic = nn.Sequential(layer(8, 64), nn.Tanh(), layer(64, 64), nn.Tanh(),
                                    layer(64, 1, std=1.0))
        self.actor = nn.Sequential(layer(8, 64), nn.Tanh(), layer(64, 4, std=0.01))


class DiracSparse(nn.Module):
    """The torch.nn.init functions that return early on meta tensors: dirac_, sparse_ and
    orthogonal_ of a torch.empty parameter."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        nn.init.dirac_(self.conv.weight)
        self.grouped = nn.Conv1d(8, 8, 3, groups=2)
        nn.init.dirac_(self.grouped.weight, groups=2)
        self.sparse = nn.Parameter(torch.empty(64, 16))
        nn.init.sparse_(self.sparse, sparsity=0.25)
        self.square = nn.Parameter(torch.empty(32, 48))
        nn.init.orthogonal_(self.square)


class Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(-1, -2)

    def right_inverse(self, a):
        return a.triu()


def parametrized():
    layer = nn.Linear(16, 16)
    torch.nn.utils.parametrize.register_parametrization(layer, "weight", Symmetric())
    return layer


def wav2vec2():
    transformers = pytest.importorskip("transformers")
    return transformers.Wav2Vec2Model(transformers.Wav2Vec2Config())


def tiny_transformers(kind):
    transformers = pytest.importorskip("transformers")
    if kind == "bert":
        return transformers.BertModel(transformers.BertConfig(
            vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=128))
    if kind == "gpt2":
        return transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=512, n_embd=64, n_layer=2, n_head=4))
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2))


def torchvision_model(name):
    return getattr(pytest.importorskip("torchvision").models, name)()


def timm_model(name):
    return pytest.importorskip("timm").create_model(name)


def torchtitan_model():
    from torchtitan.models import llama3
    model = llama3.llama3_configs["debugmodel"](attn_backend="flex").build()
    model.init_states(buffer_device=None)
    return model


ZOO = {
    "torch.nn Transformer": lambda: nn.Transformer(64, 4, 2, 2, 128, batch_first=True),
    "torch.nn LSTM": lambda: nn.LSTM(32, 64, num_layers=2),
    "torch.nn MultiheadAttention": lambda: nn.MultiheadAttention(64, 4, kdim=32, vdim=48),
    "torch.nn Conv3d+BatchNorm3d": lambda: nn.Sequential(nn.Conv3d(4, 8, 3), nn.BatchNorm3d(8)),
    "research code": Research,
    "torchvision resnet50": lambda: torchvision_model("resnet50"),
    "torchvision vit_b_16": lambda: torchvision_model("vit_b_16"),
    "timm resnet50": lambda: timm_model("resnet50"),
    "timm vit_base_patch16_224": lambda: timm_model("vit_base_patch16_224"),
    "timm convnext_tiny": lambda: timm_model("convnext_tiny"),
    "transformers bert": lambda: tiny_transformers("bert"),
    "transformers gpt2": lambda: tiny_transformers("gpt2"),
    "transformers llama": lambda: tiny_transformers("llama"),
    "torchtitan debugmodel": torchtitan_model,
    "CleanRL PPO agent (orthogonal_)": PPOAgent,
    "dirac_, sparse_, orthogonal_": DiracSparse,
    "parametrization with right_inverse": parametrized,
    "transformers Wav2Vec2 (default config)": wav2vec2,
}


def state(model):
    return {name: tensor.detach() for name, tensor in model.state_dict(keep_vars=True).items()}


def replayed(build, seed):
    model = ht.deferred_init(build)
    return ht.materialize(model, "cpu", seed=seed, init="model")


@pytest.mark.parametrize("name", list(ZOO))
def test_the_replayed_model_equals_the_normal_build_tensor_by_tensor(name):
    build = ZOO[name]
    torch.manual_seed(0)
    theirs = state(build())
    torch.manual_seed(1)
    theirs_again = state(build())
    ours = state(replayed(build, seed=5))
    assert list(ours) == list(theirs)
    random = [key for key in theirs if not torch.equal(theirs[key], theirs_again[key])]
    assert random, "the zoo's models all draw random values"
    for key, tensor in theirs.items():
        assert (ours[key].shape, ours[key].dtype, ours[key].device) == \
            (tensor.shape, tensor.dtype, tensor.device), key
        if key not in random:
            assert torch.equal(ours[key], tensor), f"{key} is deterministic: must be exact"
        else:
            p = stats.ks_2samp(ours[key].double().ravel().numpy(),
                               tensor.double().ravel().numpy()).pvalue
            assert p > KS_THRESHOLD, f"{key}: KS p = {p:.2g}"
    # every random value is heinit_rs', keyed by name: torch's seed does not change it...
    torch.manual_seed(123)
    assert all(torch.equal(a, b) for a, b in zip(state(replayed(build, seed=5)).values(),
                                                 ours.values()))
    # ...and the seed changes every random tensor (a value left to torch would not change)
    other = state(replayed(build, seed=6))
    unchanged = [key for key in random if torch.equal(other[key], ours[key])]
    assert not unchanged


def test_a_shared_parameter_stays_shared_and_data_and_computed_buffers_are_exact():
    model = replayed(Research, seed=1)
    assert model.head.weight is model.embed.weight
    assert torch.equal(model.embed.weight[0], torch.zeros(64))  # padding row
    assert torch.equal(model.offsets, torch.tensor([0.5, -1.5, 2.0]))
    assert torch.equal(model.steps, torch.arange(5.0))
    assert torch.equal(model.sinusoids, Research().sinusoids)
    assert torch.equal(model.mixed[8:], torch.eye(64)[8:])
    assert not torch.equal(model.mixed[:8], torch.eye(64)[:8])
    assert model.gate.abs().max() < 1 and model.gate.min() < -0.9
    assert model.scale.requires_grad and isinstance(model.scale, nn.Parameter)


def build_titan_stage(layers=None):
    from torchtitan.models import llama3
    model = ht.deferred_init(llama3.llama3_configs["debugmodel"](attn_backend="flex").build)
    if layers is not None:  # a pipeline stage: torchtitan deletes the other layers
        for name in list(model.layers):
            if int(name) not in layers:
                del model.layers[name]
        model.tok_embeddings = None
    return model


def test_a_pipeline_stage_gets_the_whole_models_values_by_name():
    pytest.importorskip("torchtitan")
    whole = state(ht.materialize(build_titan_stage(), seed=3, init="model"))
    stage = state(ht.materialize(build_titan_stage(layers={3, 4, 5}), seed=3, init="model"))
    assert stage and set(stage) < set(whole)
    assert any(key.startswith("layers.4.") for key in stage)
    for key, tensor in stage.items():
        assert torch.equal(tensor, whole[key]), key


def test_a_research_module_built_in_another_order_gets_the_same_values():
    class Reordered(Research):
        def __init__(self):
            nn.Module.__init__(self)
            self.head = nn.Linear(64, 100, bias=False)
            self.gate = nn.Parameter(torch.rand(64, 64).mul_(2).sub_(1))
            self.scale = nn.Parameter(torch.randn(64) * 0.02)

    ours = state(replayed(Reordered, seed=2))
    whole = state(replayed(Research, seed=2))
    for key in ("gate", "scale"):
        assert torch.equal(ours[key], whole[key]), key


def test_the_record_costs_memory_per_operation_not_per_element():
    model = ht.deferred_init(nn.Linear, 100_000, 100_000)  # 40 GB of float32 if real
    record = _record.record_of(model)
    assert 0 < len(record.nodes) < 20
    assert sum(t.nbytes for t in record.constants) < 1024
    assert model.weight.is_meta


def test_init_model_without_a_record_names_deferred_init_and_reset_is_torchs_default():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    state_before = torch.default_generator.get_state()
    with pytest.raises(ValueError, match=r"deferred_init\(Sequential"):
        ht.materialize(model, init="model")
    assert model[0].weight.is_meta
    assert torch.equal(torch.default_generator.get_state(), state_before)  # nothing drawn
    ht.materialize(model, init="reset", seed=0)
    assert model[0].weight.abs().max() <= 1 / math.sqrt(8)


def test_a_value_read_during_construction_raises_at_deferred_init():
    class ReadsAValue(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4))
            if self.weight.sum() > 100:
                raise AssertionError("unreachable")

    with pytest.raises((RuntimeError, NotImplementedError)):
        ht.deferred_init(ReadsAValue)


def test_a_failing_materialize_draws_nothing():
    model = ht.deferred_init(nn.Linear, 4, 4)
    state_before = torch.default_generator.get_state()
    with pytest.raises(RuntimeError):
        ht.materialize(model, device="cuda:99" if torch.cuda.is_available() else "cuda",
                       init="model")
    assert torch.equal(torch.default_generator.get_state(), state_before)


@pytest.mark.parametrize("init", ["he", "reset", "model"])
def test_materialize_on_the_meta_device_gives_meta_tensors_as_reset_parameters_does(init):
    model = ht.deferred_init(nn.Linear, 4, 4) if init == "model" else \
        nn.Linear(4, 4, device="meta")
    ht.materialize(model, device="meta", init=init, seed=0)
    assert model.weight.is_meta


def test_every_init_that_skips_meta_tensors_in_torchs_source_is_recorded():
    import inspect
    import torch.nn.init as torch_init
    skipping = sorted(name for name, f in vars(torch_init).items() if inspect.isfunction(f)
                      and "is_meta" in inspect.getsource(f))
    assert {"dirac_", "orthogonal_", "sparse_"} <= set(skipping)
    assert _record.META_SKIPPING_INITS == skipping
    model = replayed(PPOAgent, seed=0)
    for layer in (model.critic[0], model.critic[2]):
        w = layer.weight.detach()
        assert (w.T @ w - 2 * torch.eye(w.shape[1])).abs().max() < 1e-4
    model = replayed(DiracSparse, seed=0)
    reference = DiracSparse()
    assert torch.equal(model.conv.weight, reference.conv.weight)
    assert torch.equal(model.grouped.weight, reference.grouped.weight)
    assert ((model.sparse == 0).sum(0) == 16).all()  # ceil(0.25 * 64) zeros per column
    w = model.square.detach()
    assert (w @ w.T - torch.eye(32)).abs().max() < 1e-4


def test_a_parameter_nothing_writes_raises_naming_it():
    class Unwritten(nn.Module):
        def __init__(self):
            super().__init__()
            self.written = nn.Parameter(torch.zeros(3))
            self.forgotten = nn.Parameter(torch.empty(3, 3))
            self.alias = self.forgotten.view(9)

    with pytest.raises(ValueError, match=r"nothing initialized the parameter\(s\) forgotten"):
        replayed(Unwritten, seed=0)


class RandomIntegers(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("permutation", torch.randperm(32))
        self.register_buffer("tokens", torch.randint(0, 1000, (64,)))
        self.register_buffer("shifted", torch.randint(5, 10, (64,)))
        self.phase = nn.Parameter(torch.randn(16, dtype=torch.cfloat))
        self.unit = nn.Parameter(torch.rand(16, dtype=torch.cdouble))


def test_random_integer_permutation_and_complex_tensors_are_decided_by_seed_alone():
    def values(seed, torch_seed):
        torch.manual_seed(torch_seed)
        return state(replayed(RandomIntegers, seed))

    ours = values(0, torch_seed=1)
    assert list(ours["permutation"].sort().values) == list(range(32))
    assert ours["phase"].dtype == torch.cfloat and ours["phase"].is_meta is False
    for key, tensor in values(0, torch_seed=2).items():
        assert torch.equal(tensor, ours[key]), key
    for key, tensor in values(1, torch_seed=1).items():
        assert not torch.equal(tensor, ours[key]), key


class SharedTemporary(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(32, 32)
        self.l2 = nn.Linear(32, 32)
        base = torch.randn(32, 32) * 0.1
        with torch.no_grad():
            self.l1.weight.copy_(base)
            self.l2.weight.copy_(base)
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)
        self.b.weight = nn.Parameter(2 * self.a.weight)


def test_a_temporary_shared_by_layers_keeps_its_values_in_a_stage_without_some_of_them():
    whole = state(replayed(SharedTemporary, seed=4))
    assert torch.equal(whole["l1.weight"], whole["l2.weight"])
    assert torch.equal(whole["b.weight"], 2 * whole["a.weight"])
    for dropped in ("l1", "l2", "a"):
        stage = ht.deferred_init(SharedTemporary)
        delattr(stage, dropped)
        values = state(ht.materialize(stage, seed=4, init="model"))
        for key, tensor in values.items():
            assert torch.equal(tensor, whole[key]), (dropped, key)


def test_a_constructor_that_seeds_its_own_randomness_raises_naming_the_line():
    class ManualSeed(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(42)
            self.layer = nn.Linear(4, 4)

    class OwnGenerator(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(4, 4))
            nn.init.normal_(self.w, generator=torch.Generator().manual_seed(3))

    class OwnGeneratorFactory(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, generator=torch.Generator().manual_seed(3)))

    state_before = torch.default_generator.get_state()
    seeding = (torch.manual_seed, torch.random.manual_seed, torch.cuda.manual_seed)
    for build, what in ((ManualSeed, "torch.manual_seed"), (OwnGenerator, "generator="),
                        (OwnGeneratorFactory, "generator=")):
        with pytest.raises(RuntimeError, match=rf"deferred_init: .*{what}.*test_torch_deferred"):
            ht.deferred_init(build)
    assert torch.equal(torch.default_generator.get_state(), state_before)
    assert (torch.manual_seed, torch.random.manual_seed, torch.cuda.manual_seed) == seeding


def test_numpy_data_is_snapshotted_when_construction_reads_it():
    data = np.arange(6, dtype=np.float32)

    class FromNumpy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(6))
            with torch.no_grad():
                self.w.copy_(torch.from_numpy(data))

    model = ht.deferred_init(FromNumpy)
    data[:] = 100  # a NumPy write: torch's version counter does not see it
    ht.materialize(model, seed=0, init="model")
    assert model.w.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_legacy_constructors_make_meta_tensors_that_are_recorded():
    class Legacy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.Tensor(64).uniform_())
            self.v = nn.Parameter(torch.Tensor(torch.Size([4, 4])).normal_(0, 2))

    model = ht.deferred_init(Legacy)
    assert model.w.is_meta and model.v.is_meta
    ht.materialize(model, seed=0, init="model")
    assert 0 <= model.w.min() and model.w.max() < 1 and model.v.std() > 1
    assert torch.Tensor(3).device.type == "cpu"  # outside deferred_init, torch's own


def test_a_value_read_from_a_random_tensor_names_deferred_init_and_the_line():
    class ReadsAValue(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4))
            self.big = bool(self.weight.sum() > 100)

    with pytest.raises(RuntimeError, match=r"deferred_init: .*test_torch_deferred.py:\d+.*"
                                           r"fast_init"):
        ht.deferred_init(ReadsAValue)
