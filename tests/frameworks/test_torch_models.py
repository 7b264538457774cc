"""heinit_rs.torch.fast_init() and materialize(init="model"): the initialization real models
already run (torch modules, transformers' _init_weights, torchtitan's init_states) filled by
heinit_rs with the distributions the code asked for, and values keyed by parameter name.
Tested against the real libraries; skipped only where torch itself is missing (CI installs
transformers and torchtitan with the frameworks extra)."""

import functools
import math
import textwrap
import threading

import pytest
from conftest import free_port, run_python

torch = pytest.importorskip("torch", reason="heinit_rs.torch needs torch (pip install torch)")
import heinit_rs  # noqa: E402
import heinit_rs.torch as ht  # noqa: E402
from heinit_rs.torch import _fast  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.init import xavier_uniform_ as copied_xavier_uniform_  # noqa: E402

stats = pytest.importorskip("scipy.stats")

# Made at import, as torchtitan's model configs hold them.
PARTIAL_TRUNC_NORMAL = functools.partial(nn.init.trunc_normal_, std=0.02)
KS_P = 1e-4  # two-sample KS threshold against torch's own values (per parameter)


def ks_p(ours, theirs):
    return stats.ks_2samp(ours.detach().double().ravel().numpy(),
                          theirs.detach().double().ravel().numpy()).pvalue


def restored():
    """torch.Tensor and torch.nn.init exactly as torch ships them."""
    return ("normal_" not in torch.Tensor.__dict__ and "uniform_" not in torch.Tensor.__dict__
            and torch.Tensor.normal_ is torch._C.TensorBase.normal_
            and torch.Tensor.uniform_ is torch._C.TensorBase.uniform_
            and nn.init._no_grad_trunc_normal_ is _fast._TORCH_TRUNC_NORMAL
            and all(getattr(torch, name) is original
                    for name, original in _fast._TORCH_FACTORIES.items()))


@pytest.fixture(autouse=True)
def leaves_torch_as_it_was():
    assert restored()
    yield
    assert restored()


# ---------------------------------------------------------------------------------------------
# Every way the initializers are reached fills from heinit_rs, with the code's parameters

REACHED = {
    "torch.nn.init.uniform_": (lambda t: nn.init.uniform_(t, -0.3, 0.5),
                               lambda t: ht.uniform_(t, -0.3, 0.5)),
    "torch.nn.init.normal_": (lambda t: nn.init.normal_(t, 1.0, 0.02),
                              lambda t: ht.normal_(t, 1.0, 0.02)),
    "torch.nn.init.trunc_normal_": (lambda t: nn.init.trunc_normal_(t, 0.0, 1.0, -0.5, 3.0),
                                    lambda t: ht.trunc_normal_(t, 0.0, 1.0, -0.5, 3.0)),
    "torch.nn.init.kaiming_uniform_": (lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5)),
                                       lambda t: ht.kaiming_uniform_(t, a=math.sqrt(5))),
    "torch.nn.init.kaiming_normal_": (lambda t: nn.init.kaiming_normal_(t, mode="fan_out"),
                                      lambda t: ht.kaiming_normal_(t, mode="fan_out")),
    "torch.nn.init.xavier_uniform_": (lambda t: nn.init.xavier_uniform_(t, gain=2.0),
                                      lambda t: ht.xavier_uniform_(t, gain=2.0)),
    "torch.nn.init.xavier_normal_": (lambda t: nn.init.xavier_normal_(t),
                                     lambda t: ht.xavier_normal_(t)),
    "a copy bound by from-import": (lambda t: copied_xavier_uniform_(t),
                                    lambda t: ht.xavier_uniform_(t)),
    "a functools.partial made at import": (lambda t: PARTIAL_TRUNC_NORMAL(t),
                                           lambda t: ht.trunc_normal_(t, std=0.02)),
    "Tensor.normal_": (lambda t: t.normal_(mean=0.0, std=0.5),
                       lambda t: ht.normal_(t, 0.0, 0.5)),
    "Tensor.uniform_": (lambda t: t.uniform_(-1, 2), lambda t: ht.uniform_(t, -1.0, 2.0)),
    "Tensor.uniform_ with from/to": (lambda t: t.uniform_(**{"from": -1, "to": 2}),
                                     lambda t: ht.uniform_(t, -1.0, 2.0)),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("how", list(REACHED))
