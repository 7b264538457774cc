"""heinit_rs.jax: JAX's initializer signature, eager and under jax.jit with the same bits, and
Flax models. Skipped where jax is not installed."""

import math
import os
import textwrap

import numpy as np
import pytest
from conftest import PROC_STATUS, run_python

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


@pytest.mark.parametrize("key", [jnp.zeros(3, jnp.uint32), jnp.zeros(4, jnp.uint32),
                                 jnp.zeros(2, jnp.int32)])
def test_key_data_that_is_not_uint32_2_is_a_type_error_as_in_jax(key):
    with pytest.raises(TypeError):
        jax.nn.initializers.he_normal()(key, (4, 4))
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        hj.he_normal()(key, (4, 4))


def test_a_scale_that_is_not_positive_is_refused_where_jax_fills_zeros_or_nan():
    """A documented difference (docs/frameworks.md): JAX fills zeros for scale 0 and NaN for a
    negative scale; heinit_rs never returns NaN for finite arguments, and refuses both."""
    assert np.isnan(np.asarray(jax.nn.initializers.variance_scaling(-1.0, "fan_in", "uniform")(
        jax.random.key(0), (3, 4)))).all()
    for scale in (0.0, -1.0):
        with pytest.raises(ValueError, match="scale must be > 0"):
            hj.variance_scaling(scale, "fan_in", "uniform")


SHARDED = textwrap.dedent("""
    import jax, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import heinit_rs, heinit_rs.jax as hj
    assert len(jax.devices()) == 4
    mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("x", "y"))
    init, key = hj.he_normal(), jax.random.key(11)
    whole = np.asarray(init(key, (4096, 4096)))
    generated = []
    real = heinit_rs._initializers._new_array
    def spy(shape, dtype, index, *args, **kwargs):
        generated.append(index)
        return real(shape, dtype, index, *args, **kwargs)
    heinit_rs._initializers._new_array = spy
    for spec in (P("x", "y"), P(None, "y"), P("x")):
        generated.clear()
        sharded = init(key, (4096, 4096), out_sharding=NamedSharding(mesh, spec))
        heinit_rs._initializers._new_array = real
        assert sharded.sharding == NamedSharding(mesh, spec)
        blocks = [g for g in generated if g is not None and g != np.s_[0:0]]
        assert len(blocks) >= 2, blocks  # each shard generated alone, none of them whole
        for shard in sharded.addressable_shards:
            np.testing.assert_array_equal(np.asarray(shard.data), whole[shard.index])
        np.testing.assert_array_equal(np.asarray(sharded), whole)
        heinit_rs._initializers._new_array = spy
    print("sharded ok")
""")


PLACED = textwrap.dedent("""
    import jax, numpy as np
    import heinit_rs.jax as hj
    assert len(jax.devices()) == 4
    for key in (jax.random.key(3), jax.random.PRNGKey(3)):
        committed = jax.device_put(key, jax.devices()[3])
        for init in (hj.he_normal(), hj.glorot_uniform()):
            ours = init(committed, (8, 4))
            theirs = jax.nn.initializers.he_normal()(committed, (8, 4))
            assert ours.devices() == theirs.devices() == {jax.devices()[3]}, ours.devices()
            assert ours.committed and theirs.committed
            free = init(key, (8, 4))  # an uncommitted key: the default device, uncommitted
            assert not free.committed and free.devices() == {jax.devices()[0]}
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(free))
    print("placed ok")
""")


def test_an_eager_call_puts_its_values_where_jax_random_would():
    """A key committed to device 3 gives values committed to device 3, as jax.nn's."""
    run = run_python(PLACED, env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4",
                                  "JAX_PLATFORMS": "cpu"})
    assert "placed ok" in run.stdout


SHARDED_UNDER_JIT = textwrap.dedent("""
    import jax, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import heinit_rs.jax as hj
    mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("x", "y"))
    init, key, shape = hj.he_normal(), jax.random.key(11), (1024, 512)
    whole, nbytes = np.asarray(init(key, shape)), 1024 * 512 * 4
    for spec, shards in ((P("x", "y"), 4), (P(None, "y"), 2), (P(("x", "y")), 4)):
        sharding = NamedSharding(mesh, spec)
        made = jax.jit(lambda k: init(k, shape, out_sharding=sharding))
        memory = made.lower(key).compile().memory_analysis()
        assert memory.output_size_in_bytes == nbytes // shards, memory
        assert memory.temp_size_in_bytes < nbytes // 64, memory  # no whole array anywhere
        out = made(key)
        assert out.sharding.is_equivalent_to(sharding, 2)
        np.testing.assert_array_equal(np.asarray(out), whole)
    print("sharded under jit ok")
""")


