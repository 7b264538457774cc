"""Fans, gains and the exact std / bound / limit each initializer uses, against values
recorded from real torch, keras and jax by scripts/generate_golden.py."""

import json
import math

import numpy as np
import pytest

import heinit_rs as h


def test_torch_fans(golden):
    for shape, expected in golden["torch"]["fans"].items():
        shape = json.loads(shape)
        if isinstance(expected, dict):
            with pytest.raises(ValueError, match="^" + expected["error"] + "$"):
                h.calculate_fan_in_and_fan_out(shape, "torch")
        else:
            assert h.calculate_fan_in_and_fan_out(shape, "torch") == tuple(expected)


def test_keras_fans(golden):
    for shape, expected in golden["keras"]["fans"].items():
        fans = h.calculate_fan_in_and_fan_out(json.loads(shape), "keras")
        assert fans == tuple(expected) and all(type(f) is int for f in fans)


def test_jax_fans_with_axes(golden):
    for shape, in_axis, out_axis, batch_axis, expected in golden["jax"]["fans"]:
        fans = h.calculate_fan_in_and_fan_out(
            shape, "jax", in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis
        )
        assert fans == tuple(int(f) for f in expected)


def test_jax_layout_rejects_rank_below_two_unless_axes_given(golden):
    with pytest.raises(ValueError) as info:
        h.calculate_fan_in_and_fan_out((5,), "jax")
    assert str(info.value) == golden["jax"]["rank_error"]
    assert h.calculate_fan_in_and_fan_out((5,), "jax", in_axis=0, out_axis=()) == (5, 1)


def test_torch_gains_and_errors(golden):
    for name, param, expected in golden["torch"]["gains"]:
        got = h.calculate_gain(name, param)
        assert got == expected and type(got) is type(expected), (name, param)
    for name, param, message in golden["torch"]["gain_errors"]:
        with pytest.raises(ValueError) as info:
            h.calculate_gain(name, param)
        assert str(info.value).startswith(message)


def _normal_std(calls):
    distribution, params, *_ = calls[-1]
    assert distribution == "normal" and params[0] == 0.0
    return params[1]


def _uniform_bound(calls):
    distribution, (low, high), *_ = calls[-1]
    assert distribution == "uniform" and low == -high
    return high


def test_kaiming_and_xavier_match_torch_exactly(golden, captured_fills):
    for case in golden["torch"]["kaiming"]:
        arr = np.empty(case["shape"], np.float32)
        kwargs = dict(a=case["a"], mode=case["mode"], nonlinearity=case["nonlinearity"], seed=0)
        h.kaiming_normal_(arr, **kwargs)
        assert _normal_std(captured_fills) == case["normal"][1][1]
        h.kaiming_uniform_(arr, **kwargs)
        assert _uniform_bound(captured_fills) == case["uniform"][1][1]
        h.kaiming_normal(case["shape"], **kwargs)
        assert _normal_std(captured_fills) == case["normal"][1][1]
        h.kaiming_uniform(case["shape"], **kwargs)
        assert _uniform_bound(captured_fills) == case["uniform"][1][1]
    for case in golden["torch"]["xavier"]:
        arr = np.empty(case["shape"], np.float64)
        h.xavier_normal_(arr, gain=case["gain"], seed=0)
        assert _normal_std(captured_fills) == case["normal"][1][1]
        h.xavier_uniform_(arr, gain=case["gain"], seed=0)
        assert _uniform_bound(captured_fills) == case["uniform"][1][1]


def test_torch_mode_error_and_zero_element_warning(golden):
    with pytest.raises(ValueError) as info:
        h.kaiming_normal_(np.empty((3, 4), np.float32), mode="fan_sideways")
    assert str(info.value) == golden["torch"]["mode_error"]
    empty = np.empty((0, 3), np.float32)
    for fn in (h.kaiming_normal_, h.kaiming_uniform_, h.xavier_normal_, h.xavier_uniform_,
               h.normal_, h.uniform_, h.trunc_normal_):
        with pytest.warns(UserWarning) as record:
            assert fn(empty) is empty
        assert str(record[0].message) == golden["torch"]["zero_element_warning"]


