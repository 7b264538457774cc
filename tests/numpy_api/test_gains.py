"""The second-moment gains beyond torch: 1 / sqrt(E[f(z)^2]) to 1e-9, checked against scipy."""

import math

import numpy as np
import pytest

import heinit_rs as h

integrate = pytest.importorskip("scipy.integrate")
special = pytest.importorskip("scipy.special")


def reference_gain(f_scalar):
    """1 / sqrt(E[f(z)^2]) by scipy.integrate.quad, split at 0 where relu-like kinks sit."""
    density = lambda z: f_scalar(z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    left = integrate.quad(density, -math.inf, 0, epsabs=0, epsrel=1e-13, limit=200)[0]
    right = integrate.quad(density, 0, math.inf, epsabs=0, epsrel=1e-13, limit=200)[0]
    return 1 / math.sqrt(left + right)


def test_callable_relu_gives_sqrt_two():
    assert h.calculate_gain(lambda x: np.maximum(x, 0)) == pytest.approx(math.sqrt(2), rel=1e-12)


def test_callable_leaky_relu_matches_torch_formula():
    slope = 0.2
    got = h.calculate_gain(lambda x: np.where(x > 0, x, slope * x))
    assert got == pytest.approx(math.sqrt(2 / (1 + slope**2)), rel=1e-12)


def test_identity_gives_one_and_tanh_differs_from_torch():
    assert h.calculate_gain(lambda x: x) == pytest.approx(1.0, rel=1e-12)
    rule_tanh = h.calculate_gain(np.tanh)
    assert rule_tanh == pytest.approx(reference_gain(math.tanh), rel=1e-9)
    assert abs(rule_tanh - h.calculate_gain("tanh")) > 0.05


@pytest.mark.parametrize(
    "name, param, scalar",
    [
        ("gelu", None, lambda z: z * special.ndtr(z)),
        ("silu", None, lambda z: z * special.expit(z)),
        ("swish", None, lambda z: z * special.expit(z)),
        ("elu", None, lambda z: z if z > 0 else math.expm1(z)),
        ("elu", 0.5, lambda z: z if z > 0 else 0.5 * math.expm1(z)),
        ("mish", None, lambda z: z * math.tanh(math.log1p(math.exp(z)) if z < 30 else z)),
        ("softplus", None, lambda z: math.log1p(math.exp(z)) if z < 30 else z),
    ],
)
def test_named_rule_gains(name, param, scalar):
    assert h.calculate_gain(name, param) == pytest.approx(reference_gain(scalar), rel=1e-9)


def test_rule_gain_errors():
    with pytest.raises(ValueError, match="alpha True not a valid number"):
        h.calculate_gain("elu", True)
    # Gains are cached, but 1 == True must not let a cached int answer for a bool.
    assert h.calculate_gain("leaky_relu", 1) == 1.0
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        h.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        h.calculate_gain(["relu"])
    with pytest.raises(ValueError, match="positive"):
        h.calculate_gain(lambda x: np.zeros_like(x))
    with pytest.raises(ValueError, match="non-finite"):
        h.calculate_gain(lambda x: np.full_like(x, np.nan))
    with pytest.raises(ValueError, match="Unsupported nonlinearity softmax; use one of linear"):
        h.calculate_gain("softmax")


def test_callable_nonlinearity_in_kaiming(captured_fills):
    h.kaiming_normal_(np.empty((8, 50), np.float32), nonlinearity=lambda x: np.maximum(x, 0),
                      seed=0)
    assert captured_fills[-1][1][1] == pytest.approx(math.sqrt(2 / 50), rel=1e-12)


def test_remembered_kaiming_std_keeps_every_check(captured_fills):
    # The std is remembered per (shape, a, type(a), mode, nonlinearity, layout): a bool slope
    # must still be refused after the equal int was accepted, and a bad mode still refused.
    arr = np.empty((8, 50), np.float32)
    for _ in range(2):
        h.kaiming_normal_(arr, a=1, seed=0)
        assert captured_fills[-1][1][1] == pytest.approx(math.sqrt(2 / 2 / 50), rel=1e-12)
        with pytest.raises(ValueError, match="negative_slope True not a valid number"):
            h.kaiming_normal_(arr, a=True, seed=0)
        with pytest.raises(ValueError, match="Mode fan_sideways not supported"):
            h.kaiming_normal_(arr, mode="fan_sideways", seed=0)


def test_callable_nonlinearity_is_asked_again_each_call(captured_fills):
    # A callable's gain is not remembered: the same function object may compute differently.
    slope = [0.0]

    def leaky(x):
        return np.where(x > 0, x, slope[0] * x)

    arr = np.empty((8, 50), np.float32)
    h.kaiming_normal_(arr, nonlinearity=leaky, seed=0)
    slope[0] = 1.0
    h.kaiming_normal_(arr, nonlinearity=leaky, seed=0)
    assert captured_fills[-2][1][1] == pytest.approx(math.sqrt(2 / 50), rel=1e-9)
    assert captured_fills[-1][1][1] == pytest.approx(math.sqrt(1 / 50), rel=1e-9)


def test_an_unhashable_parameter_that_the_gain_ignores_is_accepted_as_torch_does(captured_fills):
    # torch.nn.init.calculate_gain("relu", [1]) is sqrt(2): relu ignores its parameter. The
    # remembered gains must not turn the unhashable list into a TypeError.
    assert h.calculate_gain("relu", [1]) == math.sqrt(2.0)
    h.kaiming_normal_(np.empty((8, 50), np.float32), a=[0], nonlinearity="relu", seed=0)
    assert captured_fills[-1][1][1] == pytest.approx(math.sqrt(2 / 50), rel=1e-12)
    with pytest.raises(ValueError, match="negative_slope \\[0\\] not a valid number"):
        h.calculate_gain("leaky_relu", [0])


def test_remembered_new_array_plans_keep_every_check(captured_fills):
    # New arrays remember (dtype, distribution, params) per (arguments, shape, dtype): after the
    # valid call, arguments equal to its own but of another type must still be refused.
    for _ in range(2):
        h.kaiming_normal((8, 50), a=1, seed=0)
        assert captured_fills[-1][1][1] == pytest.approx(math.sqrt(2 / 2 / 50), rel=1e-12)
        with pytest.raises(ValueError, match="negative_slope True not a valid number"):
            h.kaiming_normal((8, 50), a=True, seed=0)
        with pytest.raises(TypeError, match=r"shape\[1\] must be an int"):
            h.kaiming_uniform((8, 50.0), a=1, seed=0)
        with pytest.raises(TypeError, match="dtype must be float32, float64, float16 or bfloat16"):
            h.kaiming_normal((8, 50), a=1, dtype=np.int8, seed=0)
        h.he_normal((3, 3, 8, 50), in_axis=1, out_axis=-1, seed=0)
        with pytest.raises(TypeError, match="in_axis must be an int or a sequence"):
            h.he_normal((3, 3, 8, 50), in_axis=True, out_axis=-1, seed=0)
    # The same shape as a list is the same plan and the same values.
    assert np.array_equal(h.kaiming_normal([8, 50], seed=3), h.kaiming_normal((8, 50), seed=3))


def test_remembered_new_array_plans_follow_every_argument(captured_fills):
    # Each argument the parameters depend on changes them, the dtype included.
    h.kaiming_normal((8, 50), seed=0)
    h.kaiming_normal((8, 50), mode="fan_out", seed=0)
    h.kaiming_normal((8, 50), nonlinearity="tanh", seed=0)
    h.kaiming_uniform((8, 50), seed=0)
    stds = [params[1] for _, params, _, _ in captured_fills[:3]]
    # a=0: leaky_relu with slope 0, gain sqrt(2), as torch.
    assert stds == pytest.approx([math.sqrt(2 / 50), math.sqrt(2 / 8),
                                  5 / 3 / math.sqrt(50)], rel=1e-12)
    assert captured_fills[3][0] == "uniform"
    assert h.kaiming_normal((8, 50), dtype=np.float64, seed=0).dtype == np.float64
    assert h.he_uniform((8, 50), seed=0).dtype == np.float32


def test_callable_nonlinearity_is_asked_again_for_new_arrays(captured_fills):
    slope = [0.0]

    def leaky(x):
        return np.where(x > 0, x, slope[0] * x)

    h.kaiming_normal((8, 50), nonlinearity=leaky, seed=0)
    slope[0] = 1.0
    h.kaiming_normal((8, 50), nonlinearity=leaky, seed=0)
    assert captured_fills[-2][1][1] == pytest.approx(math.sqrt(2 / 50), rel=1e-9)
    assert captured_fills[-1][1][1] == pytest.approx(math.sqrt(1 / 50), rel=1e-9)
