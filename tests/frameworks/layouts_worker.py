"""The same weights for every parallel layout: run as `python layouts_worker.py WORLD PORT` (gloo,
CPU). Each rank builds each model with heinit_rs.torch.deferred_init, lays it out (FSDP2, tensor
parallel column- and row-wise, FSDP + TP on a 2 x 2 mesh), materializes it one shard per rank
with init="model", gathers every parameter and buffer and compares it bit for bit with the
single-process deferred_init + materialize of the same model; a pipeline stage (layers deleted
from the meta model) is compared too. Each rank's peak memory during a sharded materialize of a
larger GPT is checked against its shard. Prints one "ok" line per model, layout and dtype."""

import math
import sys
import warnings

import torch
import torch.distributed as dist
from torch import nn

import heinit_rs.torch as ht

warnings.filterwarnings("ignore")
SEED = 11


class Block(nn.Module):
    def __init__(self, width, heads, dtype):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, dtype=dtype)
        self.c_attn = nn.Linear(width, 3 * width, dtype=dtype)
        self.attn_proj = nn.Linear(width, width, dtype=dtype)
        self.ln_2 = nn.LayerNorm(width, dtype=dtype)
        self.c_fc = nn.Linear(width, 4 * width, dtype=dtype)
        self.c_proj = nn.Linear(4 * width, width, dtype=dtype)


class GPT(nn.Module):
    """nanoGPT's scheme: self.apply(_init_weights) in __init__, c_proj scaled by the depth, the
    token embedding tied to lm_head, a causal-mask buffer."""

    def __init__(self, vocab=128, width=64, layers=2, heads=4, block=32, dtype=torch.float32):
        super().__init__()
        self.wte = nn.Embedding(vocab, width, dtype=dtype)
        self.wpe = nn.Embedding(block, width, dtype=dtype)
        self.h = nn.ModuleList([Block(width, heads, dtype) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width, dtype=dtype)
        self.lm_head = nn.Linear(width, vocab, bias=False, dtype=dtype)
        self.wte.weight = self.lm_head.weight
        self.register_buffer("mask", torch.tril(torch.ones(block, block, dtype=dtype)))
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("attn_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)


def gpt(dtype):
    return ht.deferred_init(GPT, dtype=dtype)


def llama(dtype):
    import transformers
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, dtype=dtype)
    return ht.deferred_init(transformers.LlamaForCausalLM, config)


def titan(dtype):
    from torchtitan.models import llama3
    build = llama3.llama3_configs["debugmodel"](attn_backend="flex").build
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        return ht.deferred_init(build)
    finally:
        torch.set_default_dtype(previous)


MODELS = {"gpt": gpt, "transformers llama": llama, "torchtitan llama": titan}
# Row-parallel Linears (the second of each pair); every other Linear is column-parallel.
ROW_PARALLEL = ("attn_proj", "c_proj", "o_proj", "down_proj", "wo", "w2")


def tp_plan(model):
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel
    plan = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name not in ("lm_head", "output"):
            plan[name] = RowwiseParallel() if name.endswith(ROW_PARALLEL) else ColwiseParallel()
    return plan


def fully_shard_layers(model, mesh):
    from torch.distributed.fsdp import fully_shard
    for container in model.modules():  # each transformer block, then the root
        if isinstance(container, (nn.ModuleList, nn.ModuleDict)):
            for layer in container.children():
                fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)


def lay_out(model, layout, world):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import parallelize_module
    if layout == "fsdp":
        fully_shard_layers(model, init_device_mesh("cpu", (world,)))
    elif layout == "tp":
        parallelize_module(model, init_device_mesh("cpu", (world,)), tp_plan(model))
    elif layout == "fsdp+tp":
        mesh = init_device_mesh("cpu", (2, world // 2), mesh_dim_names=("dp", "tp"))
        parallelize_module(model, mesh["tp"], tp_plan(model))
        fully_shard_layers(model, mesh["dp"])
    return model


def gathered(model):
    out = {}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
        out[name] = full.detach().clone()
    return out


def same(ours, reference, what):
    assert set(ours) <= set(reference) and ours, what
    for name, tensor in ours.items():
        expected = reference[name]
        assert tensor.dtype == expected.dtype and tensor.shape == expected.shape, (what, name)
        assert torch.equal(tensor, expected), (what, name)


def drop_layers(model):
    """A pipeline stage without its first layer and its embeddings, as torchtitan splits."""
    for container in ("h", "layers"):
        for owner in (model, getattr(model, "model", None)):
            layers = getattr(owner, container, None) if owner is not None else None
            if isinstance(layers, nn.ModuleDict):
                del layers[next(iter(layers))]
            elif isinstance(layers, nn.ModuleList):
                layers[0] = nn.Identity()
    return model


def status_bytes(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))


def peak_of_sharded_materialize(world):
    """(peak bytes above the rank's resident size during materialize, this rank's shard bytes,
    the model's bytes) for an FSDP2 GPT of about 100 MB of float32."""
    from torch.distributed.device_mesh import init_device_mesh
    model = ht.deferred_init(GPT, vocab=8192, width=512, layers=6, heads=8, block=64)
    fully_shard_layers(model, init_device_mesh("cpu", (world,)))
    whole = sum(p.numel() * 4 for p in model.parameters())
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = status_bytes("VmRSS:")
    ht.materialize(model, seed=SEED, init="model")
    peak = status_bytes("VmHWM:") - before
    shard = sum(p.to_local().numel() * 4 for p in model.parameters())
    return peak, shard, whole


def main(rank, world, port):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    layouts = ["fsdp", "tp"] + (["fsdp+tp"] if world == 4 else [])
    try:
        # First, while the process holds no freed memory that a fill could reuse unseen.
        peak, shard, whole = peak_of_sharded_materialize(world)
        if rank == 0:
            print(f"peak {peak} shard {shard} whole {whole}", flush=True)
        # Every piece of the GPT replays on its block: no whole tensor is replayed.
        assert peak <= 1.25 * shard + 16 * 2**20, (peak, shard, whole)
        for label, build in MODELS.items():
            for dtype in (torch.float32, torch.bfloat16):
                reference = gathered(ht.materialize(build(dtype), seed=SEED, init="model"))
                for layout in layouts:
                    model = lay_out(build(dtype), layout, world)
                    ours = gathered(ht.materialize(model, seed=SEED, init="model"))
                    assert set(ours) == set(reference), (label, layout, set(ours) ^ set(reference))
                    same(ours, reference, (label, layout, dtype))
                    if rank == 0:
                        print(f"{label} {layout} {dtype} ok", flush=True)
                stage = gathered(ht.materialize(drop_layers(build(dtype)), seed=SEED,
                                                init="model"))
                assert len(stage) < len(reference), label
                same(stage, reference, (label, "stage", dtype))
                if rank == 0:
                    print(f"{label} stage {dtype} ok", flush=True)
                dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    import torch.multiprocessing as mp
    world, port = int(sys.argv[1]), int(sys.argv[2])
    mp.spawn(main, args=(world, port), nprocs=world, join=True)