def test_every_way_of_reaching_an_initializer_fills_from_heinit_rs(how, dtype):
    through_torch, through_heinit_rs = REACHED[how]
    torch.manual_seed(7)
    with ht.fast_init():
        got = through_torch(torch.empty(96, 64, dtype=dtype))
    torch.manual_seed(7)
    expected = through_heinit_rs(torch.empty(96, 64, dtype=dtype))
    assert torch.equal(got, expected)
    torch.manual_seed(7)
    assert not torch.equal(through_torch(torch.empty(96, 64, dtype=dtype)), got)  # not torch's


def test_transformers_torch_init_functions_fill_from_heinit_rs():
    initialization = pytest.importorskip("transformers.initialization")
    functions = initialization.TORCH_INIT_FUNCTIONS
    captured = dict(functions)
    for name in ("normal_", "kaiming_uniform_", "trunc_normal_", "xavier_normal_"):
        torch.manual_seed(3)
        with ht.fast_init():
            got = functions[name](torch.empty(32, 48))
        torch.manual_seed(3)
        assert torch.equal(got, getattr(ht, name)(torch.empty(32, 48))), name
    assert functions == captured


def test_seed_draws_from_a_heinit_rs_generator_and_generator_is_drawn_from():
    with ht.fast_init(seed=11):
        a = nn.init.normal_(torch.empty(50))
        b = nn.init.normal_(torch.empty(50))
    generator = heinit_rs.Generator(11)
    assert torch.equal(a, ht.normal_(torch.empty(50), seed=generator))
    assert torch.equal(b, ht.normal_(torch.empty(50), seed=generator))
    torch_generator = torch.Generator().manual_seed(5)
    with ht.fast_init():
        c = nn.init.uniform_(torch.empty(50), generator=torch_generator)
    assert torch.equal(c, ht.uniform_(torch.empty(50),
                                      generator=torch.Generator().manual_seed(5)))


def test_left_to_torch_non_float_meta_zeros_integer_generators_dropout():
    torch.manual_seed(0)
    with ht.fast_init():
        integers = torch.empty(20, dtype=torch.int64).random_(0, 9)
        drawn = torch.randint(0, 9, (20,))
        ones = nn.init.ones_(torch.empty(3))
        meta = nn.init.normal_(torch.empty(4, 4, device="meta"))
        dropped = nn.functional.dropout(torch.ones(100), 0.5)
    torch.manual_seed(0)
    assert torch.equal(integers, torch.empty(20, dtype=torch.int64).random_(0, 9))
    assert torch.equal(drawn, torch.randint(0, 9, (20,)))
    assert torch.equal(ones, torch.ones(3))
    assert torch.equal(dropped, nn.functional.dropout(torch.ones(100), 0.5))
    assert meta.is_meta


@pytest.mark.parametrize("call, torch_error", [
    (lambda t: nn.init.normal_(t, std=-1.0), "normal expects std >= 0.0"),
    (lambda t: nn.init.uniform_(t, 2.0, 1.0), "uniform_ expects to return a \\[from, to\\)"),
    (lambda t: t.normal_(0.0, float("nan")), "normal expects std >= 0.0"),
    (lambda t: t.uniform_(-3e38, 3e38), "uniform_ expects to-from <= std::numeric_limits"),
    (lambda t: t.half().uniform_(-6e4, 6e4), "uniform_ expects to-from <= std::numeric_limits"),
])
def test_bad_arguments_raise_torchs_error_and_write_nothing(call, torch_error):
    tensor = torch.zeros(16)
    with pytest.raises(RuntimeError, match=torch_error):
        call(tensor.clone())  # torch alone
    state = torch.default_generator.get_state()
    with ht.fast_init(), pytest.raises(RuntimeError, match=torch_error):
        call(tensor)
    assert torch.equal(tensor, torch.zeros(16))
    assert torch.equal(torch.default_generator.get_state(), state)


