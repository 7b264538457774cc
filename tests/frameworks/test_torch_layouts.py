"""The same weights for every parallel layout, without a seed checkpoint: deferred_init +
materialize(init="model") on 1, 2 and 4 gloo ranks (CPU), over FSDP2, tensor parallelism
(column- and row-wise), FSDP + TP on a 2 x 2 mesh and a pipeline stage, for a nanoGPT-style
GPT, a transformers Llama and torchtitan's Llama, float32 and bfloat16. Gathered, each equals
the single-process materialize bit for bit (layouts_worker.py); each rank's peak memory during
a sharded materialize stays within its shard."""

import pathlib

import pytest
from conftest import free_port, run_python

torch = pytest.importorskip("torch", reason="needs torch (pip install torch)")
pytest.importorskip("transformers")
pytest.importorskip("torchtitan")
if not torch.distributed.is_available():
    pytest.skip("this torch has no torch.distributed", allow_module_level=True)

WORKER = pathlib.Path(__file__).with_name("layouts_worker.py")
MODELS = ("gpt", "transformers llama", "torchtitan llama")


@pytest.mark.parametrize("world", [1, 2, 4])
def test_every_layout_gathers_to_the_single_process_weights(world):
    run = run_python(None, args=(str(WORKER), str(world), str(free_port())), timeout=600)
    layouts = ["fsdp", "tp", "stage"] + (["fsdp+tp"] if world == 4 else [])
    for model in MODELS:
        for layout in layouts:
            for dtype in ("torch.float32", "torch.bfloat16"):
                assert f"{model} {layout} {dtype} ok" in run.stdout, run.stdout
    peak, shard, whole = (int(word) for word in
                          run.stdout.split("peak ")[1].split()[0::2][:3])
    assert peak <= 1.25 * shard + 16 * 2**20 and shard * world == whole, run.stdout
