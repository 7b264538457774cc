"""heinit_rs.jax: JAX's initializer signature, eager and under jax.jit with the same bits, and
Flax models. Skipped where jax is not installed."""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="heinit_rs.jax needs jax (pip install jax)")
import jax.numpy as jnp  # noqa: E402

import heinit_rs  # noqa: E402
import heinit_rs.jax as hj  # noqa: E402

PRESETS = ["he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal",
           "lecun_uniform"]


@pytest.mark.parametrize("name", PRESETS)
def test_a_key_gives_the_numpy_api_values_of_its_seed(name):
    """jax.random.key(s) for s < 2**32 has key data (0, s): heinit_rs seed s."""
    expected = getattr(heinit_rs, name)((3, 3, 16, 32), layout="jax", seed=42)
    for key in (jax.random.key(42), jax.random.PRNGKey(42)):
        values = getattr(hj, name)()(key, (3, 3, 16, 32))
        assert isinstance(values, jax.Array) and values.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(values), expected)


def test_the_key_words_make_the_seed():
    key = jax.random.fold_in(jax.random.key(1), 7)
    w0, w1 = (int(w) for w in jax.random.key_data(key))
    values = hj.he_normal()(key, (8, 8))
    np.testing.assert_array_equal(np.asarray(values), heinit_rs.he_normal(
        (8, 8), layout="jax", seed=w0 * 2**32 + w1))
    assert hj.key_to_seed(jax.random.key_data(key)) == w0 * 2**32 + w1


@pytest.mark.parametrize("name", PRESETS)
def test_jit_gives_the_eager_bits(name):
    init = getattr(hj, name)()
    key = jax.random.key(3)
    eager = init(key, (64, 32))
    jitted = jax.jit(init, static_argnums=1)(key, (64, 32))
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))


def test_a_flax_model_initializes_under_jit_as_eagerly():
    nn = pytest.importorskip("flax.linen", reason="needs flax (pip install flax)")

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(8, (3, 3), kernel_init=hj.he_normal())(x)
            x = nn.relu(x).reshape((x.shape[0], -1))
            return nn.Dense(10, kernel_init=hj.glorot_uniform())(x)

    model, x = Net(), jnp.ones((2, 6, 6, 3))
    eager = model.init(jax.random.key(0), x)
    jitted = jax.jit(model.init)(jax.random.key(0), x)
    flat_eager, flat_jitted = jax.tree.leaves(eager), jax.tree.leaves(jitted)
    assert len(flat_eager) == 4
    for a, b in zip(flat_eager, flat_jitted):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    kernel = np.asarray(eager["params"]["Conv_0"]["kernel"])
    assert kernel.std() == pytest.approx(math.sqrt(2 / 27), rel=0.15)
    assert np.abs(kernel).max() <= 2 * math.sqrt(2 / 27) / 0.87962566103423978


def test_vmap_over_keys_equals_each_key_alone():
    keys = jax.random.split(jax.random.key(5), 3)
    init = hj.lecun_normal()
    batched = jax.vmap(lambda k: init(k, (6, 4)))(keys)
    for i in range(3):
        np.testing.assert_array_equal(np.asarray(batched[i]), np.asarray(init(keys[i], (6, 4))))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_dtypes(dtype):
    values = hj.he_uniform(dtype=dtype)(jax.random.key(1), (32, 16))
    assert values.dtype == dtype
    expected = heinit_rs.he_uniform((32, 16), layout="jax", dtype=np.dtype(dtype), seed=1)
    np.testing.assert_array_equal(np.asarray(values), expected)


@pytest.mark.parametrize("axes", [{}, {"in_axis": 0, "out_axis": 1},
                                  {"in_axis": (0, 1), "out_axis": -1, "batch_axis": 2},
                                  {"in_axis": -3, "out_axis": (-2, -1)}])
def test_fans_are_jaxs(axes):
    """The uniform's bound is sqrt(3 scale / fan_in) with JAX's own _compute_fans."""
    from jax._src.nn.initializers import _compute_fans
    shape = (4, 5, 6, 7)
    fan_in, _ = _compute_fans(shape, **{"in_axis": -2, "out_axis": -1, **axes})
    values = np.asarray(hj.variance_scaling(2.0, "fan_in", "uniform", **axes)(
        jax.random.key(0), shape))
    limit = math.sqrt(6.0 / fan_in)
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.98 * limit


def test_normal_means_untruncated_as_in_jax():
    values = np.asarray(hj.variance_scaling(1.0, "fan_in", "normal")(jax.random.key(0),
                                                                     (1000, 1000)))
    assert values.std() == pytest.approx(math.sqrt(1 / 1000), rel=0.01)
    assert np.abs(values).max() > 4 * math.sqrt(1 / 1000)


def test_errors_are_raised_before_tracing():
    with pytest.raises(ValueError, match="Must be at least 2D"):
        hj.he_normal()(jax.random.key(0), (5,))
    with pytest.raises(ValueError, match="Must be at least 2D"):
        jax.jit(lambda k: hj.he_normal()(k, (5,)))(jax.random.key(0))
    with pytest.raises(ValueError, match="mode must be one of"):
        hj.variance_scaling(1.0, "fan_sideways", "normal")
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        hj.he_normal()(jnp.zeros(2, jnp.float32), (4, 4))
    with pytest.raises(TypeError, match="dtype must be"):
        hj.he_normal()(jax.random.key(0), (4, 4), jnp.int32)


SHARDED = textwrap.dedent("""
    import jax, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import heinit_rs, heinit_rs.jax as hj
    assert len(jax.devices()) == 4
    mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("x", "y"))
    init, key = hj.he_normal(), jax.random.key(11)
    whole = np.asarray(init(key, (4096, 4096)))
    generated = []
    real = heinit_rs._initializers.variance_scaling
    def spy(*args, index=None, **kwargs):
        generated.append(index)
        return real(*args, index=index, **kwargs)
    heinit_rs._initializers.variance_scaling = spy
    for spec in (P("x", "y"), P(None, "y"), P("x")):
        generated.clear()
        sharded = init(key, (4096, 4096), out_sharding=NamedSharding(mesh, spec))
        heinit_rs._initializers.variance_scaling = real
        assert sharded.sharding == NamedSharding(mesh, spec)
        blocks = [g for g in generated if g is not None and g != np.s_[0:0]]
        assert len(blocks) >= 2, blocks  # each shard generated alone, none of them whole
        for shard in sharded.addressable_shards:
            np.testing.assert_array_equal(np.asarray(shard.data), whole[shard.index])
        np.testing.assert_array_equal(np.asarray(sharded), whole)
        heinit_rs._initializers.variance_scaling = spy
    print("sharded ok")
""")


def test_a_sharded_weight_equals_the_unsharded_one_shard_by_shard():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "sharded ok" in run.stdout
