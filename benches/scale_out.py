"""Scale-out benchmark: initializing one large weight across ranks and on a Dask cluster.

    python benches/scale_out.py [--size 16384] [--ranks 4] [--json]

1. torch.distributed (gloo, CPU), `--ranks` processes, a (size, size) float32 weight split by
   rows (Megatron's column-parallel Linear). Per rank, wall time and peak RSS above the rank's
   RSS before the call, for:
   - "master (torch)": Megatron's `_initialize_affine_weight_cpu`: the full master weight by
     torch.nn.init.kaiming_normal_ on every rank, then this rank's rows copied out;
   - "master (heinit_rs)": the same with heinit_rs.torch filling the master weight;
   - "sharded (heinit_rs)": only this rank's rows, by `global_shape=` and `index=`.
2. Dask (a LocalCluster with one single-threaded worker process per CPU): throughput of
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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from heinit_rs._cli import cpu_model

    import heinit_rs._core as core

    report = {"cpu_model": cpu_model(), "simd_path": core.get_simd_path(),
              "cpus": os.cpu_count(), "size": args.size, "ranks": args.ranks,
              "torch_distributed": torch_part(args.size, args.ranks),
              "dask": dask_part(args.size)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"CPU: {report['cpu_model']} ({report['cpus']} CPUs), SIMD path {report['simd_path']}; "
          f"({args.size}, {args.size}) float32")
    tp = report["torch_distributed"]
    if tp is None:
        print("torch.distributed: skipped (torch is not installed)")
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
    dk = report["dask"]
    if dk is None:
        print("dask: skipped (dask.distributed is not installed)")
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