def test_under_jit_each_shard_is_made_on_its_own_device():
    """It was made whole on device 0 and resharded: a temporary of twice the array and XLA's
    "Involuntary full rematerialization" warning."""
    run = run_python(SHARDED_UNDER_JIT, env={
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"})
    assert "sharded under jit ok" in run.stdout
    assert "Involuntary full rematerialization" not in run.stderr


def test_a_sharded_weight_equals_the_unsharded_one_shard_by_shard():
    run = run_python(SHARDED, env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4",
                                   "JAX_PLATFORMS": "cpu"})
    assert "sharded ok" in run.stdout


# ---------------------------------------------------------------------------------------------
# Eager calls compile nothing and keep nothing


@pytest.fixture
def compile_count():
    """How many XLA programs JAX compiles while the test runs (its own monitoring event)."""
    from jax._src import monitoring
    from jax._src.dispatch import BACKEND_COMPILE_EVENT

    events = []

    def listen(event, duration, **kwargs):
        if event == BACKEND_COMPILE_EVENT:
            events.append(event)

    monitoring.register_event_duration_secs_listener(listen)
    yield lambda: len(events)
    monitoring.unregister_event_duration_listener(listen)


@pytest.mark.parametrize("name", PRESETS)
def test_eager_calls_compile_nothing(name, compile_count):
    init = getattr(hj, name)()
    keys = list(jax.random.split(jax.random.key(0), 20))  # the split and slicing compile
    [init(keys[0], (16, 16), dtype) for dtype in (jnp.float32, jnp.bfloat16)]
    before = compile_count()
    for key in keys:
        for shape in ((16, 16), (3, 3, 8, 4)):
            init(key, shape).block_until_ready()
    assert compile_count() == before


def test_jit_and_vmap_compile_each_plan_once(compile_count):
    init = hj.he_uniform()
    keys = jax.random.split(jax.random.key(1), 4)
    batched = jax.vmap(lambda k: init(k, (6, 4)))
    batched(keys).block_until_ready()
    before = compile_count()
    for _ in range(5):
        batched(keys).block_until_ready()
    assert compile_count() == before


def test_a_deep_flax_nnx_model_builds_eagerly_without_compiling(compile_count):
    nnx = pytest.importorskip("flax.nnx", reason="needs flax (pip install flax)")
    build = lambda kernel_init: [  # noqa: E731
        nnx.Linear(64, 64, kernel_init=kernel_init, rngs=nnx.Rngs(i)) for i in range(100)]
    build(hj.he_normal())  # the Rngs' own key splitting compiles once
    before = compile_count()
    layers = build(hj.he_normal())
    assert compile_count() == before
    assert layers[7].kernel[...].shape == (64, 64)
    np.testing.assert_array_equal(  # each layer's kernel is its own key's values
        np.asarray(layers[7].kernel[...]),
        np.asarray(hj.he_normal()(nnx.Rngs(7).params(), (64, 64))))


RSS_GROWTH = textwrap.dedent("""
    import jax, heinit_rs.jax as hj
    def rss_mib():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
    init, key = hj.he_normal(), jax.random.key(0)
    for _ in range(1000):
        init(key, (16, 16))
    start = rss_mib()
    for _ in range(10_000):
        init(key, (16, 16)).block_until_ready()
    print(rss_mib() - start)
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc")
def test_rss_stays_flat_over_ten_thousand_eager_calls():
    run = run_python(RSS_GROWTH, env={"JAX_PLATFORMS": "cpu"})
    growth_mib = float(run.stdout.split()[-1])
    assert growth_mib < 16, f"RSS grew {growth_mib:.1f} MiB over 10^4 calls"  # was 14 GiB-bound


def test_a_large_eager_array_is_adopted_without_a_copy(monkeypatch):
    made = []
    real = hj._aligned_empty

    def spy(shape, dtype):
        made.append(real(shape, dtype))
        return made[-1]

    monkeypatch.setattr(hj, "_aligned_empty", spy)
    hj._plan.cache_clear()
    values = hj.he_normal()(jax.random.key(2), (512, 256))
    hj._plan.cache_clear()
    host = [m for m in made if m.size][-1]
    assert host.ctypes.data % 64 == 0
    assert values.unsafe_buffer_pointer() == host.ctypes.data


# ---------------------------------------------------------------------------------------------
# Shapes and axes as JAX has them


@pytest.mark.parametrize("shape, error", [((3.5, 3), TypeError), (("4", 3), TypeError),
                                          ((-0.5, 2), TypeError), ((True, 3), TypeError),
                                          ((-1, 3), ValueError)])
def test_a_shape_entry_that_is_not_an_int_is_refused_as_jax_refuses_it(shape, error):
    with pytest.raises(error, match=r"shape\[0\]"):
        hj.he_normal()(jax.random.key(0), shape)
    if shape[0] is not True:  # JAX takes a bool as an int; NumPy's rules refuse it
        with pytest.raises((TypeError, ValueError)):
            jax.nn.initializers.he_normal()(jax.random.key(0), shape)


def test_numpy_integers_are_shape_entries():
    values = hj.he_normal()(jax.random.key(0), (np.int64(4), np.int32(3)))
    assert values.shape == (4, 3)


def ks_against_jax(ours, theirs):
    from scipy import stats
    return stats.ks_2samp(np.asarray(ours, np.float64).ravel(),
                          np.asarray(theirs, np.float64).ravel()).pvalue


@pytest.mark.parametrize("shape, axes", [
    ((4096,), {"in_axis": 0}),
    ((4096,), {"in_axis": -1}),
    ((4096,), {"in_axis": 0, "out_axis": 0}),
    ((64, 48), {"in_axis": 0, "out_axis": 0}),
    ((4,), {"in_axis": 0, "out_axis": 0, "batch_axis": 0}),
    ((8, 6, 4), {"in_axis": (0, 1), "out_axis": 1}),
    ((16, 16, 12), {"in_axis": -2, "out_axis": -1, "batch_axis": 0}),
])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_axes_give_jaxs_fans_exactly_and_its_distribution(shape, axes, distribution):
    """Fans equal JAX's _compute_fans (1-D shapes and overlapping axes included, with no
    floor at 1); the values match JAX's own initializer by a two-sample KS test (p > 1e-4,
    repeated over 4 keys so that the sample is at least 16k values)."""
    from jax._src.nn.initializers import _compute_fans

    full = {"in_axis": -2, "out_axis": -1, "batch_axis": (), **axes}
    assert hj.jax_fans(shape, **full) == _compute_fans(shape, **full)
    ours_init = hj.variance_scaling(2.0, "fan_avg", distribution, **axes)
    theirs_init = jax.nn.initializers.variance_scaling(2.0, "fan_avg", distribution, **axes)
    keys = jax.random.split(jax.random.key(9), max(4, 16384 // math.prod(shape)))
    ours = np.concatenate([np.asarray(ours_init(k, shape)).ravel() for k in keys])
    theirs = np.concatenate([np.asarray(theirs_init(k, shape)).ravel() for k in keys])
    assert ks_against_jax(ours, theirs) > 1e-4


@pytest.mark.parametrize("shape, axes, error", [
    ((5,), {}, ValueError),
    ((4, 4), {"in_axis": 2}, IndexError),
    ((4, 4), {"out_axis": (0, -3)}, IndexError),
    ((0, 4), {}, ZeroDivisionError),
    ((3, 0, 4), {"in_axis": 0, "out_axis": 2}, ZeroDivisionError),
])
def test_where_jax_raises_the_same_exception_class_is_raised(shape, axes, error):
    with pytest.raises(error):
        jax.nn.initializers.he_normal(**axes)(jax.random.key(0), shape)
    with pytest.raises(error, match=r"in_axis|out_axis|empty|is 0|Must be at least 2D"):
        hj.he_normal(**axes)(jax.random.key(0), shape)


def test_scan_remat_and_grad_around_an_initializer_give_the_eager_bits():
    init = hj.glorot_normal()
    keys = jax.random.split(jax.random.key(4), 3)

    def step(carry, key):
        return carry + init(key, (8, 4)).sum(), init(key, (8, 4))

    _, stacked = jax.lax.scan(step, 0.0, keys)
    for i in range(3):
        np.testing.assert_array_equal(np.asarray(stacked[i]), np.asarray(init(keys[i], (8, 4))))
    loss = lambda x, key: (jax.checkpoint(lambda k: init(k, (8, 4)))(key) * x).sum()  # noqa: E731
    gradient = jax.grad(loss)(2.0, keys[0])
    assert float(gradient) == pytest.approx(float(np.asarray(init(keys[0], (8, 4))).sum()),
                                            rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Under jit on the CPU backend: heinit_rs' XLA FFI target fills XLA's own output buffer


def _compiled_text(fn, *args):
    return jax.jit(fn).lower(*args).compile().as_text()


@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_under_jit_the_ffi_target_writes_the_eager_bits_into_xlas_buffer(distribution, dtype):
    """One custom call, no host callback, no temporary: the bits of the eager call."""
    init = hj.variance_scaling(1.3, "fan_avg", distribution)
    key, shape = jax.random.key(9), (1000, 300)
    text = _compiled_text(lambda k: init(k, shape, dtype), key)
    assert 'custom_call_target="heinit_rs_fill"' in text
    assert "callback" not in text.lower()
    memory = jax.jit(lambda k: init(k, shape, dtype)).lower(key).compile().memory_analysis()
    assert memory.output_size_in_bytes == 1000 * 300 * np.dtype(dtype).itemsize
    assert memory.temp_size_in_bytes < 1024, memory
    jitted = jax.jit(lambda k: init(k, shape, dtype))(key)
    np.testing.assert_array_equal(np.asarray(jitted).view(np.uint8),
                                  np.asarray(init(key, shape, dtype)).view(np.uint8))


FLOAT64_UNDER_JIT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    import heinit_rs, heinit_rs.jax as hj
    key = jax.random.key(5)
    for name in ("he_normal", "glorot_uniform", "lecun_normal"):
        init = getattr(hj, name)()
        jitted = jax.jit(lambda k: init(k, (700, 90), jnp.float64))(key)
        assert jitted.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(jitted), getattr(heinit_rs, name)(
            (700, 90), layout="jax", dtype=np.float64, seed=5))
    print("float64 ok")
""")


