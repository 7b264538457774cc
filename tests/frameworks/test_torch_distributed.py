"""heinit_rs.torch across 4 gloo processes on the CPU: tensor-parallel shards, DTensors,
FSDP2-sharded and meta-device models, gathered, equal the unsharded initialization bit for
bit. Skipped where torch (with torch.distributed) is not installed."""

import textwrap

import pytest
from conftest import free_port, run_python

torch = pytest.importorskip("torch", reason="needs torch (pip install torch)")
if not torch.distributed.is_available():
    pytest.skip("this torch has no torch.distributed", allow_module_level=True)

WORLD = 4
WORKER = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    import torch
    import torch.distributed as dist
    import heinit_rs.torch as init

    warnings.filterwarnings("ignore")


    def gathered(local, dim):
        parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts, dim)


    def tensor_parallel(rank, world):
        # Megatron's column-parallel Linear splits the weight's rows (out), row-parallel its
        # columns (in); every rank seeds torch alike and fills only its block.
        for dtype in (torch.float32, torch.bfloat16):
            torch.manual_seed(0)
            whole = init.kaiming_normal_(torch.empty(64, 48, dtype=dtype), nonlinearity="relu")
            torch.manual_seed(0)
            rows = torch.empty(64 // world, 48, dtype=dtype)
            init.kaiming_normal_(rows, nonlinearity="relu", global_shape=(64, 48),
                                 index=np.s_[rank * 16:(rank + 1) * 16])
            assert torch.equal(gathered(rows, 0), whole), "column-parallel"
            torch.manual_seed(0)
            columns = torch.empty(64, 48 // world, dtype=dtype)
            init.kaiming_normal_(columns, nonlinearity="relu", global_shape=(64, 48),
                                 index=np.s_[:, rank * 12:(rank + 1) * 12])
            assert torch.equal(gathered(columns, 1), whole), "row-parallel"


    def dtensors(rank, world):
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor import Replicate, Shard, distribute_tensor
        mesh = init_device_mesh("cpu", (world,))
        for placements in ([Shard(0)], [Shard(1)], [Replicate()]):
            for shape in ((64, 48), (66, 50)):  # even and uneven shards
                dt = distribute_tensor(torch.empty(shape), mesh, placements)
                init.trunc_normal_(dt, std=0.02, a=-0.04, b=0.04, seed=3)
                whole = init.trunc_normal_(torch.empty(shape), std=0.02, a=-0.04, b=0.04,
                                           seed=3)
                assert torch.equal(dt.full_tensor(), whole), (placements, shape)


    def model():
        return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(),
                                   torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                   torch.nn.Linear(64, 10), torch.nn.LayerNorm(10),
                                   torch.nn.Embedding(7, 10, padding_idx=0))


    def check_full(sharded, unsharded, what, skip=()):
        for (name, p), q in zip(sharded.named_parameters(), unsharded.parameters()):
            if name.startswith(skip):
                continue
            full = p.full_tensor() if hasattr(p, "full_tensor") else p
            assert torch.equal(full.detach(), q.detach()), (what, name)


    def fsdp(rank, world):
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
        mesh = init_device_mesh("cpu", (world,))
        unsharded = init.init_module(model(), seed=1)
        sharded = model()
        for layer in sharded:
            if isinstance(layer, torch.nn.Linear):
                fully_shard(layer, mesh=mesh)
        fully_shard(sharded, mesh=mesh)
        assert type(sharded[0].weight).__name__ == "DTensor"
        init.init_module(sharded, seed=1)
        # init_module leaves the Embedding (torch's own random init) alone.
        check_full(sharded, unsharded, "fully_shard + init_module", skip=("6.",))
        # A meta model, sharded, then materialized one shard per rank.
        with torch.device("meta"):
            meta = model()
        for layer in meta:
            if isinstance(layer, torch.nn.Linear):
                fully_shard(layer, mesh=mesh)
        fully_shard(meta, mesh=mesh)
        init.materialize(meta, "cpu", seed=1)
        expected = init.materialize(model(), "cpu", seed=1)
        check_full(meta, expected, "materialize")
        assert torch.equal(expected[6].weight[0], torch.zeros(10))


    def main(rank, world, port):
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world)
        try:
            for check in (tensor_parallel, dtensors, fsdp):
                check(rank, world)
                dist.barrier()
                if rank == 0:
                    print(f"{check.__name__} ok", flush=True)
        finally:
            dist.destroy_process_group()


    if __name__ == "__main__":
        import torch.multiprocessing as mp
        world, port = int(sys.argv[1]), int(sys.argv[2])
        mp.spawn(main, args=(world, port), nprocs=world, join=True)
""")


def test_four_gloo_ranks_equal_the_unsharded_initialization(tmp_path):
    script = tmp_path / "ranks.py"
    script.write_text(WORKER)
    run = run_python(None, args=(str(script), str(WORLD), str(free_port())), timeout=600)
    for check in ("tensor_parallel", "dtensors", "fsdp"):
        assert f"{check} ok" in run.stdout, run.stdout
