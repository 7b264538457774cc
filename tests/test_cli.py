import json
import subprocess
import sys

import heinit_rs._cli as cli


def test_bench_json_reports_every_workload(capsys):
    assert cli.main(["bench", "--size", "64", "--repeat", "1", "--json", "--threads", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["size"] == 64 and report["threads"] == 2
    # Figures from different machines are never mixed up: the CPU and SIMD path come along.
    from heinit_rs import _core

    assert report["machine"]["simd_path"] == _core.get_simd_path()
    assert report["machine"]["cpu_model"] == cli.cpu_model() and cli.cpu_model()
    names = [w["workload"] for w in report["workloads"]]
    assert names[:5] == [
        "he_normal_", "he_uniform_", "trunc_normal_", "he_normal new", "he_uniform new"]
    for w in report["workloads"]:
        ours = w["results"]["heinit_rs"]
        assert ours["ns_per_element"] > 0 and ours["gb_per_s"] > 0
        # Every workload has a reference: NumPy, or torch for the torch-tensor workloads.
        assert "numpy" in w["results"] or w["workload"] == "trunc_normal_" or (
            "torch" in w["results"] and w["workload"].startswith(("torch", "init_module")))


def test_bench_table_from_the_console_script():
    out = subprocess.run([sys.executable, "-m", "heinit_rs._cli", "bench", "--size", "32",
                          "--repeat", "1", "--dtype", "float64"],
                         capture_output=True, text=True, check=True).stdout
    assert "32 x 32 float64" in out and "he_normal_" in out and "numpy" in out
    assert out.startswith(f"CPU: {cli.cpu_model()}") and "SIMD path" in out.splitlines()[0]


def test_bench_rejects_bad_sizes(capsys):
    import pytest

    with pytest.raises(SystemExit):
        cli.main(["bench", "--size", "0"])
    assert "--size" in capsys.readouterr().err


def test_version_names_the_package_stream_and_simd_paths(capsys):
    import pytest

    import heinit_rs

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"heinit-rs {heinit_rs.__version__} (stream version "
                          f"{heinit_rs.STREAM_VERSION}")
    assert heinit_rs._core.get_simd_path() in out


def test_the_small_call_reference_is_labelled_in_the_table(capsys):
    assert cli.main(["bench", "--size", "32", "--repeat", "1"]) == 0
    assert "numpy, 256 values" in capsys.readouterr().out


def test_a_size_that_cannot_be_allocated_gives_a_clear_error(capsys, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 298. GiB")

    monkeypatch.setattr(cli, "run_bench", out_of_memory)
    assert cli.main(["bench", "--size", "200000"]) == 2
    err = capsys.readouterr().err
    assert "--size 200000 needs arrays of 149.0 GiB each" in err
    assert "pass a smaller --size" in err and "Traceback" not in err
