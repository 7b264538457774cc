"""The stream contract (docs/stream-spec.md): values depend on seed and index only."""

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import bits, run_python

import heinit_rs as h
from heinit_rs import _core



DATA = Path(__file__).parents[1] / "data"

FUNCTIONS = {
    "normal_": lambda arr, seed, **kw: h.normal_(arr, 0.25, 1.5, seed=seed, **kw),
    "uniform_": lambda arr, seed, **kw: h.uniform_(arr, -1.0, 3.0, seed=seed, **kw),
    "trunc_normal_": lambda arr, seed, **kw: h.trunc_normal_(arr, 0.0, 1.0, -1.0, 2.5, seed=seed,
                                                              **kw),
    "kaiming_normal_": lambda arr, seed, **kw: h.kaiming_normal_(arr, seed=seed, **kw),
}


def test_philox_known_answer_vectors():
    # Random123's kat_vectors for philox4x32_10.
    assert _core.philox4x32_10([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C,
                                                          0x9B00DBD8]
    assert _core.philox4x32_10([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2) == [0x408F276D, 0x41C83B0E,
                                                                       0xA20BC7C6, 0x6D5451FD]
    assert _core.philox4x32_10([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
                               [0xA4093822, 0x299F31D0]) == [0xD16CFE09, 0x94FDCCEB, 0x5001E420,
                                                             0x24126EA1]


def test_stream_vectors_are_frozen():
    """The first values of each distribution and dtype, as frozen for STREAM_VERSION: changing
    any value means a new version and a new file (docs/stream-spec.md)."""
    assert h.STREAM_VERSION == 2
    frozen = json.loads((DATA / f"stream_v{h.STREAM_VERSION}.json").read_text())
    for name, by_dtype in frozen["first_values"].items():
        for dtype, expected in by_dtype.items():
            arr = FUNCTIONS[name](np.empty((4, 8), dtype), seed=2024)
            assert bits(arr).ravel().tolist() == expected, (name, dtype)
    fills = {"normal_": lambda a: h.normal_(a, seed=5), "uniform_": lambda a: h.uniform_(a, -1, 1, seed=5),
             "trunc_normal_": lambda a: h.trunc_normal_(a, seed=5)}
    for key, digest in frozen["sha256_1000x1000_seed5"].items():
        name, dtype = key.split("/")
        arr = fills[name](np.empty((1000, 1000), dtype))
        assert hashlib.sha256(arr.tobytes()).hexdigest() == digest, key


def float32_words(seed, count):
    """The 32-bit word each of the first `count` float32 elements uses (docs/stream-spec.md):
    element 64g + 16k + j takes word k of block 16g + j of stream 0."""
    key = [seed & 0xFFFFFFFF, seed >> 32]
    words = []
    for element in range(count):
        group, k, j = element // 64, element % 64 // 16, element % 16
        block = 16 * group + j
        words.append(_core.philox4x32_10([block & 0xFFFFFFFF, block >> 32, 0, 0], key)[k])
    return np.array(words, dtype=np.uint64)


@pytest.mark.parametrize("seed", [0, 2**40 + 7])
def test_float32_normal_is_phi_inverse_of_its_draw(seed):
    """Rebuilt from the spec and Philox alone: the sign is the top bit, and |z| is within
    3e-7 relative of Phi^-1 at the draw's exact probability, 1 - (2^31 - r - 1/2) 2^-32."""
    from scipy.special import ndtri

    count = 4096
    words = float32_words(seed, count)
    got = h.normal_(np.empty(count, np.float32), seed=seed).astype(np.float64)
    np.testing.assert_array_equal(got < 0, words >> 31 == 1)
    r = (words & 0x7FFFFFFF).astype(np.float64)
    exact = -ndtri((2.0**31 - r - 0.5) * 2.0**-32)
    assert np.max(np.abs(np.abs(got) - exact) / exact) < 3e-7


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_counts_give_identical_bits(name, dtype, threads):
    results = []
    for n in (1, 2, 3, 5):
        h.set_num_threads(n)
        assert h.get_num_threads() == n
        results.append(bits(FUNCTIONS[name](np.empty((700, 1100), dtype), seed=7)))
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)


def test_done_when_example_one_and_two_threads(threads):
    h.set_num_threads(1)
    one = bits(h.kaiming_normal_(np.empty((4096, 4096), np.float32), seed=0))
    h.set_num_threads(2)
    two = bits(h.kaiming_normal_(np.empty((4096, 4096), np.float32), seed=0))
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shards_equal_slices_of_the_whole(dtype):
    shape = (257, 3, 129)
    full = h.he_normal(shape, dtype=dtype, seed=11)
    for index in [np.s_[0:100], np.s_[100:257, 1:3], np.s_[5:6, :, 3:128], np.s_[:, 2, 7:9],
                  np.s_[-10:], np.s_[3, 1, 5], (slice(None), slice(0, 0))]:
        np.testing.assert_array_equal(bits(h.he_normal(shape, dtype=dtype, seed=11, index=index)),
                                      bits(full[index]))


def test_in_place_blocks_assemble_the_whole():
    shape = (300, 200)
    full = h.kaiming_uniform(shape, seed=5)
    assembled = np.empty(shape, np.float32)
    for rows in range(0, 300, 64):
        for cols in (slice(0, 77), slice(77, 200)):
            block = np.empty((min(64, 300 - rows), cols.stop - cols.start), np.float32)
            h.kaiming_uniform_(block, seed=5, global_shape=shape,
                               index=(slice(rows, rows + 64 if rows + 64 < 300 else None), cols))
            assembled[rows:rows + block.shape[0], cols] = block
    np.testing.assert_array_equal(bits(assembled), bits(full))


def test_huge_global_shape_shard():
    shape = (10**7, 10**7)
    corner = h.kaiming_normal(shape, seed=1, index=np.s_[-2:, -3:])
    assert corner.shape == (2, 3) and np.isfinite(corner).all()
    again = h.kaiming_normal(shape, seed=1, index=np.s_[10**7 - 1, -3:])
    np.testing.assert_array_equal(bits(again), bits(corner[1]))


@pytest.mark.parametrize("make_view", [
    lambda a: a.T,
    lambda a: a[::2],
    lambda a: a[:, ::3],
    lambda a: a[::-1, ::-1],
    lambda a: np.asfortranarray(a),
    lambda a: a[10:20, 5:60],
])
def test_non_contiguous_arrays_equal_contiguous_fills(make_view):
    base = np.full((120, 90), -7.0, np.float32)
    view = make_view(base)
    expected = h.normal_(np.empty(view.shape, np.float32), seed=3)
    h.normal_(view, seed=3)
    np.testing.assert_array_equal(bits(np.ascontiguousarray(view)), bits(expected))
    if np.shares_memory(view, base):
        covered = np.zeros(base.shape, bool)
        make_view(covered)[...] = True
        assert (base[~covered] == -7.0).all()


def test_same_seed_same_bits_and_different_seeds_differ():
    a = bits(h.kaiming_normal((64, 64), seed=42))
    assert np.array_equal(a, bits(h.kaiming_normal((64, 64), seed=42)))
    assert not np.array_equal(a, bits(h.kaiming_normal((64, 64), seed=43)))
    assert np.array_equal(bits(h.kaiming_normal((64, 64), seed=2**64 - 1)),
                          bits(h.kaiming_normal((64, 64), seed=np.uint64(2**64 - 1))))


def test_generator_sequences():
    g1, g2 = h.Generator(9), h.Generator(9)
    first, second = h.kaiming_normal((32, 32), seed=g1), h.kaiming_normal((32, 32), seed=g1)
    assert not np.array_equal(first, second)
    assert np.array_equal(first, h.kaiming_normal((32, 32), seed=g2))
    assert np.array_equal(second, h.kaiming_normal((32, 32), seed=g2))
    # The first draw of Generator(s) is seed=s.
    assert np.array_equal(first, h.kaiming_normal((32, 32), seed=9))
    assert g1.draws == 2 and g1.key == 9


def test_spawned_generators_are_distinct_and_reproducible():
    children = h.Generator(4).spawn(3)
    again = h.Generator(4).spawn(3)
    values = [bits(h.normal_(np.empty(16, np.float32), seed=c)) for c in children]
    assert [c.key for c in children] == [c.key for c in again]
    assert len({v.tobytes() for v in values}) == 3
    more = h.Generator(4)
    more.spawn(3)
    assert [c.key for c in more.spawn(2)] != [c.key for c in children[:2]]


def test_manual_seed_makes_default_draws_reproducible():
    h.manual_seed(123)
    first = h.kaiming_normal((16, 16))
    second = h.kaiming_normal((16, 16))
    h.manual_seed(123)
    assert np.array_equal(first, h.kaiming_normal((16, 16)))
    assert np.array_equal(second, h.kaiming_normal((16, 16)))
    assert h.default_generator().draws == 2


FREE_THREADED = [name for name in ("python3.14t", "python3.13t", "python3t")
                 if shutil.which(name)]


def _share(generator, draw, threads, per_thread):
    """`draw(generator)` `per_thread` times on each of `threads` threads started together."""
    results = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def work(mine):
        start.wait()
        mine.extend(draw(generator) for _ in range(per_thread))

    workers = [threading.Thread(target=work, args=(r,)) for r in results]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers)
    return [x for mine in results for x in mine]


@pytest.mark.parametrize("how", ["next_stream", "default generator", "initializer calls",
                                 "free-threaded CPython"])
def test_threads_sharing_a_generator_get_every_stream_once(how):
    """However a Generator is shared between threads, each stream is handed out exactly once
    and none is skipped."""
    if how == "next_stream":
        streams = _share(h.Generator(0), lambda g: g.next_stream()[1], 16, 10**4)
        assert sorted(streams) == list(range(16 * 10**4))
    elif how == "default generator":
        h.manual_seed(77)
        streams = _share(None, lambda _: h.default_generator().next_stream()[1], 8, 200)
        assert sorted(streams) == list(range(1600)) and h.default_generator().draws == 1600
    elif how == "initializer calls":
        generator = h.Generator(5)
        made = _share(generator, lambda g: h.kaiming_normal((64, 64), seed=g).tobytes(), 8, 50)
        serial = h.Generator(5)
        assert generator.draws == 400
        assert sorted(made) == sorted(h.kaiming_normal((64, 64), seed=serial).tobytes()
                                      for _ in range(400))
    else:
        if not FREE_THREADED:
            pytest.skip("no free-threaded CPython (python3.13t, python3.14t) on PATH; Debian 12 "
                        "packages none")
        # The Generator is pure Python: loaded alone, with the GIL off, it keeps its promise.
        source = Path(h.__file__).with_name("_random.py")
        out = run_python(f"""
            import importlib.util, sys, threading
            assert not sys._is_gil_enabled()
            spec = importlib.util.spec_from_file_location("generator_alone", {str(source)!r})
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            g = module.Generator(0)
            seen = [[] for _ in range(16)]
            start = threading.Barrier(16)
            def draw(mine):
                start.wait()
                mine.extend(g.next_stream()[1] for _ in range(10**4))
            threads = [threading.Thread(target=draw, args=(s,)) for s in seen]
            [t.start() for t in threads]
            [t.join() for t in threads]
            assert sorted(s for mine in seen for s in mine) == list(range(16 * 10**4))
            print("ok")
            """, executable=FREE_THREADED[0], args=("-X", "gil=0"))
        assert out.stdout.strip() == "ok"


def test_environment_variable_sets_threads():
    code = "import heinit_rs; print(heinit_rs.get_num_threads())"
    out = run_python(code, env={"HEINIT_RS_NUM_THREADS": "3"}).stdout
    assert out.strip() == "3"
    bad = run_python(code, env={"HEINIT_RS_NUM_THREADS": "lots"}, args=("-W", "always"))
    assert int(bad.stdout) == os.cpu_count()


@pytest.mark.parametrize("variable, value, problem, fallback", [
    ("HEINIT_RS_NUM_THREADS", "lots", "it must be a positive integer",
     f"using the number of CPUs ({os.cpu_count()}) instead; set_num_threads(n) sets it"),
    ("HEINIT_RS_NUM_THREADS", "0", "it must be a positive integer", "using the number of CPUs"),
    ("HEINIT_RS_SIMD", "bogus", "SIMD path must be one of scalar, baseline, avx2, avx512, neon, "
     'got "bogus"', "using the best path this CPU has"),
    ("HEINIT_RS_SIMD", next(p for p in _core.ALL_SIMD_PATHS
                            if p not in _core.supported_simd_paths()),
     "this CPU does not support the", "using the best path this CPU has"),
])
def test_a_bad_environment_variable_warns_once_in_the_users_code_and_is_ignored(
        tmp_path, variable, value, problem, fallback):
    """Every variable alike: one RuntimeWarning, attributed to the line of the user's code that
    imported heinit_rs (not to importlib), naming the value, the rule and the fallback; then
    heinit_rs runs as if it were unset."""
    script = tmp_path / "user_code.py"
    script.write_text("import os\nimport heinit_rs\n"
                      "print(heinit_rs.get_num_threads(), heinit_rs._core.get_simd_path())\n")
    result = run_python(None, env={variable: value}, args=("-W", "always", str(script)))
    warnings = [line for line in result.stderr.splitlines() if "Warning" in line]
    assert warnings == [f'{script}:2: RuntimeWarning: {variable}="{value}" is not valid: '
                        f"{problem}" + warnings[0].split(problem, 1)[1]]
    assert f"; {fallback}" in warnings[0]
    unset = run_python(None, drop=[variable], args=(str(script),))
    assert result.stdout == unset.stdout and unset.stderr == ""


@pytest.fixture
def simd_path():
    before = _core.get_simd_path()
    yield
    _core.set_simd_path(before)


ALL_PATHS = _core.ALL_SIMD_PATHS


def _require(path):
    if path not in _core.supported_simd_paths():
        pytest.skip(f"this CPU has no {path} path (supported: {_core.supported_simd_paths()})")


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_every_simd_path_gives_identical_bits(path, name, dtype, simd_path):
    """Each path, including the one this CPU picks by default, equals the scalar reference;
    a path this CPU lacks is reported as a skip, not passed over. float16 is rounded by F16C
    on the avx2 and avx512 paths and in software on the others."""
    _require(path)
    _core.set_simd_path("scalar")
    reference = bits(FUNCTIONS[name](np.empty((333, 517), dtype), seed=21))
    _core.set_simd_path(path)
    assert _core.get_simd_path() == path
    result = bits(FUNCTIONS[name](np.empty((333, 517), dtype), seed=21))
    np.testing.assert_array_equal(result, reference, err_msg=path)


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("std", [1e-6, 1.0, 9000.0])
def test_float16_rounding_is_the_same_on_every_path(path, std, simd_path):
    """Subnormals (std 1e-6), normal values and values near float16's largest (std 9000 reaches
    about 57000): F16C's rounding equals the software rounding of the other paths."""
    _require(path)
    _core.set_simd_path("scalar")
    reference = bits(h.normal_(np.empty(100_003, np.float16), 0.0, std, seed=4))
    _core.set_simd_path(path)
    result = bits(h.normal_(np.empty(100_003, np.float16), 0.0, std, seed=4))
    np.testing.assert_array_equal(result, reference, err_msg=path)


@pytest.mark.parametrize("path", ALL_PATHS)
def test_the_stream_file_holds_on_every_path(path, simd_path):
    """tests/data/stream_v2.json on each path this CPU has."""
    _require(path)
    _core.set_simd_path(path)
    test_stream_vectors_are_frozen()


def test_default_path_is_the_best_the_cpu_has():
    code = "import heinit_rs._core as c; print(c.get_simd_path(), c.supported_simd_paths())"
    out = run_python(code, drop=["HEINIT_RS_SIMD"]).stdout.split(" ", 1)
    best = [p for p in ("avx512", "avx2", "neon") if p in out[1]]
    assert out[0] == (best[0] if best else "baseline")


def test_unknown_or_unsupported_simd_path(simd_path):
    with pytest.raises(ValueError, match="SIMD path must be one of"):
        _core.set_simd_path("sse9")
    # Every CPU lacks one of these (NEON on x86-64, AVX2 and AVX-512 on aarch64).
    lacking = next(p for p in ALL_PATHS if p not in _core.supported_simd_paths())
    before = _core.get_simd_path()
    with pytest.raises(ValueError, match=f"this CPU does not support the {lacking} path"):
        _core.set_simd_path(lacking)
    assert _core.get_simd_path() == before
    out = run_python("import heinit_rs._core as c; print(c.get_simd_path())",
                     env={"HEINIT_RS_SIMD": "scalar"})
    assert out.stdout.strip() == "scalar"
