"""heinit_rs.keras: Keras 3 initializers with Keras' arguments, seeds and fans, serializable
with a saved model. Skipped where keras (and a backend for it) is not installed."""

import math
import os

import numpy as np
import pytest

# Keras 3 defaults to TensorFlow; use JAX where no backend was chosen.
os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras", reason="heinit_rs.keras needs keras and a backend")
import heinit_rs  # noqa: E402
import heinit_rs.keras as hk  # noqa: E402

# Keras' own JAX backend converts its variables with np.array(x), which NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

PRESETS = [("HeNormal", "he_normal"), ("HeUniform", "he_uniform"),
           ("GlorotNormal", "glorot_normal"), ("GlorotUniform", "glorot_uniform"),
           ("LecunNormal", "lecun_normal"), ("LecunUniform", "lecun_uniform")]


def values_of(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


@pytest.mark.parametrize("cls, function", PRESETS)
def test_an_int_seed_gives_the_numpy_api_values_on_every_call(cls, function):
    initializer = getattr(hk, cls)(seed=42)
    assert isinstance(initializer, keras.initializers.Initializer)
    first, second = values_of(initializer((3, 3, 8, 16))), values_of(initializer((3, 3, 8, 16)))
    np.testing.assert_array_equal(first, getattr(heinit_rs, function)((3, 3, 8, 16), seed=42))
    np.testing.assert_array_equal(first, second)


def test_a_seed_generator_gives_new_values_each_call():
    initializer = hk.HeUniform(seed=keras.random.SeedGenerator(5))
    first, second = values_of(initializer((8, 8))), values_of(initializer((8, 8)))
    generator = heinit_rs.Generator(5)
    np.testing.assert_array_equal(first, heinit_rs.he_uniform((8, 8), seed=generator))
    np.testing.assert_array_equal(second, heinit_rs.he_uniform((8, 8), seed=generator))


def test_no_seed_follows_keras_set_random_seed():
    keras.utils.set_random_seed(3)
    first = values_of(hk.GlorotNormal()((10, 10)))
    keras.utils.set_random_seed(3)
    initializer = hk.GlorotNormal()
    np.testing.assert_array_equal(values_of(initializer((10, 10))), first)
    np.testing.assert_array_equal(values_of(initializer((10, 10))), first)  # Keras: same again


@pytest.mark.parametrize("shape, axes", [((), {}), ((7,), {}), ((5, 9), {}),
                                         ((3, 3, 4, 6), {}),
                                         ((4, 5, 6), {"input_axes": [0],
                                                      "output_axes": [2]}),
                                         ((4, 5, 6), {"input_axes": [0, 1],
                                                      "output_axes": [-1]})])
def test_fans_are_keras_own(shape, axes):
    """The uniform's bound is sqrt(3 scale / fan_in) with Keras' own compute_fans."""
    from keras.src.initializers.random_initializers import compute_fans
    fan_in, _ = compute_fans(shape, **axes)
    values = values_of(hk.VarianceScaling(2.0, "fan_in", "uniform", seed=1, **axes)(shape))
    limit = math.sqrt(6.0 / max(1, fan_in))
    assert values.shape == shape
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.5 * limit


def test_normal_means_truncated_as_in_keras():
    truncated = values_of(hk.VarianceScaling(1.0, distribution="normal", seed=0)((500, 500)))
    assert np.abs(truncated).max() <= 2 * math.sqrt(1 / 500) / 0.87962566103423978
    assert truncated.std() == pytest.approx(math.sqrt(1 / 500), rel=0.01)
    untruncated = values_of(hk.VarianceScaling(1.0, distribution="untruncated_normal",
                                               seed=0)((500, 500)))
    assert untruncated.std() == pytest.approx(math.sqrt(1 / 500), rel=0.01)


def test_dtypes():
    for dtype in ("bfloat16", "float16", "float32"):
        values = hk.HeNormal(seed=1)((16, 16), dtype=dtype)
        assert keras.backend.standardize_dtype(values.dtype) == dtype


@pytest.mark.parametrize("cls", [name for name, _ in PRESETS] + ["VarianceScaling"])
def test_config_round_trips(cls):
    initializer = getattr(hk, cls)(seed=9)
    twin = getattr(hk, cls).from_config(initializer.get_config())
    np.testing.assert_array_equal(values_of(twin((4, 6))), values_of(initializer((4, 6))))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(
        initializer))
    assert type(restored) is getattr(hk, cls)


