"""heinit_rs.torch: a drop-in for torch.nn.init that fills tensors in place from the same
stream as the NumPy API. Skipped where torch is not installed."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="heinit_rs.torch needs torch (pip install torch)")
import heinit_rs  # noqa: E402
import heinit_rs.torch as init  # noqa: E402

stats = pytest.importorskip("scipy.stats")
MASK = 2**64 - 1
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
# The seven random initializers with arguments, and the NumPy API function that fills alike.
INITIALIZERS = [
    ("kaiming_normal_", {"nonlinearity": "relu"}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("xavier_normal_", {"gain": 2.0}),
    ("xavier_uniform_", {}),
    ("trunc_normal_", {"std": 0.02}),
    ("normal_", {"mean": 1.0, "std": 0.5}),
    ("uniform_", {"a": -1.0, "b": 3.0}),
]


def as_numpy(tensor):
    """The tensor's values as float64 NumPy (bfloat16 and float16 widen exactly)."""
    return tensor.detach().cpu().to(torch.float64).numpy()


def next_key(generator):
    """The key the next heinit_rs.torch call takes from `generator`, without consuming it."""
    probe = torch.Generator().set_state(generator.get_state())
    word = torch.empty((), dtype=torch.int64).random_(-(2**63), None, generator=probe)
    return int(word) & MASK


def numpy_fill(name, shape, dtype, seed, **kwargs):
    numpy_dtype = {torch.float32: np.float32, torch.float64: np.float64,
                   torch.float16: np.float16}.get(dtype)
    if numpy_dtype is None:
        numpy_dtype = pytest.importorskip("ml_dtypes").bfloat16
    if dtype in (torch.float16, torch.bfloat16) and name.endswith("uniform_"):
        wide = getattr(heinit_rs, name)(np.empty(shape, np.float32), **kwargs, seed=seed)
        return half_open(wide, numpy_dtype, *torch_uniform_bounds(name, shape, kwargs))
    return getattr(heinit_rs, name)(np.empty(shape, numpy_dtype), **kwargs, seed=seed)


def torch_uniform_bounds(name, shape, kwargs):
    """torch.nn.init's U(a, b) for `name`, from torch's own fans and gains."""
    if name == "uniform_":
        return kwargs.get("a", 0.0), kwargs.get("b", 1.0)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    if name == "kaiming_uniform_":
        bound = torch.nn.init.calculate_gain("leaky_relu", kwargs.get("a", 0)) * math.sqrt(
            3 / fan_in)
    else:
        bound = kwargs.get("gain", 1.0) * math.sqrt(6 / (fan_in + fan_out))
    return -bound, bound


def half_open(wide, numpy_dtype, a, b):
    """torch's 16-bit uniform: the float32 values rounded to nearest, b (rounded) wrapped to
    a (rounded)."""
    values = wide.astype(numpy_dtype)
    low, high = np.float32(a).astype(numpy_dtype), np.float32(b).astype(numpy_dtype)
    values[values == high] = low
    return values


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name, kwargs", INITIALIZERS, ids=[n for n, _ in INITIALIZERS])
def test_the_default_generator_gives_the_key_and_the_numpy_api_the_bits(name, kwargs, dtype):
    if dtype is torch.bfloat16:
        pytest.importorskip("ml_dtypes")
    torch.manual_seed(123)
    key = next_key(torch.default_generator)
    tensor = torch.empty(48, 40, dtype=dtype)
    assert getattr(init, name)(tensor, **kwargs) is tensor
    expected = numpy_fill(name, (48, 40), dtype, key, **kwargs)
    np.testing.assert_array_equal(as_numpy(tensor), expected.astype(np.float64))


def test_manual_seed_reproduces_and_consecutive_calls_differ():
    torch.manual_seed(7)
    first = init.kaiming_normal_(torch.empty(64, 64)).clone()
    second = init.kaiming_normal_(torch.empty(64, 64)).clone()
    torch.manual_seed(7)
    assert torch.equal(init.kaiming_normal_(torch.empty(64, 64)), first)
    assert not torch.equal(first, second)


