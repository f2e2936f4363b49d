"""workflows/_scatter.py: the flat batching rule gives what NumPy's unbuffered
np.add.at / np.maximum.at give, chain by chain, under one and two vmaps, inside
a scan, with indices outside [0, size) dropped, and through the standard rule
where chains x size would overflow int32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcollapse  # noqa: F401  (XLA flags)
from jaxcollapse.workflows import _scatter
from jaxcollapse.workflows._scatter import scatter_add, scatter_max

SIZE = 13


def _numpy(op, index, updates, size=SIZE):
    out = np.zeros(size, updates.dtype)
    keep = (index >= 0) & (index < size)
    (np.add if op == "add" else np.maximum).at(out, index[keep], updates[keep])
    return out


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    index = rng.integers(-3, SIZE + 3, size=shape).astype(np.int32)
    # integer-valued floats: every order of additions gives the same sum
    updates = rng.integers(0, 9, size=shape).astype(np.float32)
    return index, updates


@pytest.mark.parametrize("op", ["add", "max"])
def test_unbatched_drops_out_of_range(op):
    index, updates = _data((50,))
    fn = scatter_add if op == "add" else scatter_max
    got = np.asarray(jax.jit(lambda i, u: fn(SIZE, i, u))(index, updates))
    np.testing.assert_array_equal(got, _numpy(op, index, updates))


@pytest.mark.parametrize("op", ["add", "max"])
@pytest.mark.parametrize("flat", [True, False])
def test_one_and_two_vmaps_and_a_scan(op, flat, monkeypatch):
    if not flat:  # the standard batching rule, as for chains x size >= 2^31
        monkeypatch.setattr(_scatter, "_INT32_LIMIT", 1)
        _scatter._scatter.cache_clear()
    fn = scatter_add if op == "add" else scatter_max
    index, updates = _data((3, 4, 40), seed=1)
    want = np.stack(
        [
            np.stack([_numpy(op, index[a, b], updates[a, b]) for b in range(4)])
            for a in range(3)
        ]
    )

    def one(i, u):
        return fn(SIZE, i, u)

    twice = jax.jit(jax.vmap(jax.vmap(one)))
    np.testing.assert_array_equal(np.asarray(twice(index, updates)), want)

    # batched index, shared (unbatched) updates
    shared = jax.jit(jax.vmap(one, in_axes=(0, None)))
    got = np.asarray(shared(index[0], updates[0, 0]))
    np.testing.assert_array_equal(
        got, np.stack([_numpy(op, index[0, b], updates[0, 0]) for b in range(4)])
    )

    def scanned(i, u):  # the engine's shape: vmap over chains of a scan
        def step(carry, x):
            return carry + fn(SIZE, *x), None

        return jax.lax.scan(step, jnp.zeros(SIZE, u.dtype), (i, u))[0]

    got = np.asarray(jax.jit(jax.vmap(scanned))(index, updates))
    np.testing.assert_array_equal(got, want.sum(axis=1))
    _scatter._scatter.cache_clear()


def test_float_order_is_the_plain_scatter_order():
    """Non-integer weights: the flat batched scatter rounds exactly like the
    unbatched one of each chain, and on CPU exactly like XLA's own scatter
    (the same order of additions per bin)."""
    rng = np.random.default_rng(2)
    index = rng.integers(0, 4, size=(8, 500)).astype(np.int32)
    updates = rng.normal(size=(8, 500)).astype(np.float32)
    batched = jax.jit(jax.vmap(lambda i, u: scatter_add(4, i, u)))
    unbatched = jax.jit(lambda i, u: scatter_add(4, i, u))
    plain = jax.jit(lambda i, u: jnp.zeros(4, jnp.float32).at[i].add(u))
    got = np.asarray(batched(index, updates))
    for c in range(8):
        np.testing.assert_array_equal(
            got[c], np.asarray(unbatched(index[c], updates[c]))
        )
        if jax.default_backend() == "cpu":  # elsewhere .at uses atomics
            np.testing.assert_array_equal(
                got[c], np.asarray(plain(index[c], updates[c]))
            )


def test_wide_and_negative_indices_are_dropped():
    index = np.array([-1, 2, 5, 4, -7], np.int32)
    got = np.asarray(jax.jit(lambda i: scatter_add(5, i, jnp.float32(1.0)))(index))
    np.testing.assert_array_equal(got, [0, 0, 1, 0, 1])


def test_sorted_path_matches_numpy_and_is_the_same_bits_batched():
    """The accelerators' order (sort + segmented scan, forced here with
    backend="sorted"): NumPy's sums, and the flat batched form gives each
    chain's unbatched bits (random normal weights, so any other order of
    additions would show in the last bits)."""
    index, updates = _data((60,), seed=3)
    got = jax.jit(lambda i, u: scatter_add(SIZE, i, u, "sorted"))(index, updates)
    np.testing.assert_array_equal(np.asarray(got), _numpy("add", index, updates))

    rng = np.random.default_rng(4)
    index = rng.integers(-2, 7, size=(3, 5, 300)).astype(np.int32)
    updates = rng.normal(size=(3, 5, 300)).astype(np.float32)
    updates[0, 0, :] = -0.0  # a sum of -0.0 stays -0.0 batched or not

    def one(i, u):
        return scatter_add(5, i, u, "sorted")

    batched = np.asarray(jax.jit(jax.vmap(jax.vmap(one)))(index, updates))
    plain = jax.jit(one)
    for a in range(3):
        for b in range(5):
            want = np.asarray(plain(index[a, b], updates[a, b]))
            np.testing.assert_array_equal(batched[a, b], want)
            np.testing.assert_array_equal(np.signbit(batched[a, b]), np.signbit(want))
            keep = (index[a, b] >= 0) & (index[a, b] < 5)
            sums = np.bincount(index[a, b][keep], updates[a, b][keep], 5)
            np.testing.assert_allclose(want, sums, rtol=1e-5, atol=1e-5)


def test_sorted_path_in_whole_runs_is_chunk_and_device_invariant(monkeypatch):
    """The accelerators' float counts (forced on CPU) inside the engine: a
    weighted categorical run (mix) gives the same bits on all devices in one
    chunk and on one device in chunks of 64, and agrees with the CPU path to
    float rounding (the sums' order differs, the law does not)."""
    import jaxcollapse as jc

    if len(jax.devices()) < 2:
        pytest.skip("needs two devices; jaxcollapse makes one per core")
    model = jc.Categorical(categories=12)
    kw = dict(
        num_samples=12, num_generations=3, num_chains=300, seed=7, real_weight=0.3
    )
    cpu = jc.simulate(model, "mix", exact_path="off", **kw)
    monkeypatch.setattr(_scatter, "_sorts_floats", lambda backend: True)
    _scatter._scatter.cache_clear()
    jax.clear_caches()  # the compiled programs above took the CPU path
    both = jc.simulate(model, "mix", exact_path="off", **kw)
    one = jc.simulate(
        model, "mix", exact_path="off", devices=jax.devices()[:1], chunk_size=64, **kw
    )
    assert one.to_dict()["metrics"] == both.to_dict()["metrics"]
    for name in model.metric_names:
        np.testing.assert_allclose(
            both.metrics[name]["mean"], cpu.metrics[name]["mean"], rtol=1e-4, atol=1e-5
        )
    jax.clear_caches()
    _scatter._scatter.cache_clear()
