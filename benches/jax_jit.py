"""heinit_rs.jax eagerly and under jax.jit, against the NumPy API and jax.nn.initializers.

    python benches/jax_jit.py [--size 4096] [--repeat 7] [--peak-gib 2] [--json]

1. ns per element of a (size, size) float32 He normal, best of `--repeat`, the
   implementations taking turns round after round (each timing after an untimed call of the
   same implementation), in one process:
   - "numpy API": heinit_rs.he_normal(shape, layout="jax", seed=...), a new array;
   - "heinit_rs.jax eager": an eager call (the host array handed to JAX without a copy);
   - "heinit_rs.jax jit": under jit, the XLA FFI target writing into XLA's output buffer;
   - "pure_callback jit": the same values through ``jax.pure_callback`` (the path non-CPU
     backends take, and every backend took before the FFI target): XLA copies the result;
   - "jax.nn jit": jax.nn.initializers.he_normal under jit (threefry).
2. Peak memory of a jitted `--peak-gib` GiB float32 init, each in a fresh process: peak RSS
   during the call above the RSS before it, in arrays' worth.

Needs jax. Figures go to docs/frameworks.md; the CPU and SIMD path are printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from _measure import best_ns_per_element

PEAK = """
import sys, jax
import heinit_rs.jax as hj
sys.path.insert(0, {here!r})
from _measure import status_bytes
from jax_jit import through_pure_callback
n, which = {n}, {which!r}
init = {{"heinit_rs.jax jit": hj.he_normal(in_axis=0, out_axis=0),
        "pure_callback jit": through_pure_callback((n,), fans=(n, n)),
        "jax.nn jit": jax.nn.initializers.he_normal(in_axis=0, out_axis=0)}}[which]
key = jax.random.key(1)
compiled = jax.jit(lambda k: init(k, (n,))).lower(key).compile()
before = status_bytes("VmRSS")
compiled(key).block_until_ready()
print((status_bytes("VmHWM") - before) / (n * 4))
"""


def through_pure_callback(shape: tuple[int, ...], fans: tuple[float, float]) -> object:
    """He normal (JAX's fans) through jax.pure_callback, as heinit_rs.jax lowers it where its
    FFI target cannot serve."""
    import jax

    import heinit_rs
    from heinit_rs.jax import key_to_seed

    like = jax.ShapeDtypeStruct(shape, np.float32)

    def host(words: np.ndarray) -> np.ndarray:
        return heinit_rs._initializers.variance_scaling_of_fans(
            shape, fans, 2.0, "fan_in", "untruncated_normal", at_least_one=False,
            seed=key_to_seed(words))

    def init(key: object, shape: tuple[int, ...]) -> object:
        return jax.pure_callback(host, like, jax.random.key_data(key))

    return init


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--peak-gib", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import jax

    import heinit_rs
    import heinit_rs.jax as hj
    from heinit_rs import _core
    from heinit_rs._cli import cpu_model

    shape, key = (args.size, args.size), jax.random.key(7)
    ours, theirs = hj.he_normal(), jax.nn.initializers.he_normal()
    callback = through_pure_callback(shape, (args.size, args.size))
    runs = {
        "numpy API": lambda: heinit_rs.he_normal(shape, layout="jax", seed=7),
        "heinit_rs.jax eager": lambda: ours(key, shape),
        "heinit_rs.jax jit": jax.jit(lambda k: ours(k, shape)).lower(key).compile(),
        "pure_callback jit": jax.jit(lambda k: callback(k, shape)).lower(key).compile(),
        "jax.nn jit": jax.jit(lambda k: theirs(k, shape)).lower(key).compile(),
    }
    calls = {name: (fn if name in ("numpy API", "heinit_rs.jax eager")
                     else (lambda fn=fn: fn(key))) for name, fn in runs.items()}
    timing = best_ns_per_element(calls, args.size * args.size, args.repeat)

    n = int(args.peak_gib * 2**30) // 4
    here = os.path.dirname(os.path.abspath(__file__))
    peaks = {}
    for which in ("heinit_rs.jax jit", "pure_callback jit", "jax.nn jit"):
        child = subprocess.run([sys.executable, "-c", PEAK.format(here=here, n=n, which=which)],
                               capture_output=True, text=True, env={**os.environ,
                                                                    "JAX_PLATFORMS": "cpu"})
        peaks[which] = float(child.stdout.split()[-1]) if child.returncode == 0 else None

    report = {"cpu_model": cpu_model(), "simd_path": _core.get_simd_path(),
              "threads": heinit_rs.get_num_threads(), "jax": jax.__version__,
              "shape": shape, "ns_per_element": timing, "peak_gib": args.peak_gib,
              "peak_in_arrays": peaks}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    numpy_api = timing["numpy API"]
    print(f"{report['cpu_model']}, SIMD path {report['simd_path']}, "
          f"{report['threads']} heinit_rs threads, jax {jax.__version__}")
    print(f"{shape} float32 He normal, best of {args.repeat}; peak memory of a jitted "
          f"{args.peak_gib:g} GiB init above the RSS before the call")
    print(f"{'path':<22}{'ns/element':>12}{'x numpy API':>13}{'peak (arrays)':>15}")
    for name, ns in timing.items():
        peak = peaks.get(name)
        print(f"{name:<22}{ns:>12.2f}{ns / numpy_api:>13.2f}"
              f"{'' if peak is None else f'{peak:.2f}':>15}")


if __name__ == "__main__":
    main()