def test_a_block_that_raises_leaves_no_patch_and_blocks_nest():
    with pytest.raises(KeyError):
        with ht.fast_init():
            raise KeyError("boom")
    assert restored()
    with ht.fast_init(seed=1):
        outer = nn.init.normal_(torch.empty(8))
        with ht.fast_init(seed=2):
            inner = nn.init.normal_(torch.empty(8))
        after = nn.init.normal_(torch.empty(8))
        assert not restored()
    assert torch.equal(outer, ht.normal_(torch.empty(8), seed=1))
    assert torch.equal(inner, ht.normal_(torch.empty(8), seed=2))
    generator = heinit_rs.Generator(1)
    ht.normal_(torch.empty(8), seed=generator)
    assert torch.equal(after, ht.normal_(torch.empty(8), seed=generator))


FACTORIES = {
    "torch.rand": (lambda: torch.rand(6, 5, dtype=torch.float64), "uniform_", (0.0, 1.0)),
    "torch.randn": (lambda: torch.randn((6, 5), requires_grad=True), "normal_", (0.0, 1.0)),
    "torch.rand_like": (lambda: torch.rand_like(torch.zeros(6, 5, dtype=torch.bfloat16)),
                        "uniform_", (0.0, 1.0)),
    "torch.randn_like": (lambda: torch.randn_like(torch.zeros(6, 5)), "normal_", (0.0, 1.0)),
    "torch.normal": (lambda: torch.normal(2.0, 3.0, size=(6, 5)), "normal_", (2.0, 3.0)),
    "randn * 0.02": (lambda: nn.Parameter(torch.randn(6, 5) * 0.02), "normal_", (0.0, 0.02)),
}


@pytest.mark.parametrize("factory", list(FACTORIES))
def test_torchs_random_factories_are_filled_by_heinit_rs(factory):
    make, initializer, (mean_or_low, scale) = FACTORIES[factory]
    torch.manual_seed(0)
    with ht.fast_init(seed=9):
        made = make()
    expected = getattr(ht, initializer)(torch.empty(made.shape, dtype=made.dtype),
                                        seed=heinit_rs.Generator(9))
    if factory == "randn * 0.02":
        expected = expected * 0.02
    elif factory == "torch.normal":
        expected = ht.normal_(torch.empty(6, 5), 2.0, 3.0, seed=heinit_rs.Generator(9))
    assert torch.equal(made.detach(), expected)
    assert made.requires_grad == (factory in ("torch.randn", "randn * 0.02"))
    assert made.is_leaf


def test_factories_torch_refuses_raise_torchs_error_and_draw_nothing():
    state = torch.default_generator.get_state()
    with ht.fast_init():
        for call in (lambda: torch.rand(3, dtype=torch.int64),
                     lambda: torch.normal(0.0, -1.0, size=(3,)),
                     lambda: torch.randn(3, out=torch.empty(2, dtype=torch.int32))):
            with pytest.raises(RuntimeError):
                call()
    assert torch.equal(torch.default_generator.get_state(), state)


def drawn_by(build):
    """{name: tensor} built under fast_init(seed=1) with torch seeded 0, the same with torch
    seeded 7, and with fast_init(seed=2)."""
    runs = []
    for fast_seed, torch_seed in ((1, 0), (1, 7), (2, 0)):
        torch.manual_seed(torch_seed)
        with ht.fast_init(seed=fast_seed):
            model = build()
        runs.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return runs


def timm_builder(name):
    timm = pytest.importorskip("timm")  # imported before the block, as a program does
    return lambda: timm.create_model(name)


def torchvision_builder(name):
    return getattr(pytest.importorskip("torchvision").models, name)


def llama_builder():
    transformers = pytest.importorskip("transformers")
    return lambda: transformers.LlamaForCausalLM(tiny_llama_config())


ZOO = {  # name -> a builder, its library imported
    "timm vit_base_patch16_224": lambda: timm_builder("vit_base_patch16_224"),
    "timm resnet50": lambda: timm_builder("resnet50"),
    "timm efficientnet_b0": lambda: timm_builder("efficientnet_b0"),
    "torchvision resnet50": lambda: torchvision_builder("resnet50"),
    "torchvision swin_t": lambda: torchvision_builder("swin_t"),
    "transformers llama": llama_builder,
    "torch.nn Transformer": lambda: lambda: nn.Transformer(64, 4, 2, 2, 128, batch_first=True),
}


