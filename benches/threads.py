"""Small and mid-sized fills: 1 thread against all of them, to show where splitting pays.

    python benches/threads.py [--threads N] [--repeat 200]

For side x side arrays (64 to 1024) of normal float32, uniform float32 and normal float64:
the best and the median of `--repeat` in-place fills (`_core.Normal(0, 1).fill`), in us, on 1
thread and on N (default: every CPU). heinit_rs times the first 4,096 elements of each fill on
the calling thread and splits the rest among the workers only where that work is worth more
than handing it over (src/fill.rs, SPLIT_ABOVE_NS), so the N-thread column should never be
much above the 1-thread one, and below it from the crossover on. Figures go to
docs/performance.md with the CPU named.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import heinit_rs
from heinit_rs import _core
from heinit_rs._cli import cpu_model


def timings(fill: object, repeat: int) -> tuple[float, float]:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        fill()  # type: ignore[operator]
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    return seconds[0] * 1e6, seconds[len(seconds) // 2] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    cases = [("normal f32", _core.Normal(0.0, 1.0), np.float32),
             ("uniform f32", _core.Uniform(-1.0, 1.0), np.float32),
             ("normal f64", _core.Normal(0.0, 1.0), np.float64)]
    print(f"{cpu_model()}, SIMD path {_core.get_simd_path()}; us per fill, best / median of "
          f"{args.repeat}, 1 thread against {args.threads}")
    print(f"{'side':>6}" + "".join(f"{name + ', 1':>22}{name + f', {args.threads}':>22}"
                                   for name, _, _ in cases))
    for side in (64, 128, 181, 256, 362, 512, 724, 1024):
        row = f"{side:>6}"
        for _, distribution, dtype in cases:
            out = np.empty((side, side), dtype)
            for threads in (1, args.threads):
                heinit_rs.set_num_threads(threads)
                best, median = timings(lambda: distribution.fill(out, 1, 0), args.repeat)
                row += f"{best:>11.1f} /{median:>8.1f}"
        print(row)


if __name__ == "__main__":
    main()
