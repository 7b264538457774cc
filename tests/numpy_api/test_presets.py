"""One preset table (heinit_rs._presets) serves every front end: each exposes every row, under
its own naming, with exactly the row's variance_scaling arguments."""

import numpy as np
import pytest

import heinit_rs
from heinit_rs._presets import JAX_ALIASES, PRESETS

SHAPE = (3, 5, 16, 24)


@pytest.mark.parametrize("name", PRESETS)
def test_numpy_presets_are_their_rows(name):
    preset = PRESETS[name]
    function = getattr(heinit_rs, name)
    assert name in heinit_rs.__all__ and function.__name__ == name
    expected = heinit_rs.variance_scaling(SHAPE, preset.scale, preset.mode, preset.distribution,
                                          seed=11)
    np.testing.assert_array_equal(function(SHAPE, seed=11), expected)
    assert preset.summary in function.__doc__ and "{" not in function.__doc__.split("Parameters")[0]


@pytest.mark.parametrize("name", PRESETS)
def test_dask_presets_are_their_rows(name):
    hd = pytest.importorskip("heinit_rs.dask")
    function = getattr(hd, name)
    assert name in hd.__all__
    np.testing.assert_array_equal(function(SHAPE, chunks=(2, 5, 8, 24), seed=3).compute(),
                                  getattr(heinit_rs, name)(SHAPE, seed=3))


@pytest.mark.parametrize("name", [*PRESETS, *JAX_ALIASES])
def test_jax_presets_are_their_rows(name):
    hj = pytest.importorskip("heinit_rs.jax")
    jax = pytest.importorskip("jax")
    preset = PRESETS[JAX_ALIASES.get(name, name)]
    assert name in hj.__all__ and getattr(hj, name).__name__ == name
    key = jax.random.key(5)
    expected = hj.variance_scaling(preset.scale, preset.mode, preset.distribution)(key, SHAPE)
    np.testing.assert_array_equal(np.asarray(getattr(hj, name)()(key, SHAPE)),
                                  np.asarray(expected))


@pytest.mark.parametrize("name", PRESETS)
def test_keras_presets_are_their_rows(name):
    hk = pytest.importorskip("heinit_rs.keras")
    preset = PRESETS[name]
    cls = getattr(hk, preset.class_name)
    assert preset.class_name in hk.__all__ and cls.__name__ == preset.class_name
    initializer = cls(seed=9)
    assert (initializer.scale, initializer.mode, initializer.distribution) == (
        preset.scale, preset.mode, preset.distribution)
    assert preset.summary in cls.__doc__


@pytest.mark.parametrize("name", PRESETS)
def test_whose_preset_it_is_is_true_in_keras_and_jax(name):
    """`in_keras_and_jax` is what the docstrings of every front end claim: check it against the
    real libraries."""
    preset = PRESETS[name]
    jax = pytest.importorskip("jax")
    keras = pytest.importorskip("keras")
    assert preset.in_keras_and_jax == (hasattr(jax.nn.initializers, name)
                                        and hasattr(keras.initializers, preset.class_name))
    assert preset.origin in getattr(heinit_rs, name).__doc__
    assert preset.origin in getattr(pytest.importorskip("heinit_rs.jax"), name).__doc__
    assert preset.origin in getattr(pytest.importorskip("heinit_rs.keras"),
                                    preset.class_name).__doc__


def test_a_preset_of_heinit_rs_own_claims_no_framework(monkeypatch):
    """A new row (CONTRIBUTING.md's recipe) documents itself as heinit_rs' own until it is set
    as Keras' and JAX's."""
    from heinit_rs import _initializers, _presets

    row = _presets.Preset("he_normal_fan_out", 2.0, "fan_out", "normal",
                          "He normal by fan_out: N(0, std^2), std = sqrt(2 / fan_out)")
    monkeypatch.setitem(PRESETS, row.name, row)
    doc = _initializers._preset(row.name).__doc__
    assert doc.startswith(f"{row.summary} (heinit_rs' own preset: neither Keras nor JAX has one "
                          "of this name).")
    assert "jax.nn" not in doc and "Keras'" not in doc