@pytest.mark.parametrize("name", list(ZOO))
def test_every_random_value_of_a_model_zoo_comes_from_heinit_rs(name):
    """A value that changes with torch's seed but not with fast_init's fell back to torch."""
    ours, torch_seed_changed, our_seed_changed = drawn_by(ZOO[name]())
    from_torch = sum(v.numel() for k, v in ours.items()
                     if not torch.equal(v, torch_seed_changed[k]))
    random = sum(v.numel() for k, v in ours.items() if not torch.equal(v, our_seed_changed[k]))
    assert random > 0
    assert from_torch == 0, f"{from_torch} of {random} random values came from torch"


def test_trunc_normal_with_std_zero_raises_torchs_error_and_draws_nothing():
    with pytest.raises(ZeroDivisionError):
        nn.init.trunc_normal_(torch.zeros(16), std=0.0)  # torch alone
    tensor, state = torch.zeros(16), torch.default_generator.get_state()
    with ht.fast_init(), pytest.raises(ZeroDivisionError):
        nn.init.trunc_normal_(tensor, std=0.0)
    assert torch.equal(tensor, torch.zeros(16))
    assert torch.equal(torch.default_generator.get_state(), state)


def test_a_decorated_function_continues_one_stream_across_its_calls():
    def build():
        return nn.Linear(16, 8)

    decorated = ht.fast_init(seed=4)(build)
    calls = [decorated().weight for _ in range(4)]
    assert restored()
    for i in range(4):
        for j in range(i):
            assert not torch.equal(calls[i], calls[j])  # no symmetry trap
    rerun = ht.fast_init(seed=4)(build)  # the program run again
    assert all(torch.equal(rerun().weight, weight) for weight in calls)
    with ht.fast_init(seed=4):  # a with block starts the stream afresh, each time it is made
        assert torch.equal(build().weight, calls[0])


def test_another_thread_gets_torchs_own_values_while_one_is_inside():
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def other_thread():
        assert inside.wait(10)
        generator = torch.Generator().manual_seed(9)
        seen["values"] = nn.init.normal_(torch.empty(64), generator=generator)
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with ht.fast_init():
        inside.set()
        assert done.wait(10)
        mine = nn.init.normal_(torch.empty(64), generator=torch.Generator().manual_seed(9))
    thread.join()
    expected = torch.empty(64).normal_(generator=torch.Generator().manual_seed(9))
    assert torch.equal(seen["values"], expected)  # torch's, bit for bit
    assert not torch.equal(mine, expected)


# ---------------------------------------------------------------------------------------------
# Real models: the model's own distributions, not torch's values, reproducible


def compare_with_torch(build, seed=0):
    """Build twice from one torch seed, with and without fast_init: every float parameter
    has the same distribution (KS, or exactly equal where the init is constant) and other
    values; a second fast_init build reproduces the first."""
    torch.manual_seed(seed)
    with ht.fast_init():
        ours = build()
    torch.manual_seed(seed)
    theirs = build()
    torch.manual_seed(seed)
    with ht.fast_init():
        again = build()
    checked = 0
    for (name, p), q, r in zip(ours.named_parameters(), theirs.parameters(), again.parameters()):
        assert torch.equal(p, r), f"{name} does not reproduce"
        if q.numel() < 2 or torch.unique(q).numel() == 1:
            assert torch.equal(p, q), f"{name}: constant init differs"
            continue
        assert not torch.equal(p, q), f"{name} holds torch's values"
        assert ks_p(p, q) > KS_P, name
        checked += 1
    assert checked > 0
    return ours


@pytest.mark.parametrize("build", [
    lambda: nn.Linear(300, 200),
    lambda: nn.Conv2d(16, 32, 3),
    lambda: nn.Embedding(500, 64, padding_idx=3),
    lambda: nn.MultiheadAttention(64, 4, kdim=32, vdim=48),
    lambda: nn.Transformer(64, 4, 2, 2, 128, batch_first=True),
], ids=["Linear", "Conv2d", "Embedding", "MultiheadAttention", "Transformer"])
def test_torch_modules_built_inside_fast_init(build):
    compare_with_torch(build)


def tiny_llama_config():
    transformers = pytest.importorskip("transformers")
    return transformers.LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128,
                                    num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2)


def test_transformers_llama_built_inside_fast_init():
    transformers = pytest.importorskip("transformers")
    initialization = pytest.importorskip("transformers.initialization")
    captured = dict(initialization.TORCH_INIT_FUNCTIONS)
    model = compare_with_torch(lambda: transformers.LlamaForCausalLM(tiny_llama_config()))
    weight = model.model.layers[0].mlp.up_proj.weight
    assert weight.std().item() == pytest.approx(0.02, rel=0.05)  # transformers' normal_(0, 0.02)
    assert initialization.TORCH_INIT_FUNCTIONS == captured
    assert all(getattr(nn.init, name) is function for name, function in captured.items())


