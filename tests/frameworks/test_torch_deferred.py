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
    assert sum(t.nbytes for t, _ in record.constants) < 1024
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
