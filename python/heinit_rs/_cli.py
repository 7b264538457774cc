"""The heinit-rs command line. `heinit-rs bench` compares heinit_rs with NumPy, torch (when
installed) and a plain memory fill, in one process, as ratios. `heinit-rs demo` shows signal
propagation through a deep network under several initializations; `--train` trains one."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

import heinit_rs as h
from heinit_rs import _core
from heinit_rs._checks import check_dtype, is_bfloat16


@dataclass
class Workload:
    name: str
    description: str
    elements: int
    # implementation name -> zero-argument callable; "heinit_rs" first.
    runs: dict[str, Callable[[], object]] = field(default_factory=dict)
    # Implementations that make a different number of elements (the small-call reference).
    elements_of: dict[str, int] = field(default_factory=dict)
    # Whether every call allocates its output (see `back_free_memory`).
    allocates: bool = False
    # Bytes per element where they differ from the bench's dtype (a bfloat16 tensor).
    itemsize: int | None = None


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def workloads(size: int, dtype: np.dtype, threads: int) -> list[Workload]:
    shape = (size, size)
    n = size * size
    rng = np.random.default_rng(0)
    arr = np.empty(shape, dtype)
    std = math.sqrt(2.0 / size)
    bound = math.sqrt(3.0) * std
    keras_std = std / 0.87962566103423978
    torch = _torch()
    tensor = None
    # NumPy draws no 16-bit values: a careful user draws float32, scales and rounds into place.
    drawn = dtype if dtype.itemsize >= 4 else np.dtype(np.float32)
    if torch is not None:
        torch.set_num_threads(threads)
        # torch reads no ml_dtypes arrays: its bfloat16 tensor is its own.
        tensor = (torch.empty(shape, dtype=torch.bfloat16) if is_bfloat16(dtype)
                  else torch.from_numpy(arr))

    def numpy_normal(out: np.ndarray = arr) -> np.ndarray:
        if drawn is dtype:
            rng.standard_normal(out=out, dtype=dtype)
            return np.multiply(out, dtype.type(std), out=out)  # type: ignore[no-any-return]
        values = rng.standard_normal(out.shape, dtype=drawn)
        out[...] = np.multiply(values, drawn.type(std), out=values)
        return out

    def numpy_uniform(out: np.ndarray = arr) -> np.ndarray:
        values = out if drawn is dtype else np.empty(out.shape, drawn)
        rng.random(out=values, dtype=drawn)
        np.multiply(values, drawn.type(2 * bound), out=values)
        np.subtract(values, drawn.type(bound), out=values)
        if values is not out:
            out[...] = values
        return out

    # NumPy's allocating calls scale the new array in place, as a careful NumPy user would.
    result = [
        Workload("he_normal_", "kaiming_normal_(relu) in place", n, {
            "heinit_rs": lambda: h.kaiming_normal_(arr, nonlinearity="relu", seed=1),
            "numpy": numpy_normal,
        }),
        Workload("he_uniform_", "kaiming_uniform_(relu) in place", n, {
            "heinit_rs": lambda: h.kaiming_uniform_(arr, nonlinearity="relu", seed=1),
            "numpy": numpy_uniform,
        }),
        Workload("trunc_normal_", "Keras he_normal: truncated at 2 std, in place", n, {
            "heinit_rs": lambda: h.trunc_normal_(arr, 0.0, keras_std, -2 * keras_std,
                                                 2 * keras_std, seed=1),
            "heinit_rs normal": lambda: h.kaiming_normal_(arr, nonlinearity="relu", seed=1),
        }),
        Workload("he_normal new", "kaiming_normal(shape): a new array", n, {
            "heinit_rs": lambda: h.kaiming_normal(shape, nonlinearity="relu", dtype=dtype, seed=1),
            "numpy": lambda: numpy_normal(np.empty(shape, dtype)),
        }),
        Workload("he_uniform new", "kaiming_uniform(shape): a new array", n, {
            "heinit_rs": lambda: h.kaiming_uniform(shape, nonlinearity="relu", dtype=dtype,
                                                   seed=1),
            "numpy": lambda: numpy_uniform(np.empty(shape, dtype)),
        }),
        Workload("small (256, 1)", "kaiming_normal((256, 1)): per-call overhead", 256, {
            "heinit_rs": lambda: h.kaiming_normal((256, 1), dtype=dtype, seed=1),
            "numpy": lambda: rng.standard_normal(256, dtype=drawn).astype(dtype, copy=False),
        }),
        Workload("small (64, 64)", "kaiming_normal((64, 64)): per-call overhead", 4096, {
            "heinit_rs": lambda: h.kaiming_normal((64, 64), dtype=dtype, seed=1),
            "numpy": lambda: rng.standard_normal((64, 64), dtype=drawn).astype(dtype, copy=False),
            # What a call that makes almost nothing costs: NumPy drawing 256 values.
            "numpy, 256 values": lambda: rng.standard_normal(256, dtype=drawn).astype(
                dtype, copy=False),
        }, elements_of={"numpy, 256 values": 256}),
    ]
    in_place, made_new = result[:3], result[3:5]
    if torch is not None:
        init = torch.nn.init
        torch_dtype = getattr(torch, dtype.name)
        in_place[0].runs["torch"] = lambda: init.kaiming_normal_(tensor, nonlinearity="relu")
        in_place[1].runs["torch"] = lambda: init.kaiming_uniform_(tensor, nonlinearity="relu")
        in_place[2].runs["torch"] = lambda: init.trunc_normal_(tensor, 0.0, keras_std,
                                                               -2 * keras_std, 2 * keras_std)
        made_new[0].runs["torch"] = lambda: init.kaiming_normal_(
            torch.empty(shape, dtype=torch_dtype), nonlinearity="relu")
        made_new[1].runs["torch"] = lambda: init.kaiming_uniform_(
            torch.empty(shape, dtype=torch_dtype), nonlinearity="relu")
    for workload in in_place:
        add_memory_fill(workload, dtype.itemsize)
    for workload in made_new:
        workload.runs["numpy empty+fill"] = lambda: memory_fill(np.empty(shape, dtype))
        workload.allocates = True
    if torch is not None:
        result += torch_workloads(torch, shape)
    return result


# Bytes the in-place workloads' "memory fill" reference writes, at least: well beyond the
# last-level cache of the CPUs measured (32 MiB on a 2-vCPU EPYC), so that it measures memory
# writes for every dtype. A 4096 x 4096 16-bit array (32 MiB) would mostly stay in that cache.
MEMORY_FILL_BYTES = 256 * 2**20


def add_memory_fill(workload: Workload, itemsize: int) -> None:
    """The reference of an in-place workload: writing as many bytes per element as its output
    has, into a buffer larger than the caches; its ns/element is per output element."""
    memory = memory_buffer(max(workload.elements * itemsize, MEMORY_FILL_BYTES))
    workload.runs["memory fill"] = functools.partial(memory.fill, 1)
    workload.elements_of["memory fill"] = memory.nbytes // itemsize


@functools.lru_cache(maxsize=1)
def memory_buffer(nbytes: int) -> np.ndarray:
    """One buffer of `nbytes` for every workload's memory-fill reference."""
    return np.empty(nbytes, np.uint8)


