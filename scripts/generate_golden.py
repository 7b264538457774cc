"""Regenerate tests/data/golden.json from the real frameworks.

Run with torch, keras and jax installed (any subset works; missing frameworks keep their old
entries):  python scripts/generate_golden.py

It records, for a grid of shapes and arguments, what each framework computes: fans, gains, and
the exact std / bound / limit its initializers pass to their random functions (captured by
intercepting those calls, so the numbers are the frameworks' own, not re-derived formulas).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "golden.json"
SHAPES = [[], [7], [5, 3], [3, 5], [64, 32, 3], [16, 8, 3, 3], [4, 6, 2, 3, 5], [1, 1], [2, 3, 1, 1]]
GAIN_CASES = [
    ["linear", None], ["conv1d", None], ["conv2d", None], ["conv3d", None],
    ["conv_transpose1d", None], ["conv_transpose2d", None], ["conv_transpose3d", None],
    ["sigmoid", None], ["tanh", None], ["relu", None], ["selu", None],
    ["leaky_relu", None], ["leaky_relu", 0.2], ["leaky_relu", 0], ["leaky_relu", 1], ["leaky_relu", 3.5],
]
GAIN_ERRORS = [["leaky_relu", True], ["leaky_relu", "0.1"], ["leaky_relu", [0.1]], ["softmax", None]]
KAIMING_CASES = [
    # shape, a, mode, nonlinearity
    [[64, 32], 0, "fan_in", "leaky_relu"], [[64, 32], 0, "fan_out", "relu"],
    [[16, 8, 3, 3], 0.2, "fan_in", "leaky_relu"], [[16, 8, 3, 3], 0, "fan_out", "tanh"],
    [[5, 3], 0, "fan_in", "selu"], [[10, 20, 5], 0, "fan_in", "linear"],
    [[4096, 4096], 0, "fan_in", "relu"],
]
XAVIER_CASES = [[[64, 32], 1.0], [[16, 8, 3, 3], 2.0], [[10, 20, 5], 0.5]]
VS_MODES_KERAS = ["fan_in", "fan_out", "fan_avg"]
VS_MODES_JAX = ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
VS_SHAPES = [[7], [5, 3], [64, 32, 3], [3, 3, 16, 8], [2, 3, 4, 5, 6]]
JAX_AXES = [
    [[5, 3], -2, -1, []], [[3, 3, 16, 8], -2, -1, []], [[16, 8, 3, 3], 1, 0, []],
    [[4, 6, 2, 3, 5], [1, 2], -1, [0]], [[4, 6, 2, 3, 5], -1, 0, [2]], [[8, 4, 5], 1, 2, 0],
]


def load() -> dict:
    return json.loads(OUT.read_text()) if OUT.exists() else {}


def torch_section() -> dict:
    import torch

    calls = []

    def recorder(name):
        original = getattr(torch.Tensor, name)

        def method(self, *args, **kwargs):
            calls.append([name, [float(a) for a in args]])
            return original(self, *args, **kwargs)

        return original, method

    def captured(fn, shape, *args, **kwargs):
        saved = {}
        for name in ("normal_", "uniform_"):
            saved[name], method = recorder(name)
            setattr(torch.Tensor, name, method)
        try:
            calls.clear()
            fn(torch.empty(shape), *args, **kwargs)
        finally:
            for name, original in saved.items():
                setattr(torch.Tensor, name, original)
        return calls[-1]

    init = torch.nn.init
    fans = {}
    for shape in SHAPES:
        try:
            fans[json.dumps(shape)] = list(init._calculate_fan_in_and_fan_out(torch.empty(shape)))
        except ValueError as e:
            fans[json.dumps(shape)] = {"error": str(e)}
    gains = [[name, param, init.calculate_gain(name, param)] for name, param in GAIN_CASES]
    gain_errors = []
    for name, param in GAIN_ERRORS:
        try:
            init.calculate_gain(name, param)
        except ValueError as e:
            gain_errors.append([name, param, str(e)])
    kaiming = []
    for shape, a, mode, nl in KAIMING_CASES:
        normal = captured(init.kaiming_normal_, shape, a=a, mode=mode, nonlinearity=nl)
        uniform = captured(init.kaiming_uniform_, shape, a=a, mode=mode, nonlinearity=nl)
        kaiming.append({"shape": shape, "a": a, "mode": mode, "nonlinearity": nl,
                        "normal": normal, "uniform": uniform})
    xavier = []
    for shape, gain in XAVIER_CASES:
        xavier.append({"shape": shape, "gain": gain,
                       "normal": captured(init.xavier_normal_, shape, gain=gain),
                       "uniform": captured(init.xavier_uniform_, shape, gain=gain)})
    try:
        init._calculate_correct_fan(torch.empty(3, 4), "fan_sideways")
    except ValueError as e:
        mode_error = str(e)
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        init.kaiming_normal_(torch.empty(0, 3))
    return {"version": torch.__version__, "fans": fans, "gains": gains, "gain_errors": gain_errors,
            "kaiming": kaiming, "xavier": xavier, "mode_error": mode_error,
            "zero_element_warning": str(caught[0].message)}


def keras_section() -> dict:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    from keras.src.backend import random as krandom
    from keras.src.initializers import random_initializers as ri

    calls = []
    originals = {n: getattr(krandom, n) for n in ("truncated_normal", "normal", "uniform")}

    def recorder(name):
        def fn(*args, **kwargs):
            calls.append([name, {k: float(v) for k, v in kwargs.items() if isinstance(v, (int, float))}])
            return originals[name](*args, **kwargs)
        return fn

    for n in originals:
        setattr(krandom, n, recorder(n))
    try:
        fans = {json.dumps(s): list(ri.compute_fans(s)) for s in SHAPES}
        vs = []
        for shape in VS_SHAPES:
            for mode in VS_MODES_KERAS:
                for dist in ["truncated_normal", "untruncated_normal", "uniform"]:
                    for scale in [1.0, 2.0, 0.5]:
                        calls.clear()
                        keras.initializers.VarianceScaling(scale, mode, dist, seed=0)(shape)
                        vs.append({"shape": shape, "mode": mode, "distribution": dist,
                                   "scale": scale, "call": calls[-1]})
        presets = {}
        for name in ["he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "lecun_uniform"]:
            init = keras.initializers.get(name)
            presets[name] = {"scale": init.scale, "mode": init.mode, "distribution": init.distribution}
        try:
            keras.initializers.VarianceScaling(distribution="normal")
            normal_maps_to = "accepted"
        except ValueError as e:
            normal_maps_to = str(e)
        normal_init = keras.initializers.VarianceScaling(distribution="normal")
    finally:
        for n, f in originals.items():
            setattr(krandom, n, f)
    return {"version": keras.__version__, "fans": fans, "variance_scaling": vs, "presets": presets,
            "normal_distribution": {"accepted": normal_maps_to, "stored_as": normal_init.distribution}}


def jax_section() -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax._src import core
    from jax._src import random as jrandom
    from jax._src.nn import initializers as ji

    # Where each function takes its shape: truncated_normal(key, lower, upper, shape, ...),
    # normal(key, shape, ...), uniform(key, shape, ...).
    shape_position = {"truncated_normal": 3, "normal": 1, "uniform": 1}

    def ones_for(name):
        def ones(*args, **kwargs):
            shape = kwargs.get("shape", args[shape_position[name]])
            return jnp.ones(shape, dtype=jnp.float64)

        return ones

    patched = {n: getattr(jrandom, n) for n in ("truncated_normal", "normal", "uniform")}
    fans, vs = [], []
    try:
        for n in patched:
            setattr(jrandom, n, ones_for(n))
        for shape, in_axis, out_axis, batch_axis in JAX_AXES:
            fan_in, fan_out = ji._compute_fans(core.canonicalize_shape(shape), in_axis, out_axis, batch_axis)
            fans.append([shape, in_axis, out_axis, batch_axis, [float(fan_in), float(fan_out)]])
        for shape in VS_SHAPES[1:]:
            for mode in VS_MODES_JAX:
                for dist in ["truncated_normal", "normal", "uniform"]:
                    init = ji.variance_scaling(2.0, mode, dist, dtype=jnp.float64)
                    value = float(init(jax.random.key(0), shape, jnp.float64).ravel()[0])
                    vs.append({"shape": shape, "mode": mode, "distribution": dist, "scale": 2.0, "value": value})
        try:
            ji._compute_fans(core.canonicalize_shape((5,)))
            rank_error = None
        except ValueError as e:
            rank_error = str(e)
    finally:
        for n, f in patched.items():
            setattr(jrandom, n, f)
    return {"version": jax.__version__, "fans": fans, "variance_scaling": vs, "rank_error": rank_error}


def main() -> int:
    golden = load()
    for name, section in [("torch", torch_section), ("keras", keras_section), ("jax", jax_section)]:
        try:
            golden[name] = section()
            print(f"{name}: recorded")
        except ImportError as e:
            print(f"{name}: not installed ({e}); keeping the old entries", file=sys.stderr)
    golden["truncated_normal_std_constant"] = 0.87962566103423978
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
