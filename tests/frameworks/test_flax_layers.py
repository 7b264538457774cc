"""Conformance, layer by layer: every Flax linen and NNX layer that takes a kernel (or
embedding) initializer is built once with jax.nn.initializers' initializer and once with
heinit_rs.jax's of the same name, from the same key. Every weight must agree:

- the same shapes asked of the initializers, call by call;
- the same bounds (no value outside the limit JAX's formula gives for JAX's own fans);
- the same constants where the layer sets them (biases);
- the same distribution: two-sample Kolmogorov-Smirnov p > 1e-4 where a weight has at least
  1,000 values (keys are fixed, so the p-values are too).

A layer class that a later Flax adds fails `test_every_*_layer_is_covered` until it has a
recipe here."""

import dataclasses
import inspect
import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
flax = pytest.importorskip("flax")
stats = pytest.importorskip("scipy.stats")
import heinit_rs.jax as hj  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import linen, nnx  # noqa: E402
from jax._src.nn.initializers import _compute_fans  # noqa: E402

pytestmark = pytest.mark.filterwarnings(  # Flax's own, for a layer it still ships
    "ignore:SelfAttention will be deprecated:DeprecationWarning")
KS_THRESHOLD = 1e-4
INITIALIZERS = ["he_normal", "glorot_uniform", "lecun_uniform", "glorot_normal"]
KERNEL_ARGUMENTS = ("kernel_init", "recurrent_kernel_init", "embedding_init", "qkv_kernel_init",
                    "out_kernel_init")

x2 = jnp.ones((2, 40))
LINEN = {  # class -> (constructor arguments, inputs)
    linen.Dense: ({"features": 48}, (x2,)),
    linen.DenseGeneral: ({"features": (4, 12), "axis": -1}, (jnp.ones((2, 3, 40)),)),
    linen.Einsum: ({"shape": (40, 4, 12), "einsum_str": "bd,dhk->bhk"}, (x2,)),
    linen.Embed: ({"num_embeddings": 100, "features": 32}, (jnp.ones((2, 5), jnp.int32),)),
    linen.Conv: ({"features": 16, "kernel_size": (3, 3)}, (jnp.ones((2, 8, 8, 12)),)),
    linen.ConvTranspose: ({"features": 16, "kernel_size": (3, 3)}, (jnp.ones((2, 8, 8, 12)),)),
    linen.ConvLocal: ({"features": 8, "kernel_size": (3, 3)}, (jnp.ones((2, 6, 6, 4)),)),
    linen.MultiHeadDotProductAttention: ({"num_heads": 4}, (jnp.ones((2, 6, 64)),)),
    linen.MultiHeadAttention: ({"num_heads": 4}, (jnp.ones((2, 6, 64)),)),
    linen.SelfAttention: ({"num_heads": 4}, (jnp.ones((2, 6, 64)),)),
    linen.LSTMCell: ({"features": 32}, "cell"),
    linen.OptimizedLSTMCell: ({"features": 32}, "cell"),
    linen.GRUCell: ({"features": 32}, "cell"),
    linen.MGUCell: ({"features": 32}, "cell"),
    linen.SimpleCell: ({"features": 32}, "cell"),
}
NNX = {  # class -> (constructor arguments, whether it has weights only after a call)
    nnx.Linear: {"in_features": 40, "out_features": 48},
    nnx.LinearGeneral: {"in_features": 40, "out_features": (4, 12)},
    nnx.Einsum: {"einsum_str": "bd,dhk->bhk", "kernel_shape": (40, 4, 12)},
    nnx.Embed: {"num_embeddings": 100, "features": 32},
    nnx.Conv: {"in_features": 12, "out_features": 16, "kernel_size": (3, 3)},
    nnx.ConvTranspose: {"in_features": 12, "out_features": 16, "kernel_size": (3, 3)},
    nnx.MultiHeadAttention: {"num_heads": 4, "in_features": 64, "decode": False},
    nnx.LSTMCell: {"in_features": 40, "hidden_features": 32},
    nnx.OptimizedLSTMCell: {"in_features": 40, "hidden_features": 32},
    nnx.GRUCell: {"in_features": 40, "hidden_features": 32},
    nnx.SimpleCell: {"in_features": 40, "hidden_features": 32},
}


def kernel_arguments(names):
    return [name for name in names if name in KERNEL_ARGUMENTS]


def test_every_linen_layer_with_a_kernel_initializer_is_covered():
    found = {cls for name in dir(linen) if inspect.isclass(cls := getattr(linen, name))
             and issubclass(cls, linen.Module) and dataclasses.is_dataclass(cls)
             and kernel_arguments(f.name for f in dataclasses.fields(cls))}
    assert found and not found - set(LINEN), sorted(c.__name__ for c in found - set(LINEN))