def test_float64_under_jit_gives_the_numpy_api_bits():
    run = run_python(FLOAT64_UNDER_JIT, env={"JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"})
    assert "float64 ok" in run.stdout


@pytest.mark.parametrize("guard", ["disallow_explicit", "disallow"])
def test_a_transfer_guard_lets_a_jitted_initializer_run_as_jax_nn_does(guard):
    """With pure_callback the callback's result was an explicit transfer: under
    "disallow_explicit", a CpuCallback error."""
    key = jax.random.key(2)
    for init in (hj.he_normal(), jax.nn.initializers.he_normal()):
        with jax.transfer_guard(guard):
            out = jax.jit(lambda k, init=init: init(k, (64, 48)))(key)
            out.block_until_ready()
        assert out.shape == (64, 48)


def test_an_error_inside_the_ffi_target_is_an_exception_not_a_crash():
    call = jax.ffi.ffi_call(hj._FFI_TARGET, jax.ShapeDtypeStruct((4, 4), jnp.float32))
    words, position = jnp.zeros(2, jnp.uint32), jnp.zeros(2, jnp.int32)
    attributes = {"kind": 7, "stream": np.uint64(0), "parameters": np.zeros(2),
                  "global_shape": np.array([4, 4], np.int64)}
    with pytest.raises(Exception, match="heinit_rs_fill: unknown kind 7"):
        jax.jit(lambda w, p: call(w, p, **attributes))(words, position).block_until_ready()
    attributes.update(kind=0, parameters=np.array([0.0, -1.0]))
    with pytest.raises(Exception, match="std"):
        jax.jit(lambda w, p: call(w, p, **attributes))(words, position).block_until_ready()


