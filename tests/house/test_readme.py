"""The README as a new user meets it: its example runs and makes what it says, its set-up
commands are the ones CI runs, and its Rust example fills what kaiming_normal_ fills."""

import math
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import heinit_rs as hi

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_example_runs_and_makes_what_it_says():
    namespace: dict = {}
    exec(compile(blocks("python")[0], "README.md", "exec"), namespace)
    w, k, shard = namespace["w"], namespace["k"], namespace["shard"]
    assert w.shape == (4096, 4096) and w.dtype == np.float32
    assert abs(float(w.std()) / math.sqrt(2 / 4096) - 1) < 0.01  # He: std = sqrt(2 / fan_in)
    # Keras' he_normal: truncated at 2 std, std = sqrt(2 / fan_in) / 0.8796.
    limit = 2 * math.sqrt(2 / (3 * 3 * 64)) / 0.87962566103423978
    assert k.shape == (3, 3, 64, 128) and float(abs(k).max()) <= limit
    assert np.array_equal(shard, k[:, :, :, :64])


def test_readme_setup_commands_are_the_ones_ci_runs():
    bash = [block.strip() for block in blocks("bash")]
    bench = "python3 -m venv .venv && . .venv/bin/activate && pip install . && heinit-rs bench"
    tests = ("python3 -m venv .venv && . .venv/bin/activate && pip install '.[test]' && "
             "python -m pytest")
    assert bench in bash and tests in bash
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install '.[test]' || exit 1" in ci
    assert re.search(r"^python -m pytest -q -p no:cacheprovider -rs \|\| status=\$\?$", ci, re.M)


def test_the_rust_example_fills_what_kaiming_normal_fills(captured_fills):
    rust = blocks("rust")[0]
    assert "Normal::new(0.0, 2f64.sqrt() / 512f64.sqrt())" in rust
    assert "Stream::new(42, 0)" in rust and "vec![0f32; 256 * 512]" in rust
    w = hi.kaiming_normal_(np.empty((256, 512), np.float32), nonlinearity="relu", seed=42)
    assert captured_fills[-1][:2] == ("normal", [0.0, math.sqrt(2.0) / math.sqrt(512)])
    direct = np.empty((256, 512), np.float32)
    hi._core.Normal(0.0, math.sqrt(2.0) / math.sqrt(512)).fill(direct, 42, 0)
    assert np.array_equal(direct.view(np.uint32), w.view(np.uint32))


def test_the_rust_example_builds_and_runs_as_the_readme_sets_it_up(tmp_path):
    """The README's Rust set-up commands, run as written (the checkout's path for the
    placeholder), then its example as src/main.rs: it builds and prints kaiming_normal_'s w[0]."""
    if shutil.which("cargo") is None:
        pytest.skip("no cargo on PATH (the wheel's environment has no Rust toolchain)")
    setup = next(block for block in blocks("bash") if "cargo add heinit_rs" in block)
    env = {**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target" / "readme-example")}
    script = setup.replace("/path/to/heinit_rs", shlex.quote(str(ROOT)))
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                   check=True, capture_output=True, timeout=600)
    project = tmp_path / "weights"
    (project / "src" / "main.rs").write_text(blocks("rust")[0])
    run = subprocess.run(["cargo", "run", "--quiet"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    u, word, w0 = run.stdout.split()
    assert 0 <= float(u) < 1 and 0 <= int(word) < 2**32
    w = hi.kaiming_normal_(np.empty((256, 512), np.float32), nonlinearity="relu", seed=42)
    assert np.float32(w0) == w[0, 0]
