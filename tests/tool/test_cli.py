"""heinit-rs bench and --version: what they print is what they measured."""

import json
import math

import numpy as np
import pytest
from conftest import run_python

import heinit_rs
import heinit_rs._cli as cli
from heinit_rs import _core


def test_bench_json_reports_every_workload_consistently(capsys):
    assert cli.main(["bench", "--size", "64", "--repeat", "1", "--json", "--threads", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["size"], report["threads"], report["dtype"]) == (64, 2, "float32")
    # Figures from different machines are never mixed up: the CPU and SIMD path come along.
    assert report["machine"]["simd_path"] == _core.get_simd_path()
    assert report["machine"]["cpu_model"] == cli.cpu_model() and cli.cpu_model()
    names = [w["workload"] for w in report["workloads"]]
    assert names[:7] == ["he_normal_", "he_uniform_", "trunc_normal_", "he_normal new",
                         "he_uniform new", "small (256, 1)", "small (64, 64)"]
    for w in report["workloads"]:
        ours = w["results"]["heinit_rs"]
        for name, r in w["results"].items():
            itemsize = 4 if not w["workload"].startswith("torch bfloat16") else 2
            expected_elements = {"numpy, 256 values": 256,
                                 "memory fill": cli.MEMORY_FILL_BYTES // itemsize}
            assert r["elements"] == expected_elements.get(name, w["elements"])
            assert r["ns_per_element"] == pytest.approx(r["seconds"] / r["elements"] * 1e9)
            assert r["gb_per_s"] == pytest.approx(r["elements"] * itemsize / r["seconds"] / 1e9)
            if name != "heinit_rs":
                assert w["time_relative_to_heinit_rs"][name] == pytest.approx(
                    r["seconds"] / ours["seconds"])
        assert 0 < ours["seconds"] < 1, w  # a 64 x 64 fill takes far less than a second
        # Every workload has a reference: NumPy, or torch for the torch-tensor workloads.
        assert "numpy" in w["results"] or w["workload"] == "trunc_normal_" or (
            "torch" in w["results"] and w["workload"].startswith(("torch", "init_module")))


def test_the_table_prints_each_figure_of_the_report():
    report = {
        "machine": {"cpu_model": "Test CPU", "cpus": 2, "simd_path": "avx2"},
        "versions": {"heinit_rs": "9.9", "numpy": "2.0", "torch": None},
        "size": 8, "dtype": "float16", "threads": 2, "repeat": 3,
        "workloads": [{"workload": "he_normal_", "description": "in place", "elements": 64,
                       "results": {"heinit_rs": {"ns_per_element": 0.5, "gb_per_s": 4.0},
                                   "numpy": {"ns_per_element": 12.25, "gb_per_s": 0.16}},
                       "time_relative_to_heinit_rs": {"numpy": 24.5}}],
    }
    assert cli.format_table(report).splitlines() == [
        "CPU: Test CPU (2 CPUs), SIMD path avx2",
        "heinit_rs 9.9 bench: 8 x 8 float16, 2 threads, best of 3, numpy 2.0, "
        "torch not installed",
        "time x = that implementation's time per call / heinit_rs's (above 1: heinit_rs is "
        "faster)",
        "",
        "he_normal_  (in place, 64 elements)",
        "  implementation        ns/element     GB/s   time x",
        "  heinit_rs                  0.500     4.00         ",
        "  numpy                     12.250     0.16    24.50",
    ]


def test_bench_table_from_the_console_script():
    out = run_python(None, args=("-m", "heinit_rs._cli", "bench", "--size", "32", "--repeat",
                                 "1", "--dtype", "float64")).stdout
    lines = out.splitlines()
    assert lines[0] == (f"CPU: {cli.cpu_model()} ({__import__('os').cpu_count()} CPUs), SIMD "
                        f"path {_core.get_simd_path()}")
    assert lines[1].startswith(f"heinit_rs {heinit_rs.__version__} bench: 32 x 32 float64, ")
    # heinit_rs's own rows: name, ns/element, GB/s and no ratio (it is the reference).
    rows = [row for row in map(str.split, lines) if row[:1] == ["heinit_rs"] and len(row) == 3]
    assert len(rows) >= 7 and all(float(row[1]) > 0 and math.isfinite(float(row[2]))
                                  for row in rows)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_bench_measures_sixteen_bit_fills(dtype, capsys):
    pytest.importorskip("ml_dtypes")
    assert cli.main(["bench", "--size", "32", "--repeat", "1", "--json", "--dtype", dtype]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dtype"] == dtype
    first = report["workloads"][0]["results"]
    # 2 bytes an element: GB/s is elements * 2 / seconds.
    assert first["heinit_rs"]["gb_per_s"] == pytest.approx(
        first["heinit_rs"]["elements"] * 2 / first["heinit_rs"]["seconds"] / 1e9)
    assert {"numpy", "memory fill"} <= first.keys()
    # The memory reference writes past the caches for every dtype (a 32 x 32 array would not):
    # its time per element is per 2-byte output element, at memory speed.
    assert first["memory fill"]["elements"] * 2 == cli.MEMORY_FILL_BYTES


def test_the_numpy_reference_of_a_sixteen_bit_bench_is_rounded_float32():
    """NumPy draws no 16-bit values; the bench's reference is float32 values, scaled, rounded."""
    assert np.dtype(np.float16).itemsize == 2
    workloads = cli.workloads(16, np.dtype(np.float16), 1)
    arr = workloads[0].runs["numpy"]()
    assert arr.dtype == np.float16 and arr.shape == (16, 16) and np.isfinite(arr).all()
    assert 0.1 < float(arr.astype(np.float32).std()) < 0.7  # std = sqrt(2 / 16) = 0.35


def test_bench_rejects_bad_sizes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--size", "0"])
    assert "--size: must be a positive int, got '0'" in capsys.readouterr().err


def test_version_names_the_package_stream_and_simd_paths(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"heinit-rs {heinit_rs.__version__} (stream version {heinit_rs.STREAM_VERSION}; SIMD: "
        f"{', '.join(_core.supported_simd_paths())})")


def test_the_small_call_reference_is_labelled_in_the_table(capsys):
    assert cli.main(["bench", "--size", "32", "--repeat", "1"]) == 0
    small = capsys.readouterr().out.split("small (64, 64)")[1]
    assert "  numpy, 256 values " in small


def test_a_size_that_cannot_be_allocated_gives_a_clear_error(capsys, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 298. GiB")

    monkeypatch.setattr(cli, "run_bench", out_of_memory)
    assert cli.main(["bench", "--size", "200000"]) == 2
    err = capsys.readouterr().err
    assert "--size 200000 needs arrays of 149.0 GiB each" in err
    assert "pass a smaller --size" in err and "Traceback" not in err


def run_cli(*args, env=None):
    return run_python(None, args=("-m", "heinit_rs._cli", *args), env=env, check=False)


LACKING_PATH = next(p for p in _core.ALL_SIMD_PATHS if p not in _core.supported_simd_paths())


@pytest.mark.parametrize("args, env, message", [
    (("--size", "10000000000"), {}, "heinit-rs bench: --size 10000000000 needs arrays of"),
    (("--size", "100000000000"), {}, "heinit-rs bench: --size 100000000000 needs arrays of"),
    ((), {"HEINIT_RS_SIMD": "bogus"}, 'heinit-rs bench: HEINIT_RS_SIMD="bogus" is not valid: '
                                      "SIMD path must be one of"),
    ((), {"HEINIT_RS_SIMD": LACKING_PATH},
     f'heinit-rs bench: HEINIT_RS_SIMD="{LACKING_PATH}" is not valid: this CPU does not '
     f"support the {LACKING_PATH} path"),
    ((), {"HEINIT_RS_NUM_THREADS": "abc"}, 'heinit-rs bench: HEINIT_RS_NUM_THREADS="abc" is not '
                                           "valid: it must be a positive integer"),
    (("--size", "0"), {}, "heinit-rs bench: error: argument --size: must be a positive int"),
    (("--dtype", "int8"), {}, "heinit-rs bench: error: argument --dtype: invalid choice"),
])
def test_bad_input_is_one_line_and_exit_code_2_never_a_traceback(args, env, message):
    """Before any measuring: the bench runs nothing it was not asked for. The import warning of
    a bad environment variable comes first; the bench's own word is one line."""
    result = run_cli("bench", "--repeat", "1", *args, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    own = [line for line in result.stderr.splitlines() if line.startswith("heinit-rs bench")]
    assert len(own) == 1 and own[0].startswith(message), result.stderr
    assert result.stdout == ""


def test_one_element_and_the_defaults_in_help(capsys):
    assert cli.main(["bench", "--size", "1", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "(kaiming_normal_(relu) in place, 1 element)" in out and "1 elements" not in out
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--repeat REPEAT runs per measurement; the best is kept (7)" in help_text
    assert "--size SIZE side of the square array (4096)" in help_text
