"""Scale-out benchmark: initializing one large weight across ranks and on a Dask cluster.

    python benches/scale_out.py [--size 16384] [--ranks 4] [--json]

1. torch.distributed (gloo, CPU), `--ranks` processes, a (size, size) float32 weight split by
   rows (Megatron's column-parallel Linear). Per rank, wall time and peak RSS above the rank's
   RSS before the call, for:
   - "master (torch)": Megatron's `_initialize_affine_weight_cpu`: the full master weight by
     torch.nn.init.kaiming_normal_ on every rank, then this rank's rows copied out;
   - "master (heinit_rs)": the same with heinit_rs.torch filling the master weight;
   - "sharded (heinit_rs)": only this rank's rows, by `global_shape=` and `index=`.
2. A nanoGPT-style GPT of `--gpt-mib` MiB of float32 parameters (init in __init__, tied
   embedding; tests/frameworks/layouts_worker.py), FSDP2 over `--ranks` gloo ranks. Per rank,
   wall time and peak RSS above the rank's RSS before the step, against its shard, for:
   - "deferred_init, per shard": heinit_rs.torch.deferred_init + fully_shard + materialize;
   - "deferred_init, whole replay": the whole model replayed on every rank, then its block
     kept (what materialize did before it replayed per shard);
   - "torch meta + init_weights": torch's own: meta device, fully_shard, to_empty, the model's
     _init_weights (not layout-invariant).
   Also the record's size: operators and bytes of recorded constants.
3. Dask (a LocalCluster with one single-threaded worker process per CPU): throughput of
   heinit_rs.dask.kaiming_normal against dask.array.random's standard_normal * std for the same
   shape and chunks, each reduced by .sum() on the cluster.

Needs torch for part 1 and dask.distributed for part 2; a part whose framework is missing is
skipped. Figures go to docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import time

from _measure import status_bytes


def rank_main(rank: int, world: int, port: int, size: int, method: str, results: object) -> None:
    import numpy as np
    import torch
    import torch.distributed as dist

    import heinit_rs
    import heinit_rs.torch as fast

    torch.set_num_threads(1)
    heinit_rs.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    rows = size // world
    dist.barrier()
    before = status_bytes("VmRSS")
    start = time.perf_counter()
    torch.manual_seed(0)
    if method == "sharded (heinit_rs)":
        local = torch.empty(rows, size)
        fast.kaiming_normal_(local, nonlinearity="relu", global_shape=(size, size),
                             index=np.s_[rank * rows:(rank + 1) * rows])
    else:
        init = torch.nn.init if method == "master (torch)" else fast
        master = torch.empty(size, size)
        init.kaiming_normal_(master, nonlinearity="relu")
        local = torch.empty(rows, size)
        local.copy_(torch.split(master, rows, dim=0)[rank])
        del master
    seconds = time.perf_counter() - start
    peak = status_bytes("VmHWM") - before
    dist.barrier()
    results[rank] = {"seconds": seconds, "peak_rss_above_start": peak,  # type: ignore[index]
                     "local_bytes": local.numel() * 4}
    dist.destroy_process_group()


def gpt_rank_main(rank: int, world: int, port: int, width: int, layers: int, method: str,
                  results: object) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    import heinit_rs
    import heinit_rs.torch as fast
    from heinit_rs.torch import _record

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "frameworks"))
    from layouts_worker import GPT, fully_shard_layers

    torch.set_num_threads(1)
    heinit_rs.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    build = {"vocab": 32768, "width": width, "layers": layers, "heads": 16, "block": 1024}
    dist.barrier()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = status_bytes("VmRSS")
    start = time.perf_counter()
    record_start = time.perf_counter()
    if method == "torch meta + init_weights":
        with torch.device("meta"):
            model = GPT(**build)
        record_seconds = 0.0
        fully_shard_layers(model, mesh)
        model.to_empty(device="cpu")
        model.apply(model._init_weights)
        nodes = constants = 0
    else:
        model = fast.deferred_init(GPT, **build)
        record_seconds = time.perf_counter() - record_start
        record = _record.record_of(model)
        nodes, constants = len(record.nodes), sum(t.nbytes for t in record.constants)
        if method == "deferred_init, per shard":
            fully_shard_layers(model, mesh)
            fast.materialize(model, seed=0, init="model")
        else:
            whole = fast.materialize(model, seed=0, init="model")
            values = {name: t.detach() for name, t in whole.named_parameters()}
            with torch.device("meta"):
                model = GPT(**build)
            fully_shard_layers(model, mesh)
            model.to_empty(device="cpu")
            with torch.no_grad():
                for name, p in model.named_parameters():
                    local = p.to_local()
                    rows = values[name].shape[0] // world
                    local.copy_(values[name][rank * rows:rank * rows + local.shape[0]])
            del whole, values
    seconds = time.perf_counter() - start
    peak = status_bytes("VmHWM") - before
    shard = sum(p.to_local().numel() * p.element_size() for p in model.parameters())
    whole_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    dist.barrier()
    results[rank] = {"seconds": seconds, "peak": peak, "shard": shard,  # type: ignore[index]
                     "whole": whole_bytes, "record_seconds": record_seconds, "nodes": nodes,
                     "constants": constants}
    dist.destroy_process_group()


def gpt_part(mib: int, world: int) -> dict[str, object] | None:
    try:
        import torch.multiprocessing as mp
    except ImportError:
        return None
    width = 1024
    layers = max(1, round((mib * 2**20 / 4 - 33 * 2**20) / (12 * width * width)))
    report: dict[str, object] = {"width": width, "layers": layers}
    for method in ("deferred_init, per shard", "deferred_init, whole replay",
                   "torch meta + init_weights"):
        with mp.Manager() as manager:
            results = manager.dict()
            mp.spawn(gpt_rank_main, args=(world, free_port(), width, layers, method, results),
                     nprocs=world, join=True)
            ranks = [results[r] for r in range(world)]
        report[method] = {
            "seconds_max": max(r["seconds"] for r in ranks),
            "peak_mib_max": max(r["peak"] for r in ranks) / 2**20,
            "shard_mib": ranks[0]["shard"] / 2**20, "model_mib": ranks[0]["whole"] / 2**20,
            "record_seconds": ranks[0]["record_seconds"], "recorded_operators": ranks[0]["nodes"],
            "recorded_constant_bytes": ranks[0]["constants"],
        }
    return report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torch_part(size: int, world: int) -> dict[str, object] | None:
    try:
        import torch.multiprocessing as mp
    except ImportError:
        return None
    report = {}
    for method in ("master (torch)", "master (heinit_rs)", "sharded (heinit_rs)"):
        with mp.Manager() as manager:
            results = manager.dict()
            mp.spawn(rank_main, args=(world, free_port(), size, method, results), nprocs=world,
                     join=True)
            ranks = [results[r] for r in range(world)]
        report[method] = {
            "seconds_max": max(r["seconds"] for r in ranks),
            "peak_rss_mib_max": max(r["peak_rss_above_start"] for r in ranks) / 2**20,
            "local_mib": ranks[0]["local_bytes"] / 2**20,
        }
    return report


def dask_part(size: int) -> dict[str, object] | None:
    try:
        import dask.array as da
        import distributed
    except ImportError:
        return None
    import heinit_rs.dask as hd

    chunks = (size // 4, size // 4)
    std = math.sqrt(2.0 / size)
    workers = os.cpu_count() or 1
    env = {"HEINIT_RS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    report: dict[str, object] = {"workers": workers, "chunks": chunks}
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, env=env) as cluster, \
            distributed.Client(cluster) as client:
        makers = {
            "heinit_rs.dask": lambda: hd.kaiming_normal((size, size), nonlinearity="relu",
                                                        chunks=chunks, seed=1),
            "dask.array.random": lambda: da.random.default_rng(1).standard_normal(
                (size, size), chunks=chunks, dtype="float32") * std,
        }
        for name, make in makers.items():
            best = math.inf
            for _ in range(3):
                start = time.perf_counter()
                client.compute(make().sum(), sync=True)
                best = min(best, time.perf_counter() - start)
            report[name] = {"seconds": best, "gb_per_s": size * size * 4 / best / 1e9}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--gpt-mib", type=int, default=1100)
    parser.add_argument("--parts", default="weight,gpt,dask")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from heinit_rs._cli import cpu_model

    import heinit_rs._core as core

    report = {"cpu_model": cpu_model(), "simd_path": core.get_simd_path(),
              "cpus": os.cpu_count(), "size": args.size, "ranks": args.ranks,
              "torch_distributed": torch_part(args.size, args.ranks)
              if "weight" in args.parts else None,
              "deferred_gpt": gpt_part(args.gpt_mib, args.ranks) if "gpt" in args.parts else None,
              "dask": dask_part(args.size) if "dask" in args.parts else None}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"CPU: {report['cpu_model']} ({report['cpus']} CPUs), SIMD path {report['simd_path']}; "
          f"({args.size}, {args.size}) float32")
    tp = report["torch_distributed"]
    if tp is None:
        print("torch.distributed, one weight: not run (not in --parts, or no torch)")
    else:
        print(f"\ntorch.distributed, {args.ranks} gloo ranks, 1 thread each:")
        print(f"  {'method':<22}{'time s (slowest rank)':>24}{'peak RSS MiB':>14}"
              f"{'shard MiB':>11}")
        for method, r in tp.items():
            print(f"  {method:<22}{r['seconds_max']:>24.2f}{r['peak_rss_mib_max']:>14.0f}"
                  f"{r['local_mib']:>11.0f}")
        ratio = tp["sharded (heinit_rs)"]["peak_rss_mib_max"] / tp["master (torch)"][
            "peak_rss_mib_max"]
        print(f"  sharded / master peak RSS: {ratio:.3f}; time master (torch) / sharded: "
              f"{tp['master (torch)']['seconds_max'] / tp['sharded (heinit_rs)']['seconds_max']:.1f}x")
    gp = report["deferred_gpt"]
    if gp is not None:
        first = gp["deferred_init, per shard"]
        print(f"\nGPT ({gp['layers']} layers, width {gp['width']}, {first['model_mib']:.0f} MiB "
              f"float32), FSDP2 on {args.ranks} gloo ranks, 1 thread each:")
        print(f"  {'method':<30}{'time s (slowest rank)':>22}{'peak MiB':>10}{'shard MiB':>11}"
              f"{'peak / shard':>14}")
        for method, r in gp.items():
            if isinstance(r, dict):
                print(f"  {method:<30}{r['seconds_max']:>22.2f}{r['peak_mib_max']:>10.0f}"
                      f"{r['shard_mib']:>11.0f}{r['peak_mib_max'] / r['shard_mib']:>14.2f}")
        print(f"  record: {first['recorded_operators']} operators, "
              f"{first['recorded_constant_bytes']} bytes of constants, "
              f"{first['record_seconds']:.2f} s")
    dk = report["dask"]
    if dk is None:
        print("dask: not run (not in --parts, or dask.distributed is not installed)")
    else:
        print(f"\nDask LocalCluster, {dk['workers']} single-threaded worker processes, chunks "
              f"{dk['chunks']}, generate + .sum():")
        for name in ("heinit_rs.dask", "dask.array.random"):
            r = dk[name]
            print(f"  {name:<20}{r['seconds']:>8.2f} s {r['gb_per_s']:>7.2f} GB/s")
        print(f"  heinit_rs.dask is {dk['dask.array.random']['seconds'] / dk['heinit_rs.dask']['seconds']:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
