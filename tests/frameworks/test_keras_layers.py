"""Conformance, layer by layer: every keras.layers class that takes an initializer is built
once with Keras' own initializer and once with heinit_rs.keras' of the same name and seed, on
the backend in force (CI runs this file on JAX and on torch). Every weight must agree:

- the same fans, exactly (each call's fans are recorded on both sides);
- the same bounds (no value outside the limit Keras' formula gives for those fans);
- the same constants, where a layer sets some itself (an LSTM's forget-gate bias);
- the same distribution: two-sample Kolmogorov-Smirnov p > 1e-4 where a weight has at least
  1,000 values (the seeds are fixed, so the p-values are too).

A layer class that a later Keras adds is not silently passed over:
`test_every_layer_with_an_initializer_is_covered` fails until it has a recipe here or is
listed in NOT_COVERED with the reason."""

import inspect
import math
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras", reason="heinit_rs.keras needs keras and a backend")
stats = pytest.importorskip("scipy.stats")
import heinit_rs.keras as hk  # noqa: E402
from keras.src.initializers import random_initializers  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

L = keras.layers
# layer class -> (constructor arguments, how to build it). A build is an input shape, or a
# callable that builds the layer it is given. Sizes give the kernels >= 1,000 values.
RECIPES = {
    L.Dense: ({"units": 48}, (2, 40)),
    L.EinsumDense: ({"equation": "abc,cde->abde", "output_shape": (None, 4, 16),
                     "bias_axes": "de"}, (2, 3, 24)),
    L.Embedding: ({"input_dim": 100, "output_dim": 32}, (2, 5)),
    L.ReversibleEmbedding: ({"input_dim": 100, "output_dim": 32}, (2, 5)),
    L.Conv1D: ({"filters": 24, "kernel_size": 3}, (2, 10, 24)),
    L.Conv2D: ({"filters": 16, "kernel_size": 3}, (2, 8, 8, 12)),
    L.Conv3D: ({"filters": 8, "kernel_size": 3}, (2, 5, 5, 5, 8)),
    L.Conv1DTranspose: ({"filters": 24, "kernel_size": 3}, (2, 10, 24)),
    L.Conv2DTranspose: ({"filters": 16, "kernel_size": 3}, (2, 8, 8, 12)),
    L.Conv3DTranspose: ({"filters": 8, "kernel_size": 3}, (2, 5, 5, 5, 8)),
    L.DepthwiseConv1D: ({"kernel_size": 3, "depth_multiplier": 4}, (2, 10, 96)),
    L.DepthwiseConv2D: ({"kernel_size": 3, "depth_multiplier": 2}, (2, 8, 8, 64)),
    L.SeparableConv1D: ({"filters": 32, "kernel_size": 3, "depth_multiplier": 4}, (2, 10, 96)),
    L.SeparableConv2D: ({"filters": 32, "kernel_size": 3, "depth_multiplier": 2},
                        (2, 8, 8, 64)),
    L.SimpleRNN: ({"units": 40}, (2, 5, 32)),
    L.LSTM: ({"units": 32}, (2, 5, 16)),
    L.GRU: ({"units": 32}, (2, 5, 16)),
    L.SimpleRNNCell: ({"units": 40}, (2, 32)),
    L.LSTMCell: ({"units": 32}, (2, 16)),
    L.GRUCell: ({"units": 32}, (2, 16)),
    L.ConvLSTM1D: ({"filters": 8, "kernel_size": 3}, (2, 3, 10, 16)),
    L.ConvLSTM2D: ({"filters": 8, "kernel_size": 3}, (2, 3, 6, 6, 8)),
    L.ConvLSTM3D: ({"filters": 4, "kernel_size": 3}, (2, 2, 5, 5, 5, 4)),
    L.MultiHeadAttention: ({"num_heads": 8, "key_dim": 16},
                           lambda layer: layer.build((2, 6, 64), (2, 6, 64))),
    L.GroupQueryAttention: ({"head_dim": 16, "num_query_heads": 8, "num_key_value_heads": 2},
                            lambda layer: layer.build((2, 6, 64), (2, 6, 64))),
    L.BatchNormalization: ({}, (2, 1200)),
    L.LayerNormalization: ({}, (2, 1200)),
    L.GroupNormalization: ({"groups": 4}, (2, 1200)),
    L.PReLU: ({}, (2, 40, 30)),
}
NOT_COVERED: dict[type, str] = {}

