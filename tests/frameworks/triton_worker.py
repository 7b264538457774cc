"""Checks of heinit_rs.triton, run by tests/frameworks/test_triton.py in a process of their own
with TRITON_INTERPRET=1 (Triton's interpreter must be chosen before triton is imported and
stay chosen), so that the kernels run on CPU tensors and their bits can be compared with
heinit_rs.torch's. Each check raises AssertionError naming the first case that differs."""

import hashlib
import json
import math
import os
import random
from pathlib import Path

assert os.environ.get("TRITON_INTERPRET") == "1", "run with TRITON_INTERPRET=1"

import torch  # noqa: E402

import heinit_rs  # noqa: E402
import heinit_rs.torch as cpu  # noqa: E402
import heinit_rs.triton as gpu  # noqa: E402
from heinit_rs._random import FixedStream  # noqa: E402
from heinit_rs.torch import _fill, _ops  # noqa: E402

DATA = Path(__file__).parents[1] / "data"
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INITIALIZERS = [
    ("kaiming_normal_", {"nonlinearity": "relu"}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("xavier_normal_", {"gain": 2.0}),
    ("xavier_uniform_", {}),
    ("trunc_normal_", {"std": 0.02}),
    ("trunc_normal_", {"mean": 0.3, "std": 1.0, "a": -2.0, "b": 2.5}),
    ("normal_", {"mean": 1.0, "std": 0.5}),
    ("uniform_", {"a": -1.0, "b": 3.0}),
]
INTEGER = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def bits(tensor):
    return tensor.detach().contiguous().view(INTEGER[tensor.element_size()])


def assert_same(name, kwargs, make, **where):
    """heinit_rs.triton's fill of make() equals heinit_rs.torch's, bit for bit, and leaves
    the memory around a view as it was."""
    ours, theirs = make(), make()
    getattr(cpu, name)(theirs, **kwargs, **where)
    getattr(gpu, name)(ours, **kwargs, **where)
    case = (name, kwargs, tuple(ours.shape), ours.dtype, where)
    assert torch.equal(bits(ours), bits(theirs)), case
    if ours._base is not None:  # the rest of the base untouched: the same in both
        assert torch.equal(bits(ours._base), bits(theirs._base)), case


def grid():
    """Initializers x dtypes x shapes (0 and 1 elements, 1-D to 4-D) x strides x blocks."""
    checked = 0
    for dtype in DTYPES:
        views = {
            "contiguous": lambda shape: torch.empty(shape, dtype=dtype),
            "transposed": lambda shape: torch.full(shape[::-1], 7.0, dtype=dtype).mT
            if len(shape) > 1 else torch.full(shape, 7.0, dtype=dtype),
            "every other row": lambda shape: torch.full((2 * shape[0], *shape[1:]), 7.0,
                                                        dtype=dtype)[::2],
        }
        for name, kwargs in INITIALIZERS:
            fans = name.startswith(("kaiming", "xavier"))
            shapes = [(48, 40), (3, 5, 7, 2), (17, 1)] + ([] if fans else [(0,), (1,), (1000,)])
            for shape in shapes:
                for view, make in views.items():
                    if 0 in shape and view != "contiguous":
                        continue
                    assert_same(name, kwargs, lambda: make(shape), seed=20241204)
                    checked += 1
            assert_same(name, kwargs, lambda: torch.empty(16, 40, dtype=dtype), seed=3,
                        global_shape=(64, 40), index=(slice(8, 24), slice(None)))
            assert_same(name, kwargs, lambda: torch.empty(5, 7, dtype=dtype), seed=3,
                        global_shape=(3, 5, 7), index=(1, slice(None), slice(None)))
            checked += 2
    print("grid", checked)


def generators():
    """Keys from torch's default generator, a torch.Generator, a heinit_rs.Generator and a
    name key, as heinit_rs.torch takes them."""
    for dtype in DTYPES:
        torch.manual_seed(5)
        ours = gpu.normal_(torch.empty(300, dtype=dtype))
        torch.manual_seed(5)
        assert torch.equal(bits(ours), bits(cpu.normal_(torch.empty(300, dtype=dtype))))
        g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
        assert torch.equal(bits(gpu.uniform_(torch.empty(300, dtype=dtype), generator=g1)),
                           bits(cpu.uniform_(torch.empty(300, dtype=dtype), generator=g2)))
        h1, h2 = heinit_rs.Generator(4), heinit_rs.Generator(4)
        for _ in range(2):  # consecutive draws
            assert torch.equal(bits(gpu.trunc_normal_(torch.empty(300, dtype=dtype), seed=h1)),
                               bits(cpu.trunc_normal_(torch.empty(300, dtype=dtype), seed=h2)))
        key = cpu.name_key(11, "layers.3.attention.wq.weight")
        ours = gpu.fill(torch.empty(64, 32, dtype=dtype), "kaiming_uniform_",
                        FixedStream(key, 2), None, None, (0.0, "fan_in", "relu"))
        theirs = _fill.fill_memory(torch.empty(64, 32, dtype=dtype), "kaiming_uniform_",
                                   FixedStream(key, 2), None, None, (0.0, "fan_in", "relu"))
        assert torch.equal(bits(ours), bits(theirs)), dtype
    print("generators ok")


def random_shapes_and_seeds(cases=40):
    """A property test: random shapes, seeds, initializers, dtypes and blocks."""
    rng = random.Random(31)
    for _ in range(cases):
        name, kwargs = rng.choice(INITIALIZERS)
        dtype = rng.choice(DTYPES)
        ndim = rng.randint(2, 4)
        shape = tuple(rng.randint(1, 9) for _ in range(ndim))
        seed = rng.randrange(2**64)
        offset = rng.randint(0, 5)
        global_shape = (shape[0] + offset + rng.randint(0, 3), *shape[1:])
        index = (slice(offset, offset + shape[0]),)
        assert_same(name, kwargs, lambda: torch.empty(shape, dtype=dtype), seed=seed)
        assert_same(name, kwargs, lambda: torch.empty(shape, dtype=dtype), seed=seed,
                    global_shape=global_shape, index=index)
    print("random ok", cases)


def counters_past_two_to_the_32():
    """A block of a weight with more than 2^32 elements: counters past 32 bits."""
    rows = 2**20
    for dtype in DTYPES:
        for name, kwargs in INITIALIZERS[:3] + INITIALIZERS[6:]:
            assert_same(name, kwargs, lambda: torch.empty(3, 8192, dtype=dtype), seed=77,
                        global_shape=(rows, 8192), index=slice(rows - 3, rows))
    print("counters ok", rows * 8192 > 2**32)


def stream_file():
    """tests/data/stream_v2.json through the Triton kernels."""
    frozen = json.loads((DATA / "stream_v2.json").read_text())
    functions = {
        "normal_": lambda t, seed: gpu.normal_(t, 0.25, 1.5, seed=seed),
        "uniform_": lambda t, seed: gpu.uniform_(t, -1.0, 3.0, seed=seed),
        "trunc_normal_": lambda t, seed: gpu.trunc_normal_(t, 0.0, 1.0, -1.0, 2.5, seed=seed),
        "kaiming_normal_": lambda t, seed: gpu.kaiming_normal_(t, seed=seed),
    }
    for name, by_dtype in frozen["first_values"].items():
        for dtype, expected in by_dtype.items():
            out = functions[name](torch.empty(4, 8, dtype=getattr(torch, dtype)), 2024)
            got = [v & (2 ** (8 * out.element_size()) - 1) for v in bits(out).ravel().tolist()]
            assert got == expected, (name, dtype)
    fills = {"normal_": lambda t: gpu.normal_(t, seed=5),
             "uniform_": lambda t: gpu.uniform_(t, -1, 1, seed=5),
             "trunc_normal_": lambda t: gpu.trunc_normal_(t, seed=5)}
    for key, digest in frozen["sha256_1000x1000_seed5"].items():
        name, dtype = key.split("/")
        out = fills[name](torch.empty(1000, 1000, dtype=getattr(torch, dtype)))
        assert hashlib.sha256(out.numpy().tobytes()).hexdigest() == digest, key
    print("stream file ok")


def extremes():
    """The normal's far tail beyond the float32 table (1 value in 5500), subnormal float16
    values, intervals the truncated normal fills through the CPU (beyond 5 sigma, narrow)."""
    for dtype in DTYPES:
        assert_same("normal_", {}, lambda: torch.empty(60_000, dtype=dtype), seed=8)
        assert_same("normal_", {"std": 1e-6}, lambda: torch.empty(20_000, dtype=dtype), seed=8)
        for a, b in ((6.0, 7.0), (0.1, 0.1001), (-40.0, -39.0)):
            assert_same("trunc_normal_", {"a": a, "b": b},
                        lambda: torch.empty(2000, dtype=dtype), seed=8)
    print("extremes ok")


def no_staging_copy_for_a_device_tensor():
    """heinit_rs.torch sends a device tensor to the Triton kernel: here a CPU tensor is taken
    for one (the interpreter runs the kernel on it), and no staging copy may happen."""
    expected = cpu.kaiming_normal_(torch.empty(64, 48), seed=1)
    _ops.on_device = lambda tensor: True  # as for a CUDA tensor
    copy = torch.Tensor.copy_

    def refuse(*args, **kwargs):
        raise AssertionError("a staging copy")

    torch.Tensor.copy_ = refuse
    try:
        got = cpu.kaiming_normal_(torch.empty(64, 48), seed=1)
    finally:
        torch.Tensor.copy_ = copy
    assert torch.equal(got, expected)
    print("no staging ok")


if __name__ == "__main__":
    import sys

    for check in sys.argv[1:]:
        globals()[check]()
