"""heinit_rs against Intel MKL's Vector Statistics Library (VSL), one thread, in place.

    pip install '.[mkl]'       # MKL's runtime, libmkl_rt, called here through ctypes
    python benches/mkl.py [--size 4096] [--repeat 7] [--json]

For each of normal float32/float64 and uniform float32/float64, ns per element of filling an
existing (size * size) array, best of `--repeat`, the implementations taking turns round after
round in one process (each timing after an untimed call of the same one):
- heinit_rs: the Rust core's fill (`_core.Normal(0, 1)` / `_core.Uniform(0, 1)`), 1 thread;
- MKL with heinit_rs' generator, Philox4x32-10 (`VSL_BRNG_PHILOX4X32X10`): the normal by the
  inverse CDF (`VSL_RNG_METHOD_GAUSSIAN_ICDF`, as heinit_rs makes it), the uniform standard;
- MKL's fastest generator and method for that row among MT19937, SFMT19937, MCG59, ARS5 and
  Philox, with ICDF and Box-Muller (BOXMULLER2) for the normal. Only Philox and ARS5 are
  counter-based; the others cannot make a shard without making what comes before it.

`MKL_NUM_THREADS=1` and `heinit_rs.set_num_threads(1)`; VSL fills one stream on the calling
thread. Set HEINIT_RS_SIMD=avx2 to measure heinit_rs' AVX2 path on an AVX-512 CPU. MKL picks
its own code path from the CPU's vendor and features: on AMD CPUs it does not take the paths it
takes on Intel's, so its figures there are not its best. Skipped, with a message, where
libmkl_rt cannot be loaded. Figures go to docs/performance.md with the CPU named.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import glob
import json
import os
import sys
from collections.abc import Callable

import numpy as np
from _measure import best_ns_per_element

# VSL's basic generators (mkl_vsl_defines.h: VSL_BRNG_INC = 1 << 20) and methods.
GENERATORS = {"MCG59": 4 << 20, "MT19937": 8 << 20, "SFMT19937": 13 << 20, "ARS5": 15 << 20,
              "Philox4x32-10": 16 << 20}
NORMAL_METHODS = {"ICDF": 2, "BOXMULLER2": 1}
UNIFORM_STD = 0
SEED = 42


def load_mkl() -> ctypes.CDLL | None:
    """libmkl_rt from the `mkl` wheel (in this environment's lib/) or the system's."""
    candidates = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    found = ctypes.util.find_library("mkl_rt")
    for path in candidates + ([found] if found else []):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


class Vsl:
    """The few VSL calls used, typed: streams and the four fills."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.MKL_Set_Num_Threads(1)
        lib.vslNewStream.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                     ctypes.c_uint]
        lib.vslDeleteStream.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        for name, real in (("vsRngGaussian", ctypes.c_float), ("vdRngGaussian", ctypes.c_double),
                           ("vsRngUniform", ctypes.c_float), ("vdRngUniform", ctypes.c_double)):
            getattr(lib, name).argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                           ctypes.c_void_p, real, real]
        self.streams: dict[str, ctypes.c_void_p] = {}
        for generator, brng in GENERATORS.items():
            stream = ctypes.c_void_p()
            status = lib.vslNewStream(ctypes.byref(stream), brng, SEED)
            if status != 0:
                raise RuntimeError(f"vslNewStream({generator}) returned {status}")
            self.streams[generator] = stream

    def fill(self, kind: str, generator: str, method: int, out: np.ndarray) -> Callable[[], None]:
        """A call that fills `out` (normal (0, 1) or uniform [0, 1)) from `generator`."""
        prefix = "vs" if out.dtype == np.float32 else "vd"
        function = getattr(self.lib, prefix + ("RngGaussian" if kind == "normal" else "RngUniform"))
        stream, address, n = self.streams[generator], out.ctypes.data, out.size
        b = 1.0

        def call() -> None:
            status = function(method, stream, n, address, 0.0, b)
            if status != 0:
                raise RuntimeError(f"{function.__name__} returned {status}")

        return call

    def close(self) -> None:
        for stream in self.streams.values():
            self.lib.vslDeleteStream(ctypes.byref(stream))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    lib = load_mkl()
    if lib is None:
        print("skipped: libmkl_rt was not found (pip install '.[mkl]' in the checkout); "
              "nothing was measured")
        return
    import heinit_rs
    from heinit_rs import _core
    from heinit_rs._cli import cpu_model

    heinit_rs.set_num_threads(1)
    vsl = Vsl(lib)
    n = args.size * args.size
    rows = {}
    for kind in ("normal", "uniform"):
        for dtype in (np.float32, np.float64):
            out = np.empty(n, dtype)
            ours = _core.Normal(0.0, 1.0) if kind == "normal" else _core.Uniform(0.0, 1.0)
            runs: dict[str, Callable[[], object]] = {
                "heinit_rs": lambda ours=ours, out=out: ours.fill(out, SEED, 0)}
            methods = NORMAL_METHODS if kind == "normal" else {"STD": UNIFORM_STD}
            for generator in GENERATORS:
                for method_name, method in methods.items():
                    runs[f"{generator} {method_name}"] = vsl.fill(kind, generator, method, out)
            times = best_ns_per_element(runs, n, args.repeat)
            peer = f"Philox4x32-10 {'ICDF' if kind == 'normal' else 'STD'}"
            fastest = min((name for name in times if name != "heinit_rs"), key=times.__getitem__)
            rows[f"{kind} {np.dtype(dtype).name}"] = {
                "heinit_rs": times["heinit_rs"], "mkl_philox": times[peer],
                "mkl_fastest": times[fastest], "mkl_fastest_name": fastest, "all": times}
    vsl.close()
    report = {"cpu_model": cpu_model(), "simd_path": _core.get_simd_path(), "threads": 1,
              "elements": n, "rows": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['cpu_model']}, heinit_rs SIMD path {report['simd_path']}, 1 thread, "
          f"{n} elements in place, best of {args.repeat} (ns per element)")
    print(f"{'':<16}{'heinit_rs':>10}{'MKL Philox':>12}{'MKL fastest':>13}  fastest is")
    for name, row in rows.items():
        print(f"{name:<16}{row['heinit_rs']:>10.3f}{row['mkl_philox']:>12.3f}"
              f"{row['mkl_fastest']:>13.3f}  {row['mkl_fastest_name']}")


if __name__ == "__main__":
    main()