def test_every_nnx_layer_with_a_kernel_initializer_is_covered():
    found = {cls for name in dir(nnx) if inspect.isclass(cls := getattr(nnx, name))
             and issubclass(cls, nnx.Module)
             and kernel_arguments(inspect.signature(cls.__init__).parameters)}
    assert found and not found - set(NNX), sorted(c.__name__ for c in found - set(NNX))


class Recorded:
    """An initializer that records the shapes it is asked for."""

    def __init__(self, initializer):
        self.initializer, self.shapes = initializer, []

    def __call__(self, key, shape, dtype=jnp.float32, *args, **kwargs):
        self.shapes.append(tuple(shape))
        return self.initializer(key, shape, dtype, *args, **kwargs)


def leaves(tree):
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(value, np.float64) for path, value in flat}


def build_linen(cls, initializer):
    arguments, inputs = LINEN[cls]
    names = kernel_arguments(f.name for f in dataclasses.fields(cls))
    layer = cls(**arguments, **{name: initializer for name in names})
    key = jax.random.key(7)
    if inputs == "cell":
        carry = layer.initialize_carry(jax.random.key(1), (2, 40))
        return leaves(layer.init(key, carry, jnp.ones((2, 40)))["params"])
    return leaves(layer.init(key, *inputs)["params"])


def build_nnx(cls, initializer):
    names = kernel_arguments(inspect.signature(cls.__init__).parameters)
    layer = cls(**NNX[cls], **{name: initializer for name in names}, rngs=nnx.Rngs(7))
    return leaves(nnx.state(layer, nnx.Param))


def bound(name, shapes):
    """The largest value JAX's formula allows for any of these shapes (JAX's own fans)."""
    largest = 0.0
    for shape in shapes:
        fan_in, fan_out = _compute_fans(shape, -2, -1, ())
        scale, mode, distribution = {"he_normal": (2.0, fan_in, "normal"),
                                     "glorot_uniform": (1.0, (fan_in + fan_out) / 2, "uniform"),
                                     "lecun_uniform": (1.0, fan_in, "uniform"),
                                     "glorot_normal": (1.0, (fan_in + fan_out) / 2, "normal")}[name]
        std = math.sqrt(scale / max(1.0, mode))
        largest = max(largest, math.sqrt(3) * std if distribution == "uniform"
                      else 2 * std / 0.87962566103423978)
    return largest


def compare(ours, theirs, name, shapes):
    assert list(ours) == list(theirs)
    limit = bound(name, shapes)
    compared = 0
    for path, values in ours.items():
        expected = theirs[path]
        assert values.shape == expected.shape, path
        if np.array_equal(values, expected):  # what the layer sets itself: biases
            continue
        assert np.abs(values).max() <= limit * (1 + 1e-6), path
        assert np.abs(expected).max() <= limit * (1 + 1e-6), path
        if values.size >= 1000:
            p = stats.ks_2samp(values.ravel(), expected.ravel()).pvalue
            assert p > KS_THRESHOLD, f"{path}: KS p = {p:.2e}"
            compared += 1
    assert compared >= 1, "no weight large enough for a KS test: enlarge the recipe"


@pytest.mark.parametrize("name", INITIALIZERS)
@pytest.mark.parametrize("cls", list(LINEN), ids=lambda cls: f"linen.{cls.__name__}")
def test_the_linen_layer_gets_what_jax_gives(cls, name):
    theirs_init = Recorded(getattr(jax.nn.initializers, name)())
    ours_init = Recorded(getattr(hj, name)())
    theirs, ours = build_linen(cls, theirs_init), build_linen(cls, ours_init)
    assert ours_init.shapes == theirs_init.shapes and theirs_init.shapes
    compare(ours, theirs, name, theirs_init.shapes)


@pytest.mark.parametrize("name", INITIALIZERS)
@pytest.mark.parametrize("cls", list(NNX), ids=lambda cls: f"nnx.{cls.__name__}")
def test_the_nnx_layer_gets_what_jax_gives(cls, name):
    theirs_init = Recorded(getattr(jax.nn.initializers, name)())
    ours_init = Recorded(getattr(hj, name)())
    theirs, ours = build_nnx(cls, theirs_init), build_nnx(cls, ours_init)
    assert ours_init.shapes == theirs_init.shapes and theirs_init.shapes
    compare(ours, theirs, name, theirs_init.shapes)