def torchtitan_debugmodel():
    llama3 = pytest.importorskip("torchtitan.models.llama3")
    return llama3.llama3_configs["debugmodel"](attn_backend="flex")


def test_torchtitan_debugmodel_init_states_inside_fast_init():
    def build():
        with torch.device("meta"):
            model = torchtitan_debugmodel().build()
        model.to_empty(device="cpu")
        model.init_states(buffer_device=torch.device("cpu"))
        return model

    model = compare_with_torch(build)
    output = model.lm_head.weight  # trunc_normal_ at +-3 std, std = dim ** -0.5
    std = 256 ** -0.5
    assert output.abs().max() <= 3 * std


# ---------------------------------------------------------------------------------------------
# materialize(init=...): values keyed by name


def test_materialize_init_must_be_he_model_reset_or_a_callable():
    with torch.device("meta"):
        model = nn.Linear(4, 4)
    with pytest.raises(ValueError, match="init must be 'he', 'model', 'reset' or a callable"):
        ht.materialize(model, init="foo")
    assert model.weight.is_meta


def test_materialize_callable_that_raises_leaves_no_patch():
    with torch.device("meta"):
        model = nn.Linear(4, 4)

    def broken(module):
        nn.init.normal_(module.weight)
        raise RuntimeError("broken init")

    with pytest.raises(RuntimeError, match="broken init"):
        ht.materialize(model, seed=0, init=broken)


def init_linears(module):
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=0.5)
            nn.init.uniform_(layer.bias)


def test_a_parameter_depends_only_on_the_seed_and_its_name():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 6), nn.Linear(6, 4))
    ht.materialize(model, seed=9, init=init_linears)
    # Stream 0 (its first fill) of key name_key(9, "1.weight").
    expected = ht.normal_(torch.empty(4, 6), std=0.5, seed=ht.name_key(9, "1.weight"))
    assert torch.equal(model[1].weight, expected)