def test_a_model_saves_and_loads(tmp_path):
    model = keras.Sequential([
        keras.Input((6, 6, 3)),
        keras.layers.Conv2D(4, 3, kernel_initializer=hk.HeNormal(seed=1)),
        keras.layers.Flatten(),
        keras.layers.Dense(5, kernel_initializer=hk.VarianceScaling(2.0, "fan_avg", "uniform",
                                                                    seed=2)),
    ])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[0].kernel_initializer) is hk.HeNormal
    assert loaded.layers[2].kernel_initializer.get_config() == \
        model.layers[2].kernel_initializer.get_config()
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(values_of(a), values_of(b))
    np.testing.assert_array_equal(values_of(model.layers[0].kernel),
                                  heinit_rs.he_normal((3, 3, 3, 4), seed=1))


@pytest.mark.parametrize("arguments", [
    {"mode": "fan_geo_avg"}, {"distribution": "cauchy"}, {"scale": 0.0}, {"scale": -1.0},
    {"seed": "7"}, {"seed": 1.5},
])
def test_what_keras_rejects_is_rejected_with_keras_own_error(arguments):
    """Keras checks the arguments of heinit_rs' initializers, as those of its own."""
    with pytest.raises(Exception) as theirs:
        keras.initializers.VarianceScaling(**arguments)
    with pytest.raises(type(theirs.value)) as ours:
        hk.VarianceScaling(**arguments)
    assert str(ours.value) == str(theirs.value)


def test_what_keras_accepts_is_accepted_and_what_heinit_rs_adds():
    # Keras takes a bool seed as the int it is.
    np.testing.assert_array_equal(values_of(hk.HeNormal(seed=True)((30, 20))),
                                  values_of(hk.HeNormal(seed=1)((30, 20))))
    # heinit_rs' own limits, each a documented difference: a finite scale (a NaN scale would
    # fill NaN), and 64-bit keys.
    keras.initializers.VarianceScaling(scale=math.nan, seed=0)
    with pytest.raises(ValueError, match="scale must be finite, got nan"):
        hk.VarianceScaling(scale=math.nan)
    keras.initializers.HeNormal(seed=-1)
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*64\)"):
        hk.HeNormal(seed=-1)


@pytest.mark.parametrize("shape, axes", [
    ((5, 7), {"input_axes": [0], "output_axes": [0]}),      # overlapping, as Keras lets them
    ((4, 5, 6), {"input_axes": [0, 0], "output_axes": [-1]}),  # repeated
    ((6,), {"input_axes": [0], "output_axes": [-1]}),
    ((4, 5, 6), {"input_axes": [1]}),  # one list alone: Keras ignores it
])
def test_axis_lists_give_keras_fans_exactly(shape, axes):
    from keras.src.initializers.random_initializers import compute_fans
    assert hk.keras_fans(shape, axes.get("input_axes"), axes.get("output_axes")) == \
        compute_fans(shape, **axes)
    fan_in, _ = compute_fans(shape, **axes)
    values = values_of(hk.VarianceScaling(2.0, "fan_in", "uniform", seed=1, **axes)(shape))
    expected = heinit_rs.uniform_(np.empty(shape, np.float32), -math.sqrt(6.0 / fan_in),
                                  math.sqrt(6.0 / fan_in), seed=1)
    np.testing.assert_array_equal(values, expected)


@pytest.mark.parametrize("shape, axes", [((), {"input_axes": [0], "output_axes": [1]}),
                                         ((4, 4), {"input_axes": [0], "output_axes": [2]}),
                                         ((4, 4), {"input_axes": [-3], "output_axes": [1]})])
def test_an_axis_outside_the_shape_raises_index_error_as_in_keras(shape, axes):
    with pytest.raises(IndexError):
        keras.initializers.VarianceScaling(seed=0, **axes)(shape)
    with pytest.raises(IndexError, match=r"(input|output)_axes=.*outside"):
        hk.VarianceScaling(seed=0, **axes)(shape)


@pytest.mark.parametrize("shape", [(3.5, 3), ("4", 3), (-0.5, 2), (True, 3)])
def test_a_shape_entry_that_is_not_an_int_is_refused(shape):
    with pytest.raises(TypeError, match=r"shape\[0\] must be an int"):
        hk.HeNormal(seed=0)(shape)
    assert values_of(hk.HeNormal(seed=0)((np.int64(4), 3))).shape == (4, 3)
