"""Measurements shared by the benches in this folder: timings (implementations taking turns,
round after round, so that a shared machine slowing down for a while slows each alike) and the
process's memory."""

from __future__ import annotations

import time
from collections.abc import Callable


def status_bytes(field: str) -> int:
    """A size from /proc/self/status in bytes: "VmHWM" (this process's peak resident memory) or
    "VmRSS" (now). Not ru_maxrss: Linux starts a child's at its forking parent's resident size."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status
                    if line.startswith(field + ":"))


def timed(fn: Callable[[], object]) -> float:
    """Seconds of one call, waiting for a JAX result to be ready where there is one."""
    start = time.perf_counter()
    out = fn()
    if hasattr(out, "block_until_ready"):
        out.block_until_ready()
    return time.perf_counter() - start


def best_ns_per_element(runs: dict[str, Callable[[], object]], elements: int,
                        repeat: int) -> dict[str, float]:
    """The best of `repeat` rounds of each run, in ns per element. Each timing follows an
    untimed call of the same run, as `heinit-rs bench` warms each up: the first call after
    another run's (jax.nn's 4 arrays' worth of memory freed, say) pays for what it left."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, fn in runs.items():
            timed(fn)
            best[name] = min(best[name], timed(fn))
    return {name: seconds / elements * 1e9 for name, seconds in best.items()}
