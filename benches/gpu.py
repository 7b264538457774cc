"""heinit_rs on a CUDA device: each fill's bandwidth against torch.nn.init's kernel and
against ``tensor.fill_``, and a 1B-parameter model initialized end to end.

    python benches/gpu.py [--repeat 7] [--json] [--largest 30]

Rows, each timed in this one process with CUDA events, best of --repeat, alternating:

- for float32 and bfloat16 and sizes 2^20, 2^22, ... 2^largest elements: GB/s written by
  heinit_rs.triton's seven initializers, by torch.nn.init's same initializer on the same tensor,
  and by ``fill_`` (the device's write bandwidth);
- torchtitan's Llama 3 ``1B`` built on the meta device, ``to_empty(device="cuda")``, then
  ``init_states()``: torch alone, inside ``fast_init()``, and ``materialize(device="cuda",
  init="model")``.

Needs a CUDA device, torch (with Triton) and torchtitan (``pip install '.[frameworks]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Callable

import torch

if not torch.cuda.is_available():
    sys.exit("benches/gpu.py needs a CUDA device; this machine has none")

import heinit_rs.torch as ht  # noqa: E402
import heinit_rs.triton as htri  # noqa: E402

INITIALIZERS = {
    "kaiming_normal_": {}, "kaiming_uniform_": {"a": math.sqrt(5)}, "xavier_normal_": {},
    "xavier_uniform_": {}, "trunc_normal_": {"std": 0.02}, "normal_": {"std": 0.02},
    "uniform_": {"a": -0.1, "b": 0.1},
}


def seconds(run: Callable[[], object]) -> float:
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    run()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / 1000


def best(variants: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run()  # compile and warm up
    for _ in range(repeat):
        for name, run in variants.items():
            times[name].append(seconds(run))
    return {name: min(values) for name, values in times.items()}


def fills(largest: int, repeat: int) -> list[dict[str, object]]:
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for power in range(20, largest + 1, 2):
            tensor = torch.empty(2 ** (power - 10), 1024, dtype=dtype, device="cuda")
            gigabytes = tensor.numel() * tensor.element_size() / 1e9
            for name, kwargs in INITIALIZERS.items():
                times = best({
                    "heinit_rs": lambda: getattr(htri, name)(tensor, **kwargs, seed=1),
                    "torch": lambda: getattr(torch.nn.init, name)(tensor, **kwargs),
                    "fill_": lambda: tensor.fill_(0.5),
                }, repeat)
                rows.append({"dtype": str(dtype), "elements": tensor.numel(), "initializer": name,
                             **{k: gigabytes / v for k, v in times.items()}})
            del tensor
            torch.cuda.empty_cache()
    return rows


def titan(repeat: int) -> dict[str, float]:
    from torchtitan.models.llama3 import llama3_configs

    def build() -> torch.nn.Module:
        with torch.device("meta"):
            return llama3_configs["1B"](attn_backend="flex").build()

    def init(how: str) -> Callable[[], object]:
        def run() -> None:
            model = build()
            if how == "materialize":
                ht.materialize(model, device="cuda", seed=0, init="model")
            else:
                model.to_empty(device="cuda")
                with ht.fast_init() if how == "fast_init" else contextlib.nullcontext():
                    model.init_states(buffer_device=torch.device("cuda"))
            del model
        return run

    return best({how: init(how) for how in ("torch", "fast_init", "materialize")}, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--largest", type=int, default=30, help="largest size, a power of 2")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {"device": torch.cuda.get_device_name(), "fills_gb_per_s": fills(args.largest,
                                                                             args.repeat),
              "torchtitan_llama3_1b_seconds": titan(max(1, args.repeat // 3))}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['device']}, best of {args.repeat}, alternating; GB/s written")
    print(f"{'dtype':16} {'elements':>12} {'initializer':18} {'heinit_rs':>10} {'torch':>10} "
          f"{'fill_':>10} {'of fill_':>9}")
    for row in result["fills_gb_per_s"]:
        print(f"{row['dtype']:16} {row['elements']:12d} {row['initializer']:18} "
              f"{row['heinit_rs']:10.0f} {row['torch']:10.0f} {row['fill_']:10.0f} "
              f"{row['heinit_rs'] / row['fill_']:9.0%}")
    print("torchtitan Llama 3 1B on CUDA, to_empty + init_states:",
          ", ".join(f"{k} {v:.3f} s" for k, v in result["torchtitan_llama3_1b_seconds"].items()))


if __name__ == "__main__":
    main()