def test_export_takes_the_ffi_target_on_cpu_and_a_host_callback_elsewhere():
    """jax.export: the CPU lowering is the FFI call (not on JAX's list of stable custom calls,
    so it takes a disabled check); another platform's lowering is the host callback."""
    from jax import export

    key = jax.random.key(4)
    made = jax.jit(lambda k: hj.he_uniform()(k, (32, 16)))
    with pytest.raises(ValueError, match="custom calls whose targets have no compatibility"):
        export.export(made)(key)
    allowed = [export.DisabledSafetyCheck.custom_call("heinit_rs_fill")]
    exported = export.export(made, disabled_checks=allowed)(key)
    np.testing.assert_array_equal(np.asarray(exported.call(key)),
                                  np.asarray(hj.he_uniform()(key, (32, 16))))
    with pytest.raises(NotImplementedError, match="python_callback"):
        export.export(made, platforms=["cpu", "cuda"], disabled_checks=allowed)(key)


PEAK_UNDER_JIT = PROC_STATUS + textwrap.dedent("""
    import jax, numpy as np
    import heinit_rs.jax as hj
    shape, key = (2**28,), jax.random.key(1)  # 1 GiB of float32
    made = jax.jit(lambda k: hj.he_normal(in_axis=0, out_axis=0)(k, shape))
    compiled = made.lower(key).compile()
    before = status_bytes("VmRSS")
    assert status_bytes("VmHWM") < before + 2**28, "an earlier peak would hide this one"
    out = compiled(key)
    out.block_until_ready()
    print((status_bytes("VmHWM") - before) / (2**28 * 4))
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's /proc")
def test_a_jitted_one_gib_init_peaks_at_about_the_array():
    """With pure_callback the host array and XLA's copy of it were both alive: about 2x."""
    run = run_python(PEAK_UNDER_JIT, env={"JAX_PLATFORMS": "cpu"})
    assert float(run.stdout.split()[-1]) < 1.15, run.stdout
