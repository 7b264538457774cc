"""How long real models take to initialize, with torch alone and inside heinit_rs.torch.fast_init().

    python benches/models.py [--repeat 3] [--json]

Rows, each timed in this one process, alternating between the variants, best of --repeat:

- transformers: ``LlamaForCausalLM`` (hidden 2048, intermediate 5632, 8 layers, 16 heads, 4 KV
  heads, vocab 32000: 492M parameters) constructed on the CPU with torch alone and inside
  ``fast_init()``; and the floor, the same model built on the meta device, ``to_empty`` and
  ``zero_()`` of every parameter.
- torchtitan: Llama 3 ``1B`` with 4 of its 16 layers (506M parameters as built; ``to_empty``
  unties the embedding from the output layer, so 769M after it) built on the meta device,
  ``to_empty``, then ``init_states()``, with torch alone and inside ``fast_init()`` (only
  ``init_states`` is timed).
- timm and torchvision: ``vit_base_patch16_224`` / ``vit_b_16`` (86M parameters) and
  ``resnet50`` (26M) constructed on the CPU with torch alone, inside ``fast_init()``, and as
  ``deferred_init`` + ``materialize(init="model")`` (the constructor recorded on meta, replayed).

Needs torch, transformers, torchtitan, timm and torchvision (``pip install '.[frameworks]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import platform
import importlib.util
import sys
import time
from collections.abc import Callable

NEEDS = ("torch", "transformers", "torchtitan", "timm", "torchvision")
if missing := [name for name in NEEDS if importlib.util.find_spec(name) is None]:
    sys.exit(f"benches/models.py needs {', '.join(NEEDS)}; {', '.join(missing)} not installed: "
             "pip install '.[frameworks]' in the checkout")

import torch  # noqa: E402

import heinit_rs  # noqa: E402
import heinit_rs.torch as ht  # noqa: E402


def llama_config():  # type: ignore[no-untyped-def]
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                       num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=4)


def transformers_construction(fast: bool) -> Callable[[], float]:
    def run() -> float:
        from transformers import LlamaForCausalLM

        start = time.perf_counter()
        with ht.fast_init() if fast else contextlib.nullcontext():
            model = LlamaForCausalLM(llama_config())
        elapsed = time.perf_counter() - start
        del model
        return elapsed
    return run


def transformers_floor() -> float:
    from transformers import LlamaForCausalLM

    start = time.perf_counter()
    with torch.device("meta"):
        model = LlamaForCausalLM(llama_config())
    model.to_empty(device="cpu")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    elapsed = time.perf_counter() - start
    del model
    return elapsed


def torchtitan_model() -> torch.nn.Module:
    from torchtitan.models.llama3 import llama3_configs

    config = llama3_configs["1B"](attn_backend="flex")
    config.layers = config.layers[:4]
    with torch.device("meta"):
        model = config.build()
    model.to_empty(device="cpu")
    return model


def torchtitan_init(fast: bool) -> Callable[[], float]:
    def run() -> float:
        model = torchtitan_model()
        start = time.perf_counter()
        with ht.fast_init() if fast else contextlib.nullcontext():
            model.init_states(buffer_device=torch.device("cpu"))
        elapsed = time.perf_counter() - start
        del model
        return elapsed
    return run


def vision_models() -> dict[str, Callable[[], torch.nn.Module]]:
    import timm
    import torchvision

    return {
        "timm vit_base_patch16_224": lambda: timm.create_model("vit_base_patch16_224"),
        "timm resnet50": lambda: timm.create_model("resnet50"),
        "torchvision vit_b_16": torchvision.models.vit_b_16,
        "torchvision resnet50": torchvision.models.resnet50,
    }


def construction(build: Callable[[], torch.nn.Module], how: str) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        if how == "deferred_init":
            model = ht.materialize(ht.deferred_init(build), "cpu", init="model")
        else:
            with ht.fast_init() if how == "fast_init" else contextlib.nullcontext():
                model = build()
        elapsed = time.perf_counter() - start
        del model
        return elapsed
    return run


def parameters_of(build: Callable[[], torch.nn.Module]) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in build().parameters())


def best_alternating(variants: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, run in variants.items():
            times[name].append(run())
            gc.collect()
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from transformers import LlamaForCausalLM

    llama_parameters = parameters_of(lambda: LlamaForCausalLM(llama_config()))
    titan_parameters = sum(p.numel() for p in torchtitan_model().parameters())
    torchtitan_init(False)()  # the first init_states call warms torch up (about 1 s)
    transformers_rows = best_alternating({
        "torch": transformers_construction(False), "fast_init": transformers_construction(True),
        "floor": transformers_floor}, args.repeat)
    titan_rows = best_alternating({"torch": torchtitan_init(False),
                                   "fast_init": torchtitan_init(True)}, args.repeat)
    vision_rows = {}
    for name, build in vision_models().items():
        build()  # warm up: timm and torchvision import and cache on the first build
        vision_rows[name] = {"parameters": parameters_of(build), **best_alternating(
            {how: construction(build, how) for how in ("torch", "fast_init", "deferred_init")},
            args.repeat)}
    result = {
        "cpu": platform.processor() or platform.machine(),
        "simd_path": heinit_rs._core.get_simd_path(),
        "threads": heinit_rs.get_num_threads(),
        "torch_threads": torch.get_num_threads(),
        "transformers_llama": {"parameters": llama_parameters, **transformers_rows},
        "torchtitan_llama3_1b_4_layers_init_states": {"parameters": titan_parameters,
                                                       **titan_rows},
        **vision_rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    t, f, floor = (transformers_rows[k] for k in ("torch", "fast_init", "floor"))
    print(f"heinit_rs {heinit_rs.__version__}, {result['simd_path']} path, "
          f"{result['threads']} threads (torch {result['torch_threads']}), best of "
          f"{args.repeat}, alternating")
    print(f"transformers LlamaForCausalLM, {llama_parameters / 1e6:.0f}M parameters:")
    print(f"  torch alone      {t:7.2f} s")
    print(f"  fast_init()      {f:7.2f} s   {t / f:5.1f}x faster, {f / floor:.2f}x the floor")
    print(f"  floor            {floor:7.2f} s   (meta, to_empty, zero_)")
    tt, tf = titan_rows["torch"], titan_rows["fast_init"]
    print(f"torchtitan Llama 3 1B, 4 of 16 layers, {titan_parameters / 1e6:.0f}M parameters, "
          f"init_states():")
    print(f"  torch alone      {tt:7.2f} s")
    print(f"  fast_init()      {tf:7.2f} s   {tt / tf:5.1f}x faster")
    for name, row in vision_rows.items():
        print(f"{name}, {row['parameters'] / 1e6:.0f}M parameters, construction:")
        print(f"  torch alone      {row['torch']:7.2f} s")
        for how in ("fast_init", "deferred_init"):
            print(f"  {how + '()':<16} {row[how]:7.2f} s   {row['torch'] / row[how]:5.1f}x faster")


if __name__ == "__main__":
    main()