# Keras' classes and heinit_rs.keras' of the same name: a uniform and a (truncated) normal.
INITIALIZERS = ["GlorotUniform", "HeNormal", "LecunUniform", "GlorotNormal"]


def layers_with_initializers():
    """Every keras.layers class with an `*_initializer` argument (aliases once), by name."""
    found = {}
    for name in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, name)
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) and any(
                p.endswith("_initializer") for p in inspect.signature(obj.__init__).parameters):
            found.setdefault(obj, name)
    return found


def test_every_layer_with_an_initializer_is_covered():
    missing = {name for cls, name in layers_with_initializers().items()
               if cls not in RECIPES and cls not in NOT_COVERED}
    assert not missing, f"keras.layers classes with initializers and no recipe: {missing}"


class FanRecorder:
    """Records (shape, fan_in, fan_out) of each call of Keras' and heinit_rs' fan rules."""

    def __init__(self, monkeypatch):
        self.keras, self.heinit = [], []
        keras_rule, heinit_rule = random_initializers.compute_fans, hk.keras_fans

        def keras_fans(shape, input_axes=None, output_axes=None):
            fans = keras_rule(shape, input_axes=input_axes, output_axes=output_axes)
            self.keras.append((tuple(shape), *fans))
            return fans

        def heinit_fans(shape, input_axes=None, output_axes=None):
            fans = heinit_rule(shape, input_axes, output_axes)
            self.heinit.append((tuple(shape), *fans))
            return fans

        monkeypatch.setattr(random_initializers, "compute_fans", keras_fans)
        monkeypatch.setattr(hk, "keras_fans", heinit_fans)


def build(cls, initializer):
    arguments, how = RECIPES[cls]
    names = [p for p in inspect.signature(cls.__init__).parameters if p.endswith("_initializer")]
    layer = cls(**arguments, **{name: initializer for name in names}, name="conformance")
    if callable(how):
        how(layer)
    else:
        layer.build(how)
    return {w.path: np.asarray(keras.ops.convert_to_numpy(w.value), np.float64)
            for w in layer.weights}


def limit(initializer, fan_in, fan_out):
    n = {"fan_in": fan_in, "fan_out": fan_out,
         "fan_avg": (fan_in + fan_out) / 2}[initializer.mode]
    variance = initializer.scale / max(1.0, n)
    if initializer.distribution == "uniform":
        return math.sqrt(3.0 * variance)
    return 2.0 * math.sqrt(variance) / 0.87962566103423978  # truncated at 2 std


@pytest.mark.parametrize("name", INITIALIZERS)
@pytest.mark.parametrize("cls", list(RECIPES), ids=lambda cls: cls.__name__)
def test_the_layer_gets_what_keras_gives(cls, name, monkeypatch):
    fans = FanRecorder(monkeypatch)
    theirs = build(cls, getattr(keras.initializers, name)(seed=3))
    ours = build(cls, getattr(hk, name)(seed=3))
    assert fans.heinit == fans.keras and fans.keras, (fans.heinit, fans.keras)
    assert list(ours) == list(theirs)
    bound = max(limit(getattr(hk, name)(), *call[1:]) for call in fans.keras)
    compared = 0
    for path, values in ours.items():
        expected = theirs[path]
        assert values.shape == expected.shape, path
        # What the layer sets itself (an LSTM's forget-gate bias of ones) is equal on both
        # sides, element for element; random values never coincide.
        drawn = values != expected
        assert drawn.mean() > 0.5, path
        values, expected = values[drawn], expected[drawn]
        assert np.abs(values).max() <= bound * (1 + 1e-6), path
        if values.size >= 1000:
            p = stats.ks_2samp(values, expected).pvalue
            assert p > 1e-4, f"{path}: KS p = {p:.2e}"
            compared += 1
    assert compared >= 1, "no weight large enough for a KS test: enlarge the recipe"