def test_variance_scaling_matches_keras_exactly(golden, captured_fills):
    keras_to_ours = {"truncated_normal": "truncated_normal", "untruncated_normal": "normal",
                     "uniform": "uniform"}
    for case in golden["keras"]["variance_scaling"]:
        h.variance_scaling(case["shape"], case["scale"], case["mode"],
                           keras_to_ours[case["distribution"]], seed=0)
        distribution, params, *_ = captured_fills[-1]
        recorded = case["call"][1]
        if case["distribution"] == "truncated_normal":
            assert distribution == "trunc_normal"
            mean, std, low, high = params
            assert std == recorded["stddev"] and (low, high) == (-2 * std, 2 * std)
        elif case["distribution"] == "untruncated_normal":
            assert params == [0.0, recorded["stddev"]]
        else:
            assert params == [recorded["minval"], recorded["maxval"]]


def test_variance_scaling_matches_jax(golden, captured_fills):
    for case in golden["jax"]["variance_scaling"]:
        h.variance_scaling(case["shape"], case["scale"], case["mode"], case["distribution"],
                           layout="jax", dtype=np.float64, seed=0)
        distribution, params, *_ = captured_fills[-1]
        # case["value"] is JAX's stddev for the normals and its limit for the uniform: both are
        # the second parameter (std of the normal and truncated normal, high of the uniform).
        assert distribution == {"truncated_normal": "trunc_normal", "normal": "normal",
                                "uniform": "uniform"}[case["distribution"]]
        # JAX computes in its dtype (float64 here) with jnp ops: equal to the last ulp or two.
        assert params[1] == pytest.approx(case["value"], rel=4e-16)


def test_keras_presets(golden):
    """Each preset draws exactly what Keras' own preset configures (scale, mode, distribution)."""
    ours = {"truncated_normal": "truncated_normal", "untruncated_normal": "normal",
            "uniform": "uniform"}
    for name, spec in golden["keras"]["presets"].items():
        for shape in [(5, 3), (3, 3, 16, 8), (7,)]:
            for dtype in (np.float32, np.float64):
                preset = getattr(h, name)(shape, dtype=dtype, seed=11)
                direct = h.variance_scaling(shape, spec["scale"], spec["mode"],
                                            ours[spec["distribution"]], dtype=dtype, seed=11)
                assert preset.dtype == dtype and np.array_equal(preset, direct), (name, shape)


def test_keras_maps_normal_to_truncated_but_we_do_not(golden, captured_fills):
    assert golden["keras"]["normal_distribution"]["stored_as"] == "truncated_normal"
    h.variance_scaling((4, 4), distribution="normal", seed=0)
    assert captured_fills[-1][0] == "normal"
    h.variance_scaling((4, 4), distribution="untruncated_normal", seed=0)
    assert captured_fills[-1][0] == "normal"


def test_truncated_normal_constant_is_the_std_of_the_truncated_standard_normal(golden):
    stats = pytest.importorskip("scipy.stats")
    assert golden["truncated_normal_std_constant"] == pytest.approx(
        stats.truncnorm(-2, 2).std(), rel=1e-15)


def test_fan_modes_clamp_to_one(captured_fills):
    # keras layout: fan_in of (0, 5) is 0, clamped to 1, so std = sqrt(1 / 1).
    assert h.variance_scaling((0, 5), mode="fan_in", distribution="normal", seed=0).shape == (0, 5)
    assert captured_fills[-1][1] == [0.0, 1.0]
    h.variance_scaling((), scale=2.0, mode="fan_geo_avg", distribution="normal", seed=0)
    assert captured_fills[-1][1] == [0.0, math.sqrt(2.0)]


def test_fans_from_shards_use_the_global_shape(captured_fills):
    h.kaiming_normal((4096, 1024), nonlinearity="relu", seed=0, index=np.s_[:16])
    assert captured_fills[-1][1][1] == math.sqrt(2.0) / math.sqrt(1024)
    arr = np.empty((16, 1024), np.float32)
    h.kaiming_normal_(arr, mode="fan_out", seed=0, global_shape=(4096, 1024), index=np.s_[16:32])
    # a=0 is passed to calculate_gain as the slope, so the default gain is sqrt(2), as in torch.
    assert captured_fills[-1][1][1] == math.sqrt(2.0) / math.sqrt(4096)