def test_a_torch_generator_is_drawn_from_and_the_default_one_is_not():
    generator = torch.Generator().manual_seed(5)
    key = next_key(generator)
    before = torch.default_generator.get_state()
    tensor = init.xavier_uniform_(torch.empty(30, 20), generator=generator)
    assert torch.equal(torch.default_generator.get_state(), before)
    np.testing.assert_array_equal(as_numpy(tensor), heinit_rs.xavier_uniform_(np.empty((30, 20),
                                  np.float32), seed=key))
    assert next_key(generator) != key


def test_seed_takes_an_int_or_a_heinit_rs_generator():
    by_int = init.normal_(torch.empty(5, 7), seed=11)
    np.testing.assert_array_equal(by_int.numpy(), heinit_rs.normal_(np.empty((5, 7), np.float32),
                                                                    seed=11))
    generator = heinit_rs.Generator(11)
    assert torch.equal(init.normal_(torch.empty(5, 7), seed=generator), by_int)
    assert generator.draws == 1
    with pytest.raises(ValueError, match="generator= .* or seed=, not both"):
        init.normal_(torch.empty(2), generator=torch.Generator(), seed=1)


def test_strided_tensors_hold_the_values_of_their_logical_indices():
    transposed = init.kaiming_normal_(torch.empty(32, 64).T, seed=3)
    assert not transposed.is_contiguous()
    assert torch.equal(transposed, init.kaiming_normal_(torch.empty(64, 32), seed=3))
    base = torch.zeros(10, 20)
    init.uniform_(base[:, 5:15], 1.0, 2.0, seed=4)
    assert torch.count_nonzero(base[:, :5]) == 0 and torch.count_nonzero(base[:, 15:]) == 0
    assert torch.equal(base[:, 5:15], init.uniform_(torch.empty(10, 10), 1.0, 2.0, seed=4))