def memory_fill(arr: np.ndarray) -> None:
    """A plain memory fill of `arr` with 1.0, the floor any initializer meets; 16-bit arrays
    through their bits (ml_dtypes' own fill is slower than a memory fill)."""
    if arr.dtype.itemsize == 2:
        arr.view(np.uint16).fill(0x3C00 if arr.dtype == np.float16 else 0x3F80)
    else:
        arr.fill(1.0)


def torch_workloads(torch: Any, shape: tuple[int, int]) -> list[Workload]:
    """heinit_rs.torch against torch.nn.init on torch tensors (float32 and, with ml_dtypes,
    bfloat16), and init_module against torch's own construction of a ~100M-parameter model."""
    import heinit_rs.torch as fast

    result = []
    dtypes = [torch.float32]
    if importlib.util.find_spec("ml_dtypes") is not None:  # bfloat16 tensors need it
        dtypes.append(torch.bfloat16)
    for torch_dtype in dtypes:
        tensor = torch.empty(shape, dtype=torch_dtype)
        name = str(torch_dtype).removeprefix("torch.")
        result.append(Workload(f"torch {name}", f"heinit_rs.torch.kaiming_normal_ on a {name} "
                               "tensor", tensor.numel(), {
            "heinit_rs": functools.partial(fast.kaiming_normal_, tensor, nonlinearity="relu"),
            "torch": functools.partial(torch.nn.init.kaiming_normal_, tensor,
                                       nonlinearity="relu"),
        }, itemsize=tensor.element_size()))
        add_memory_fill(result[-1], tensor.element_size())

    side = shape[0]

    def model(device: str | None = None) -> Any:  # --size 4096: 100.7M parameters
        return torch.nn.Sequential(*(torch.nn.Linear(side, side, device=device)
                                     for _ in range(6)))

    parameters = 6 * (side * side + side)
    result.append(Workload("init_module", f"6 Linear({side}, {side}) on the meta device, "
                           "to_empty, init_module, against torch's construction", parameters, {
        "heinit_rs": lambda: fast.init_module(model("meta").to_empty(device="cpu"), seed=1),
        "torch": model,
    }, allocates=True, itemsize=4))
    return result