@pytest.mark.parametrize("init", ["reset", "model"])
def test_modules_built_in_another_order_get_the_same_values(init):
    class Forward(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = nn.Linear(16, 32), nn.Linear(32, 16)

    class Backward(nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = nn.Linear(32, 16)
            self.encoder = nn.Linear(16, 32)

    if init == "model":  # what the constructors did, recorded
        forward, backward = ht.deferred_init(Forward), ht.deferred_init(Backward)
    else:
        with torch.device("meta"):
            forward, backward = Forward(), Backward()
    assert [n for n, _ in forward.named_parameters()] != \
        [n for n, _ in backward.named_parameters()]
    for model in (forward, backward):
        ht.materialize(model, seed=6, init=init)  # each Linear's reset_parameters
    for name, parameter in forward.named_parameters():
        assert torch.equal(parameter, dict(backward.named_parameters())[name]), name
    bound = 1 / math.sqrt(16)  # kaiming_uniform_(a=sqrt(5)): U(+-1/sqrt(fan_in))
    assert forward.encoder.weight.abs().max() <= bound


def build_titan(layers=None):
    config = torchtitan_debugmodel()
    with torch.device("meta"):
        model = config.build()
    if layers is not None:  # a pipeline stage: torchtitan deletes the other layers
        for name in list(model.layers):
            if int(name) not in layers:
                del model.layers[name]
        model.tok_embeddings = None
    return model


@pytest.mark.parametrize("init", ["model", "callable"])
def test_torchtitan_pipeline_stage_gets_the_whole_models_values(init):
    if init == "callable":  # temporaries keyed by the initializing module's name, as "model"
        init = lambda m: m.init_states(buffer_device=None)  # noqa: E731
    whole = ht.materialize(build_titan(), seed=2, init=init)
    stage = build_titan(layers={3, 4, 5})  # the last stage: it keeps norm and lm_head
    ht.materialize(stage, seed=2, init=init)
    stage_parameters = dict(stage.named_parameters())
    whole_parameters = dict(whole.named_parameters())
    assert len(stage_parameters) > 10
    for name, parameter in stage_parameters.items():
        assert torch.equal(parameter, whole_parameters[name]), name
    # The fused QKV weight (drawn into temporaries, concatenated, copied) is keyed by name too.
    assert "layers.3.attention.qkv_linear.wqkv.weight" in stage_parameters


def test_transformers_model_same_values_on_one_thread_and_every_cpu_path(threads):
    transformers = pytest.importorskip("transformers")
    config = tiny_llama_config()

    def build():
        with torch.device("meta"):
            model = transformers.LlamaForCausalLM(config)
        return ht.materialize(model, seed=5, init="model")

    reference = build()
    heinit_rs.set_num_threads(1)
    one_thread = build()
    heinit_rs.set_num_threads(2)
    paths = heinit_rs._core.supported_simd_paths()
    before = heinit_rs._core.get_simd_path()
    try:
        per_path = {}
        for path in paths:
            heinit_rs._core.set_simd_path(path)
            per_path[path] = build()
    finally:
        heinit_rs._core.set_simd_path(before)
    for name, parameter in reference.named_parameters():
        assert torch.equal(parameter, dict(one_thread.named_parameters())[name]), name
        for path, model in per_path.items():
            assert torch.equal(parameter, dict(model.named_parameters())[name]), (path, name)
    weight = reference.model.layers[0].self_attn.q_proj.weight
    assert weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.equal(reference.model.norm.weight, torch.ones(64))


FSDP_WORKER = textwrap.dedent("""
    import sys, warnings
    import torch
    import torch.distributed as dist
    import heinit_rs.torch as ht
    from transformers import LlamaConfig, LlamaForCausalLM
    warnings.filterwarnings("ignore")

    def main(rank, world, port):
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world)
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
        config = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128,
                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
        with torch.device("meta"):
            sharded, whole = LlamaForCausalLM(config), LlamaForCausalLM(config)
        mesh = init_device_mesh("cpu", (world,))
        for layer in sharded.model.layers:
            fully_shard(layer, mesh=mesh)
        fully_shard(sharded, mesh=mesh)
        ht.materialize(sharded, "cpu", seed=8, init="model")
        ht.materialize(whole, "cpu", seed=8, init="model")
        checked = 0
        for (name, p), q in zip(sharded.named_parameters(), whole.parameters()):
            assert type(p).__name__ == "DTensor", name
            assert torch.equal(p.full_tensor(), q), name
            checked += 1
        # deferred_init's record replayed under FSDP2: a model that initializes in __init__
        # (torchvision's resnet18) and transformers' Llama, each rank its block of the whole
        import torchvision
        for build in (lambda: torchvision.models.resnet18(num_classes=10),
                      lambda: LlamaForCausalLM(config)):
            sharded, whole = ht.deferred_init(build), ht.deferred_init(build)
            fully_shard(sharded, mesh=mesh)
            assert all(type(p).__name__ == "DTensor" for p in sharded.parameters())
            ht.materialize(sharded, "cpu", seed=9, init="model")
            ht.materialize(whole, "cpu", seed=9, init="model")
            for (name, p), q in zip(sharded.state_dict().items(), whole.state_dict().values()):
                full = p.full_tensor() if type(p).__name__ == "DTensor" else p
                assert torch.equal(full, q), name
                checked += 1
        dist.barrier()
        if rank == 0:
            print(f"fsdp name keys ok {checked}", flush=True)
        dist.destroy_process_group()

    if __name__ == "__main__":
        import torch.multiprocessing as mp
        world, port = int(sys.argv[1]), int(sys.argv[2])
        mp.spawn(main, args=(world, port), nprocs=world, join=True)
""")


def test_fsdp2_on_two_gloo_ranks_gives_each_rank_its_block_of_the_unsharded_values(tmp_path):
    pytest.importorskip("transformers")
    if not torch.distributed.is_available():
        pytest.skip("this torch has no torch.distributed")
    script = tmp_path / "fsdp_names.py"
    script.write_text(FSDP_WORKER)
    run = run_python(None, args=(str(script), "2", str(free_port())), timeout=600)
    assert "fsdp name keys ok" in run.stdout, run.stdout


def test_the_fast_init_docstring_example_runs():
    import doctest

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    tests = finder.find(ht.fast_init, "fast_init", globs={})
    assert sum(len(test.examples) for test in tests) > 0
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
