"""heinit_rs.dask on the real distributed scheduler: a LocalCluster of worker processes
computes each chunk alone, and the result equals the in-memory array bit for bit. Skipped
where dask.distributed is not installed."""

import importlib.util
import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="heinit_rs.dask needs dask (pip install "
                         "'dask[array]' distributed)")
distributed = pytest.importorskip("distributed", reason="needs dask.distributed")
import heinit_rs  # noqa: E402
import heinit_rs.dask as hd  # noqa: E402

# The cluster's own shutdown and its workers' heartbeats may warn about closed comms.
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning",
                                        "ignore::DeprecationWarning")
WORKER_MEMORY = 400 * 2**20


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       memory_limit=WORKER_MEMORY, dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("chunks", [(300, 250), "auto", ((1, 999), (700,)), 128])
def test_chunks_on_workers_equal_the_in_memory_array(client, dtype, chunks):
    if dtype == "bfloat16" and importlib.util.find_spec("ml_dtypes") is None:
        pytest.skip("bfloat16 needs ml_dtypes")
    lazy = hd.he_normal((1000, 700), chunks=chunks, dtype=dtype, seed=5)
    result = client.compute(lazy).result()
    np.testing.assert_array_equal(result, heinit_rs.he_normal((1000, 700), dtype=dtype, seed=5))


@pytest.mark.parametrize("name, kwargs", [
    ("kaiming_normal", {"nonlinearity": "relu"}),
    ("kaiming_uniform", {"a": 5 ** 0.5}),
    ("variance_scaling", {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}),
    ("glorot_normal", {"layout": "jax", "in_axis": 0, "out_axis": 1}),
    ("lecun_uniform", {}),
])
def test_every_initializer_equals_its_numpy_twin(client, name, kwargs):
    shape = (64, 48, 3, 3)
    lazy = getattr(hd, name)(shape, **kwargs, chunks=(16, 24, 3, 3), seed=9)
    np.testing.assert_array_equal(client.compute(lazy).result(),
                                  getattr(heinit_rs, name)(shape, **kwargs, seed=9))


def test_the_graph_is_one_small_task_per_chunk():
    lazy = hd.he_uniform((40_000, 30_000), chunks=(5_000, 10_000), seed=1)
    assert lazy.numblocks == (8, 3)
    graph = dict(lazy.__dask_graph__())
    assert len(graph) == 24
    assert len(pickle.dumps(graph)) < 200 * 24  # a few hundred bytes a task, no arrays


def test_one_draw_when_built_and_none_on_workers(client):
    generator = heinit_rs.Generator(4)
    first = hd.glorot_uniform((300, 200), chunks=100, seed=generator)
    second = hd.glorot_uniform((300, 200), chunks=100, seed=generator)
    assert generator.draws == 2
    twin = heinit_rs.Generator(4)
    for lazy in (first, second):
        np.testing.assert_array_equal(client.compute(lazy).result(),
                                      heinit_rs.glorot_uniform((300, 200), seed=twin))
    client.compute(first).result()
    assert generator.draws == 2



def test_an_array_larger_than_a_worker_reduces(client):
    """1 GiB of float32 on workers limited to 400 MiB each: generated chunk by chunk, reduced,
    never held."""
    shape = (16384, 16384)
    lazy = hd.kaiming_normal(shape, nonlinearity="relu", chunks=(1024, 2048), seed=2)
    assert lazy.nbytes > 2.5 * WORKER_MEMORY
    std, largest = client.compute([lazy.std(), abs(lazy).max()], sync=True)
    expected = (2 / 16384) ** 0.5
    assert std == pytest.approx(expected, rel=1e-3)
    # z_max of 2**28 normals is about 6; the float32 kernel's largest |z| is 6.338 (the reach
    # src/distributions.rs checks overflow against).
    assert 5.0 * expected < largest <= 6.34 * expected
    block = heinit_rs.kaiming_normal(shape, nonlinearity="relu", seed=2,
                                     index=np.s_[6000:6100, 9000:9300])
    np.testing.assert_array_equal(client.compute(lazy[6000:6100, 9000:9300]).result(), block)


def test_a_store_to_disk_reads_back_equal(client, tmp_path):
    lazy = hd.he_normal((600, 500), chunks=(200, 250), seed=3)
    expected = heinit_rs.he_normal((600, 500), seed=3)
    if importlib.util.find_spec("zarr") is not None:
        lazy.to_zarr(str(tmp_path / "w.zarr"))
        stored = da.from_zarr(str(tmp_path / "w.zarr"))
    else:
        da.to_npy_stack(str(tmp_path / "w"), lazy, axis=0)
        stored = da.from_npy_stack(str(tmp_path / "w"))
    np.testing.assert_array_equal(stored.compute(), expected)


@pytest.mark.parametrize("shape", [(3.5, 3), ("4", 3), (-0.5, 2), (True, 3)])
def test_a_shape_entry_that_is_not_an_int_is_refused(shape):
    generator = heinit_rs.Generator(0)
    for make in (hd.he_normal, hd.kaiming_uniform, hd.variance_scaling):
        with pytest.raises(TypeError, match=r"shape\[0\] must be an int"):
            make(shape, seed=generator)
    assert generator.draws == 0
    assert hd.he_normal((np.int64(4), 3), seed=0).shape == (4, 3)