# Untimed calls before each timing, so that each implementation is timed in its steady state:
# after another one's single-threaded run, an idle core of a VM can take tens of milliseconds to
# come back to full speed (docs/dev/performance-history.md).
WARM_UP_SECONDS = 0.05
# Bytes touched, in output arrays' worth, before timing the workloads that allocate.
BACKED_ARRAYS = 8


def back_free_memory(nbytes: int) -> None:
    """Write `nbytes` of new memory and free it. A VM may hand its idle memory back to the host
    (virtio-balloon free page reporting): the first touch of such memory then pays a host page
    fault, in the guest's page-fault time, whichever implementation happens to get those pages
    (docs/dev/performance-history.md). Memory just freed is used first, so the
    allocating workloads then measure the page zeroing every new array pays, not the host."""
    np.ones(nbytes, np.uint8)


# Small calls are timed in batches of about this many seconds, so that the clock's resolution
# does not matter.
BATCH_SECONDS = 0.002


def time_call(fn: Callable[[], object]) -> float:
    """Seconds per call of one timing, after `WARM_UP_SECONDS` of untimed calls, which also
    size the batch of calls timed together."""
    calls = 0
    start = time.perf_counter()
    warm_until = start + WARM_UP_SECONDS
    while calls == 0 or time.perf_counter() < warm_until:
        fn()
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    inner = max(1, int(BATCH_SECONDS / per_call))
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def best_times(runs: dict[str, Callable[[], object]], repeat: int,
               progress: Callable[[], None]) -> dict[str, float]:
    """The best of `repeat` timings of each run. The runs take turns, round after round, so a
    shared machine that slows down for a while slows every implementation alike, not one."""
    for fn in runs.values():
        fn()
    best = dict.fromkeys(runs, math.inf)
    for _ in range(repeat):
        for name, fn in runs.items():
            best[name] = min(best[name], time_call(fn))
        progress()
    return best


