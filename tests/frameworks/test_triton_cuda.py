"""heinit_rs.triton on a CUDA device: the compiled kernel's bits equal the CPU's, memory
outside a view is untouched, and the compiled code keeps the rounding rules (no fused
multiply-add, no approximate single-precision division or square root). Runs only where CUDA
is; tests/frameworks/test_triton.py checks the same bits everywhere under the interpreter."""

import math

import pytest

torch = pytest.importorskip("torch", reason="heinit_rs.triton needs torch")
pytest.importorskip("triton", reason="heinit_rs.triton needs triton")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device: the interpreter tests (test_triton.py) check the bits",
                allow_module_level=True)

import heinit_rs.torch as cpu  # noqa: E402
import heinit_rs.triton as gpu  # noqa: E402

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
CASES = [("kaiming_normal_", {}), ("kaiming_uniform_", {"a": math.sqrt(5)}),
         ("xavier_normal_", {}), ("xavier_uniform_", {}), ("trunc_normal_", {"std": 0.02}),
         ("normal_", {"std": 1e-6}), ("uniform_", {"a": -1.0, "b": 3.0})]


def bits(tensor):
    return tensor.detach().cpu().contiguous().view(
        {2: torch.int16, 4: torch.int32, 8: torch.int64}[tensor.element_size()])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name, kwargs", CASES, ids=[n for n, _ in CASES])
def test_cuda_bits_equal_the_cpus_and_nothing_outside_the_view_is_written(name, kwargs, dtype):
    base = torch.full((512, 2 * 384), 7.0, dtype=dtype, device="cuda")
    view = base[:, ::2]
    getattr(gpu, name)(view, **kwargs, seed=123)
    expected = getattr(cpu, name)(torch.empty(512, 384, dtype=dtype), **kwargs, seed=123)
    assert torch.equal(bits(view), bits(expected))
    assert torch.all(base[:, 1::2] == 7.0)


def test_heinit_rs_torch_fills_a_cuda_tensor_without_a_host_copy(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a staging copy")

    expected = cpu.normal_(torch.empty(1 << 20), seed=2)
    weight = torch.empty(1 << 20, device="cuda")
    monkeypatch.setattr(torch.Tensor, "copy_", refuse)
    cpu.normal_(weight, seed=2)
    monkeypatch.undo()
    assert torch.equal(weight.cpu(), expected)


def test_the_compiled_kernel_keeps_the_rounding_rules():
    gpu.normal_(torch.empty(4096, device="cuda"), seed=1)
    compiled = [kernel for kernel in gpu._kernel.fill_kernel.device_caches[
        torch.cuda.current_device()][0].values()]
    assert compiled
    for kernel in compiled:
        ptx = kernel.asm["ptx"]
        assert "fma.rn.f32" not in ptx and "div.full.f32" not in ptx
        assert "div.approx.f32" not in ptx and "sqrt.approx.f32" not in ptx
        assert ".ftz" not in ptx  # subnormals kept
