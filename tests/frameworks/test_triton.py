"""heinit_rs.triton gives heinit_rs.torch's bits: the kernels run under Triton's interpreter
(TRITON_INTERPRET=1, in a process of their own: tests/frameworks/triton_worker.py) on CPU
tensors, so this holds on every machine, CI included. The rounding rules the interpreter
cannot see (it never fuses a multiply-add, and NumPy divides exactly) are checked in the
kernel's source; test_triton_cuda.py checks the compiled kernel where a GPU is."""

import ast
import inspect
from pathlib import Path

import pytest
from conftest import run_python

pytest.importorskip("torch", reason="heinit_rs.triton needs torch")
pytest.importorskip("triton", reason="heinit_rs.triton needs triton (it comes with torch)")

WORKER = Path(__file__).with_name("triton_worker.py")


@pytest.mark.parametrize("check", [
    "grid",  # initializers x dtypes x shapes x strides x blocks
    "generators",  # torch's default generator, a torch.Generator, heinit_rs.Generator, names
    "random_shapes_and_seeds",
    "counters_past_two_to_the_32",
    "stream_file",  # tests/data/stream_v2.json
    "extremes",  # the far tail, float16 subnormals, truncated normals filled on the CPU
    "no_staging_copy_for_a_device_tensor",
])
def test_the_triton_kernels_give_the_cpus_bits(check):
    run = run_python(None, args=(str(WORKER), check), env={"TRITON_INTERPRET": "1"},
                     timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]


def kernel_functions():
    from heinit_rs.triton import _kernel

    tree = ast.parse(inspect.getsource(_kernel))
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_division_and_square_root_only_in_double_precision():
    """On NVIDIA GPUs float32 `/` and tl.sqrt are approximate; float64's are correctly
    rounded. The interpreter divides exactly either way, so the source is checked."""
    double = {"_ln_f64", "_ndtri_abs_f64"}
    for name, function in kernel_functions().items():
        divides = any(isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
                      for node in ast.walk(function))
        roots = "sqrt" in ast.unparse(function)
        assert not (divides or roots) or name in double, name


def test_no_fused_multiply_add_and_bfloat16_rounded_on_the_bits():
    import heinit_rs.triton as gpu

    launch = inspect.getsource(gpu._launch)
    assert "enable_fp_fusion=False" in launch
    source = inspect.getsource(gpu._kernel)
    assert "tl.bfloat16" not in source  # Triton's own casts: the interpreter's truncates
    assert "0x7FFF + ((bits >> 16) & 1)" in source  # to nearest, ties to even, as src/real.rs