def run_bench(size: int, dtype: np.dtype, threads: int, repeat: int,
              progress: Callable[[str], None]) -> dict[str, Any]:
    h.set_num_threads(threads)
    items = workloads(size, dtype, threads)
    total = len(items) * repeat
    done = 0
    report = []
    for workload in items:
        results = {}

        def elements_of(name: str, workload: Workload = workload) -> int:
            return workload.elements_of.get(name, workload.elements)

        def round_done(workload: Workload = workload) -> None:
            nonlocal done
            done += 1
            progress(f"[{done}/{total}] {workload.name}")

        if workload.allocates:
            back_free_memory(BACKED_ARRAYS * workload.elements * dtype.itemsize)
        times = best_times(workload.runs, repeat, round_done)
        for name, seconds in times.items():
            elements = elements_of(name)
            results[name] = {
                "seconds": seconds,
                "elements": elements,
                "ns_per_element": seconds / elements * 1e9,
                "gb_per_s": elements * (workload.itemsize or dtype.itemsize) / seconds / 1e9,
            }
        ours = results["heinit_rs"]["seconds"]
        ratios = {name: r["seconds"] / ours for name, r in results.items() if name != "heinit_rs"}
        report.append({"workload": workload.name, "description": workload.description,
                       "elements": workload.elements, "results": results,
                       "time_relative_to_heinit_rs": ratios})
    torch = _torch()
    return {
        "machine": {"cpu_model": cpu_model(), "simd_path": _core.get_simd_path(),
                    "cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version()},
        "versions": {"heinit_rs": h.__version__, "numpy": np.__version__,
                     "torch": getattr(torch, "__version__", None)},
        "threads": threads, "size": size, "dtype": str(dtype), "repeat": repeat,
        "workloads": report,
    }


def physical_memory() -> int | None:
    """This machine's memory in bytes, where the platform says (POSIX), else None."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo, else the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith(("model name", "Model", "Hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_table(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        f"CPU: {machine['cpu_model']} ({machine['cpus']} CPUs), SIMD path {machine['simd_path']}",
        f"heinit_rs {report['versions']['heinit_rs']} bench: {report['size']} x {report['size']} "
        f"{report['dtype']}, {report['threads']} threads, best of {report['repeat']}, "
        f"numpy {report['versions']['numpy']}, torch {report['versions']['torch'] or 'not installed'}",
        "time x = that implementation's time per call / heinit_rs's (above 1: heinit_rs is faster)",
    ]
    for w in report["workloads"]:
        lines += ["", f"{w['workload']}  ({w['description']}, {count(w['elements'], 'element')})",
                  f"  {'implementation':<20}{'ns/element':>12}{'GB/s':>9}{'time x':>9}"]
        for name, r in w["results"].items():
            ratio = w["time_relative_to_heinit_rs"].get(name)
            lines.append(f"  {name:<20}{r['ns_per_element']:>12.3f}{r['gb_per_s']:>9.2f}"
                         f"{'' if ratio is None else f'{ratio:.2f}':>9}")
    return "\n".join(lines)


def count(n: int, noun: str) -> str:
    """'1 element', '2 elements'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


class Progress:
    """One self-overwriting status line on stderr, shown only when stderr is a terminal."""

    def __init__(self) -> None:
        self.shown = sys.stderr.isatty()

    def __call__(self, message: str) -> None:
        if self.shown:
            print(f"\r\033[K{message}", end="", file=sys.stderr, flush=True)

    def bar(self, done: int, total: int, message: str, width: int = 30) -> None:
        filled = width * done // max(total, 1)
        self(f"[{'#' * filled}{'-' * (width - filled)}] {message}")

    def clear(self) -> None:
        self("")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _add_bench_parser(sub: Subparsers) -> None:
    bench = sub.add_parser("bench", help="time heinit_rs against NumPy, torch and a memory fill")
    bench.add_argument("--size", type=_positive, default=4096,
                       help="side of the square array (4096)")
    bench.add_argument("--dtype", choices=["float32", "float64", "float16", "bfloat16"],
                       default="float32", help="element type (float32; bfloat16 needs ml_dtypes)")
    bench.add_argument("--threads", type=_positive, default=None,
                       help="worker threads (default: heinit_rs's setting, all cores)")
    bench.add_argument("--repeat", type=_positive, default=7,
                       help="runs per measurement; the best is kept (7)")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_demo_parser(sub: Subparsers) -> None:
    from heinit_rs._demo import ACTIVATIONS

    demo = sub.add_parser(
        "demo", help="signal propagation through a deep network under He, Xavier, LeCun and "
                     "naive initialization; --train: the depth experiment of He et al. (2015)")
    demo.add_argument("--activation", choices=list(ACTIVATIONS), default="relu",
                      help="nonlinearity of every layer (relu); --train always uses relu")
    demo.add_argument("--depth", type=_positive, default=None,
                      help="weight layers (50; 30 with --train)")
    demo.add_argument("--width", type=_positive, default=None,
                      help="units per layer (512; 128 with --train)")
    demo.add_argument("--batch", type=_positive, default=None,
                      help="inputs pushed through (256); SGD minibatch with --train (32)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the weights and the data (0)")
    demo.add_argument("--output", default=None,
                      help="PNG to write (heinit-demo.png, or heinit-train.png with --train, in "
                           "the temporary directory, not the working one)")
    demo.add_argument("--no-plot", action="store_true", help="print the table only")
    demo.add_argument("--train", action="store_true",
                      help="train a deep ReLU MLP on scikit-learn's digits under He and Xavier")
    demo.add_argument("--epochs", type=_positive, default=60, help="--train epochs (60)")
    demo.add_argument("--lr", type=_positive_float, default=0.005, help="--train SGD learning rate (0.005)")


def _save_figure(plot: Callable[[str], None], path: str) -> None:
    from heinit_rs._demo import DEMO_EXTRA_HINT

    try:
        plot(path)
    except ImportError:
        print(f"matplotlib is not installed, so no figure was written; {DEMO_EXTRA_HINT}",
              file=sys.stderr)
        return
    print(f"wrote {path}")


def default_figure(name: str) -> str:
    """Where a figure goes without --output: the temporary directory, so that a demo run in a
    checkout or a project leaves nothing behind in it."""
    return os.path.join(tempfile.gettempdir(), name)


def run_demo(args: argparse.Namespace) -> int:
    from heinit_rs import _demo

    progress = Progress()
    if not args.train:
        depth, width, batch = args.depth or 50, args.width or 512, args.batch or 256
        progress(f"propagating through {depth} layers ...")
        results = _demo.propagate(args.activation, depth, width, batch, args.seed)
        progress.clear()
        print(_demo.propagation_table(results, args.activation, width, batch, args.seed))
        if not args.no_plot:
            _save_figure(lambda path: _demo.plot_propagation(results, args.activation, width, path),
                         args.output or default_figure("heinit-demo.png"))
        return 0
    depth, width, batch = args.depth or 30, args.width or 128, args.batch or 32
    try:
        data = _demo.load_digits(args.seed)
    except ImportError:
        print(f"--train needs scikit-learn for its bundled digits data; {_demo.DEMO_EXTRA_HINT}",
              file=sys.stderr)
        return 1
    schemes = ("He", "Xavier")
    total = len(schemes) * (args.epochs + 1)

    def on_epoch(scheme: str, epoch: int, loss: float) -> None:
        done = schemes.index(scheme) * (args.epochs + 1) + epoch + 1
        progress.bar(done, total, f"{scheme:<6} epoch {epoch}/{args.epochs}  loss {loss:.4f}")

    runs = [_demo.train(scheme, depth, width, args.epochs, args.lr, batch, args.seed, on_epoch,
                        data) for scheme in schemes]
    progress.clear()
    print(_demo.training_table(runs, depth, width, args.lr, batch))
    if not args.no_plot:
        _save_figure(lambda path: _demo.plot_training(runs, depth, path),
                     args.output or default_figure("heinit-train.png"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="heinit-rs", description=__doc__)
    parser.add_argument("--version", action="version",
                        version=f"heinit-rs {h.__version__} (stream version "
                                f"{h.STREAM_VERSION}; SIMD: "
                                f"{', '.join(_core.supported_simd_paths())})")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_bench_parser(sub)
    _add_demo_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo(args)
    for problem, _ in _core.environment_problems():
        # The library ignores such a value (it warned at import); a bench would then measure
        # something other than what was asked for.
        print(f"heinit-rs bench: {problem}; fix or unset it", file=sys.stderr)
        return 2
    threads = args.threads or h.get_num_threads()
    try:
        dtype = check_dtype(args.dtype)
    except TypeError as e:
        print(f"heinit-rs bench: --dtype {args.dtype}: {e}", file=sys.stderr)
        return 2
    too_big = (f"heinit-rs bench: --size {args.size} needs arrays of "
               f"{args.size**2 * dtype.itemsize / 2**30:.1f} GiB each, more memory than this "
               "machine could give; pass a smaller --size")
    memory = physical_memory()
    if memory is not None and args.size**2 * dtype.itemsize > memory:
        print(too_big, file=sys.stderr)
        return 2
    progress = Progress()
    try:
        report = run_bench(args.size, dtype, threads, args.repeat, progress)
    except MemoryError:
        progress.clear()
        print(too_big, file=sys.stderr)
        return 2
    progress.clear()
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
