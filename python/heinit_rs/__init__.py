"""heinit_rs: fast, reproducible He (Kaiming) and variance-scaling initialization on every
CPU core. A Rust core fills NumPy arrays in parallel from a counter-based Philox stream, so the
value at each index depends only on the seed and that index (docs/stream-spec.md)."""

import warnings as _warnings

from heinit_rs._core import STREAM_VERSION, __version__, get_num_threads, set_num_threads
from heinit_rs._core import environment_problems as _environment_problems
from heinit_rs._fans import calculate_fan_in_and_fan_out
from heinit_rs._gains import calculate_gain
from heinit_rs._initializers import (
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    kaiming_normal,
    kaiming_normal_,
    kaiming_uniform,
    kaiming_uniform_,
    lecun_normal,
    lecun_uniform,
    normal_,
    trunc_normal_,
    uniform_,
    variance_scaling,
    xavier_normal_,
    xavier_uniform_,
)
from heinit_rs._random import Generator, default_generator, manual_seed

# A bad HEINIT_RS_NUM_THREADS or HEINIT_RS_SIMD is ignored, with one warning at import that
# names it. stacklevel 2 is the code that imported heinit_rs: warnings skips importlib's frames.
for _problem, _fallback in _environment_problems():
    _warnings.warn(f"{_problem}; {_fallback}", RuntimeWarning, stacklevel=2)

__all__ = [
    "STREAM_VERSION",
    "Generator",
    "__version__",
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "default_generator",
    "get_num_threads",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_normal_",
    "kaiming_uniform",
    "kaiming_uniform_",
    "lecun_normal",
    "lecun_uniform",
    "manual_seed",
    "normal_",
    "set_num_threads",
    "trunc_normal_",
    "uniform_",
    "variance_scaling",
    "xavier_normal_",
    "xavier_uniform_",
]