def test_a_parameter_that_requires_grad_is_filled_and_autograd_sees_the_write():
    weight = torch.nn.Parameter(torch.empty(16, 8))
    loss = (weight * weight).sum()  # saves weight for the backward pass
    version = weight._version
    init.kaiming_uniform_(weight, seed=1)
    assert weight.requires_grad and weight.is_leaf and weight._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_torch_std_and_bounds(dtype):
    if dtype is torch.bfloat16:
        pytest.importorskip("ml_dtypes")
    tensor = init.kaiming_normal_(torch.empty(512, 256, 3, dtype=dtype), mode="fan_out", seed=0)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(tensor)
    std = torch.nn.init.calculate_gain("leaky_relu", 0) / math.sqrt(fan_out)
    assert as_numpy(tensor).std() == pytest.approx(std, rel=0.01)
    bound = float(torch.tensor(1 / math.sqrt(fan_in), dtype=dtype))  # rounded, as torch's
    values = as_numpy(init.kaiming_uniform_(torch.empty(512, 256, 3, dtype=dtype),
                                            a=math.sqrt(5), seed=1))
    assert -bound <= values.min() < -0.99 * bound and 0.99 * bound < values.max() < bound


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_the_truncated_normal_stays_inside_without_piling_up_at_a_bound(dtype):
    """torch issue 145498: a 16-bit trunc_normal_ rounds values onto and past its bounds."""
    if dtype is torch.bfloat16:
        pytest.importorskip("ml_dtypes")
    n = 10**6
    values = as_numpy(init.trunc_normal_(torch.empty(n, dtype=dtype), std=1.0, a=-0.5, b=0.5,
                                         seed=2))
    assert values.min() >= -0.5 and values.max() <= 0.5
    # Values that round to a bound are those within half an ulp of it (the ulp below 0.5 is
    # 2**-9 in bfloat16, 2**-12 in float16); torch's own put 2.8x that many there (0.53%).
    half_ulp = 2.0**-10 if dtype is torch.bfloat16 else 2.0**-13
    phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    expected = n * 2 * (phi(0.5) - phi(0.5 - half_ulp)) / (phi(0.5) - phi(-0.5))
    at_bound = np.count_nonzero(np.abs(values) == 0.5)
    assert abs(at_bound - expected) < 5 * math.sqrt(expected), (at_bound, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_a_16_bit_uniform_is_half_open_and_distributed_as_torchs(dtype):
    """torch rounds a float32 U(a, b) value to the format and wraps b (rounded) to a: [a, b)."""
    n = 10**6
    ours = init.uniform_(torch.empty(n, dtype=dtype), 0.0, 1.0, seed=3)
    assert ours.max() < 1 and ours.min() >= 0
    torch.manual_seed(0)
    layer = torch.empty(4096, 1024, dtype=dtype)
    theirs = torch.nn.init.kaiming_uniform_(layer.clone(), a=math.sqrt(5))
    ours = init.kaiming_uniform_(layer.clone(), a=math.sqrt(5), seed=4)
    p = stats.ks_2samp(as_numpy(ours).ravel(), as_numpy(theirs).ravel()).pvalue
    assert p > 1e-4, p  # the stream rounded to nearest and clamped gave p = 1.4e-7 (bfloat16)
    # -bound holds its half cell and the wrapped one above: 1/512 of the values in bfloat16
    low = as_numpy(ours).min()
    assert low == as_numpy(theirs).min() == -1 / 32
    expected = ours.numel() * (2.0**-13 if dtype is torch.bfloat16 else 2.0**-16) / (2 / 32)
    at_low = np.count_nonzero(as_numpy(ours) == low)
    assert abs(at_low - expected) < 5 * math.sqrt(expected), (at_low, expected)


def test_rejected_calls_raise_and_draw_nothing():
    torch.manual_seed(0)
    state = torch.default_generator.get_state()
    vector = torch.zeros(5)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_normal_(vector)
    with pytest.raises(TypeError, match="tensor must have dtype float32, float64, float16 or "
                       "bfloat16, got torch.int32"):
        init.normal_(torch.zeros(3, dtype=torch.int32))
    with pytest.raises(ValueError, match="clone"):
        init.normal_(torch.zeros(1, 3).expand(4, 3))
    with pytest.raises(TypeError, match="tensor must be a torch.Tensor, got ndarray"):
        init.normal_(np.zeros(3))
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(torch.zeros(3), a=1.0, b=0.0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        init.normal_(torch.zeros(3), generator=3)
    assert torch.equal(torch.default_generator.get_state(), state)
    assert torch.count_nonzero(vector) == 0


def test_meta_tensors_are_left_alone():
    state = torch.default_generator.get_state()
    tensor = torch.empty(4, 3, device="meta")
    assert init.kaiming_normal_(tensor) is tensor
    assert torch.equal(torch.default_generator.get_state(), state)


def test_other_names_are_torchs_own():
    assert init.orthogonal_ is torch.nn.init.orthogonal_
    assert init.calculate_gain is torch.nn.init.calculate_gain
    assert init.zeros_ is torch.nn.init.zeros_
    assert "orthogonal_" in dir(init)
    with pytest.raises(AttributeError, match="heinit_rs.torch"):
        init.no_such_initializer_


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_a_cuda_tensor_holds_the_cpu_values(dtype):
    if dtype is torch.bfloat16:
        pytest.importorskip("ml_dtypes")
    on_gpu = init.kaiming_normal_(torch.empty(256, 128, dtype=dtype, device="cuda"), seed=9)
    on_cpu = init.kaiming_normal_(torch.empty(256, 128, dtype=dtype), seed=9)
    assert on_gpu.device.type == "cuda" and torch.equal(on_gpu.cpu(), on_cpu)


def small_net():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3),
        torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 4))


def test_init_module_he_initializes_and_trains_a_step():
    model = init.init_module(small_net(), seed=0)
    twin = init.init_module(small_net(), seed=0)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
    for layer in model:
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = layer.weight[0].numel()
            assert torch.all(layer.bias.abs() <= 1 / math.sqrt(fan_in))
    conv = model[0]
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 27), rel=0.25)
    torch.manual_seed(0)
    images, labels = torch.randn(16, 3, 8, 8), torch.randint(0, 4, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    after = torch.nn.functional.cross_entropy(model(images), labels)
    assert math.isfinite(loss.item()) and after.item() < loss.item()


def test_init_module_takes_its_draws_from_torch_by_default():
    torch.manual_seed(1)
    first = init.init_module(small_net())
    torch.manual_seed(1)
    second = init.init_module(small_net())
    for p, q in zip(first.parameters(), second.parameters()):
        assert torch.equal(p, q)
    fresh = init.init_module(small_net())
    assert not torch.equal(fresh[0].weight, first[0].weight)


def test_init_module_refuses_lazy_layers():
    with pytest.raises(ValueError, match="forward pass"):
        init.init_module(torch.nn.LazyLinear(4), seed=0)
