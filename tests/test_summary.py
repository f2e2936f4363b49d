"""The Gaussian's summarised sample-level path (SUMMARY in models/_base.py).

On workflows that only union and reweight sets, exact_path="off" draws every
point, as the Pool path does, but reduces each drawn set at once to its
sufficient statistics. These tests hold it to the Pool path chain by chain
(same keys, same draws, so the same numbers up to rounding), to its own
invariances, and check where it is and is not used. Its device-count
invariance is test_engine.py's test_identical_on_1_2_and_8_cpu_devices.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse import _prng
from jaxcollapse.chain import Sizes, run_chain
from jaxcollapse.config import representation
from jaxcollapse.models._base import SUMMARY
from jaxcollapse.workflows import get_workflow

sim_module = importlib.import_module("jaxcollapse.simulate")


@pytest.mark.parametrize("shape", [(7,), (100, 1), (33, 3)])
def test_fused_normal_is_normal_bit_for_bit(shape):
    key = jax.random.fold_in(_prng.key(9), 4)
    want = jax.jit(_prng.normal, static_argnums=(1, 2))(key, shape, jnp.float32)
    got = jax.jit(_prng.fused_normal, static_argnums=(1, 2))(key, shape, jnp.float32)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("num", [1, 7, 100, 101])
def test_paired_sums_are_the_pool_paths_points_summed(num):
    """The 1-D SUMMARY's sums (paired_sums: both words of each block in one
    complex reduction) are the sums of the Pool path's points (paired_normal)
    to float32 rounding, under vmap, odd and even n; and paired_normal's
    values are bits_to_normal of the words _pair_words names, in its order."""
    keys = jax.vmap(lambda i: jax.random.fold_in(_prng.key(9), i))(jnp.arange(16))
    points = jax.jit(jax.vmap(lambda k: _prng.paired_normal(k, (num,), jnp.float32)))
    sums = jax.jit(jax.vmap(lambda k: _prng.paired_sums(k, num, jnp.float32, 1.5)))
    drawn = np.asarray(points(keys))
    x = 1.5 * drawn.astype(np.float64)
    s1, s2 = (np.asarray(v, np.float64) for v in sums(keys))
    np.testing.assert_allclose(s1, x.sum(1), rtol=1e-5, atol=1e-5 * np.sqrt(num))
    np.testing.assert_allclose(s2, (x * x).sum(1), rtol=1e-5)
    y0, y1 = _prng._pair_words(jax.random.key_data(keys[3]), num)
    bits = jnp.concatenate([y0, y1])[:num]
    want = jax.jit(_prng.bits_to_normal, static_argnums=1)(bits, jnp.float32)
    np.testing.assert_array_equal(drawn[3], np.asarray(want))


def test_representation_is_summary_only_where_sets_are_only_unions():
    gauss, kde = jc.Gaussian(), jc.KDE(bandwidth=0.3)
    for name in ("replace", "accumulate", "augment", "fresh", "mix"):
        flow = get_workflow(name)
        assert representation(gauss, flow, False, None) == SUMMARY
        assert representation(gauss, flow, True, None) is True
        assert representation(gauss, flow, False, "truth") is False
        assert representation(kde, flow, False, None) is False
    subsample = get_workflow("accumulate-subsample")
    assert representation(gauss, subsample, False, None) is False


# Each case compiles two chains (about 10 s): the union algebra is shared by
# all workflows, so one dimension each covers them (augment is accumulate's
# union without the growth; replace is covered by the device test below).
CASES = [
    (1, "accumulate", None),
    (1, "fresh", 0.6),
    (3, "mix", 0.3),
    (3, "augment", None),
]


def _assert_summary_equals_pool(model, flow, sizes, temp, lam, seed, rtol, atol):
    """Every metric of 64 chains on the Pool path and on SUMMARY, same keys."""
    root = _prng.key(seed)
    keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.arange(64))

    def chains(exact):
        one = lambda k: run_chain(k, model, flow, sizes, temp, lam, exact)  # noqa: E731
        return jax.jit(jax.vmap(one))(keys)

    pool, summary = chains(False), chains(SUMMARY)
    for name in model.metric_names:
        a, b = np.asarray(pool[name]), np.asarray(summary[name])
        assert np.isfinite(b).all(), name
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("dim, workflow, weight", CASES)
def test_summary_equals_pool_path_chain_by_chain(dim, workflow, weight):
    """Same keys, so the same points: every metric of every chain agrees with
    the Pool path to float32 rounding, for 8 generations (replace is checked
    against the Pool path through test_engine's batched-equals-looped test)."""
    flow = get_workflow(workflow, real_weight=weight)
    sizes = Sizes(num_samples=50, num_generations=8, num_real=40, num_test=30)
    lam = 0.0 if weight is None else weight
    model = jc.Gaussian(dim=dim, ddof=1)
    _assert_summary_equals_pool(model, flow, sizes, 0.8, lam, 21, 2e-4, 2e-5)


@pytest.mark.parametrize(
    "workflow, weight, num_real", [("accumulate", None, 40), ("fresh", 0.6, 50)]
)
def test_linreg_gram_equals_pool_path_chain_by_chain(workflow, weight, num_real):
    """linreg's SUMMARY (a Gram: sum w x x^T, sum w x y) against its Pool path:
    the same rows and noise, so the same fits up to float32 rounding, including
    synthetic sets with more rows than D_0 (num_real 40 < n = 50)."""
    model = jc.LinReg(dim=3)
    flow = get_workflow(workflow, real_weight=weight)
    assert representation(model, flow, False, None) == SUMMARY
    sizes = Sizes(num_samples=50, num_generations=8, num_real=num_real, num_test=30)
    lam = 0.0 if weight is None else weight
    _assert_summary_equals_pool(model, flow, sizes, 0.9, lam, 5, 1e-3, 1e-6)


@pytest.mark.parametrize(
    "padded, unit, per_chain",
    [(100352, 1024, 13107), (5120, 512, 10**6), (512, 512, 1)],
)
def test_default_chunks_are_equal_and_barely_padded(padded, unit, per_chain):
    """As few chunks as the memory budget allows, all equal, padding < one unit
    a chunk (10^5 chains used to run as 81920 + a mostly padded 81920)."""
    chunk = sim_module._chunk_size(padded, unit, per_chain, None)
    largest = max(unit, sim_module.DEFAULT_CHUNK_BYTES // per_chain // unit * unit)
    num_chunks = -(-padded // chunk)
    assert chunk % unit == 0 and chunk <= largest
    assert num_chunks == -(-padded // largest)
    assert num_chunks * chunk - padded < num_chunks * unit
    assert sim_module._chunk_size(padded, unit, per_chain, 700) == min(
        -(-700 // unit) * unit, -(-padded // unit) * unit
    )


class _FakeDevice:
    def __init__(self, platform, limit):
        self.platform, self.process_index, self._limit = platform, 0, limit

    def memory_stats(self):
        return None if self._limit is None else {"bytes_limit": self._limit}


def test_chunk_budget_follows_accelerator_memory():
    """CPU: the fixed 1 GiB; an accelerator: a quarter of each device's limit
    (at least 1 GiB); a backend without memory statistics: 1 GiB."""
    default = sim_module.DEFAULT_CHUNK_BYTES
    assert sim_module.chunk_budget(jax.devices()) == default
    gpus = [_FakeDevice("gpu", 80 * 2**30) for _ in range(4)]
    assert sim_module.chunk_budget(gpus) == 4 * 20 * 2**30
    assert sim_module.chunk_budget([_FakeDevice("gpu", 2**30)]) == default
    assert sim_module.chunk_budget([_FakeDevice("tpu", None)]) == default
