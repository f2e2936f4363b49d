"""The engine's Threefry-2x32 generator (jaxcollapse/_prng.py).

Known-answer vectors are those of Random123 (Salmon et al. 2011) for
Threefry-2x32-20, the same function jax.random's default keys use. Statistical
checks: budget ALPHA_MODULE (conftest) split over the KS tests below."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxcollapse import _prng
from tests.conftest import ALPHA_MODULE

KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]
NUM_KS = 6  # KS tests and correlation checks sharing the budget


@pytest.mark.parametrize(("key", "block", "expected"), KNOWN_ANSWERS)
def test_threefry_known_answers(key, block, expected):
    args = [jnp.asarray(v, jnp.uint32) for v in (*key, *block)]
    assert tuple(int(v) for v in _prng.threefry2x32(*args)) == expected


def test_threefry_matches_jax_threefry():
    """The same bijection as jax's own (rolled) implementation, on many blocks."""
    from jax.extend.random import threefry_2x32

    keypair = jnp.asarray([0x01234567, 0x89ABCDEF], jnp.uint32)
    count = jnp.arange(2 * 4096, dtype=jnp.uint32) * jnp.uint32(2654435761)
    theirs = np.asarray(threefry_2x32(keypair, count))
    x0, x1 = count[:4096], count[4096:]
    ours = _prng.threefry2x32(keypair[0], keypair[1], x0, x1)
    np.testing.assert_array_equal(np.concatenate([ours[0], ours[1]]), theirs)


def test_derivations_do_not_collide():
    """bits, split and fold_in of one key use different blocks."""
    key = _prng.key(3)
    words = set(np.asarray(jax.random.bits(key, (64,))).tolist())
    split = jax.random.key_data(jax.random.split(key, 64))
    folds = jnp.stack(
        [jax.random.key_data(jax.random.fold_in(key, i)) for i in range(64)]
    )
    words |= set(np.asarray(split).ravel().tolist())
    words |= set(np.asarray(folds).ravel().tolist())
    assert len(words) == 64 + 2 * 64 + 2 * 64


def test_seeds_are_distinct_and_64_bit():
    seeds = (0, 1, 2**32, 2**32 + 1, 2**63 - 1)
    data = [
        tuple(np.asarray(jax.random.key_data(_prng.key(s))).tolist()) for s in seeds
    ]
    assert data[2] == (1, 0) and data[4] == (2**31 - 1, 2**32 - 1)
    assert len(set(data)) == len(data)


def test_uniform_and_normal_laws():
    key = _prng.key(11)
    u = np.asarray(jax.random.uniform(key, (50_000,)), np.float64)
    z = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (50_000,)), np.float64)
    ours = _prng.normal(jax.random.fold_in(key, 2), (50_000,), jnp.float32)
    ours = np.asarray(ours, np.float64)
    paired = _prng.paired_normal(jax.random.fold_in(key, 3), (50_001,), jnp.float32)
    paired = np.asarray(paired, np.float64)
    for draws, law in (
        (u, stats.uniform.cdf),
        (z, stats.norm.cdf),
        (ours, stats.norm.cdf),
        (paired, stats.norm.cdf),
    ):
        assert stats.kstest(draws, law).pvalue > ALPHA_MODULE / NUM_KS
    # paired_normal's values i and H + i share a block: uncorrelated in law
    half = (paired.size + 1) // 2
    r = np.corrcoef(paired[: paired.size - half], paired[half:])[0, 1]
    limit = stats.norm.isf(ALPHA_MODULE / (2 * NUM_KS)) / np.sqrt(paired.size - half)
    assert abs(r) < limit


def test_neighbouring_chains_are_uncorrelated_in_law():
    """The first normal of fold_in(root, i) for consecutive i: the lag-1 pairs
    must look independent (Spearman-free check: KS of the product's law is
    overkill; the sample correlation of 50k pairs has sd 1/sqrt(n))."""
    root = _prng.key(5)
    z = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(root, i)))(
        jnp.arange(50_001, dtype=jnp.uint32)
    )
    z = np.asarray(z, np.float64)
    r = np.corrcoef(z[:-1], z[1:])[0, 1]
    limit = stats.norm.isf(ALPHA_MODULE / (2 * NUM_KS)) / np.sqrt(50_000)
    assert abs(r) < limit


def test_normal_is_jax_random_normals_recipe_on_the_same_bits():
    """_prng.normal uses jax.random.normal's uniforms; only erfinv differs, by
    less than both functions' float32 error (6e-6 relative for XLA's)."""
    key = _prng.key(2)
    ours = np.asarray(_prng.normal(key, (4096,), jnp.float32), np.float64)
    theirs = np.asarray(jax.random.normal(key, (4096,), jnp.float32), np.float64)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num", [1, 10, 15, 16, 40])
def test_materialised_normal_draws_are_the_same_values(num):
    """materialise=True only changes how XLA schedules the draws (computed
    once, not copied into each consumer): the same bits, jitted and under vmap,
    whatever feeds on them (here a d x d product, the case it is for)."""
    keys = jax.vmap(lambda i: jax.random.fold_in(_prng.key(9), i))(jnp.arange(64))

    def product(materialise):
        def one(k):
            z = _prng.normal(k, (num,), jnp.float32, materialise=materialise)
            return jnp.outer(jnp.arange(1.0, 4.0), z), z

        return jax.jit(jax.vmap(one))(keys)

    (pa, za), (pb, zb) = product(False), product(True)
    np.testing.assert_array_equal(za, zb)
    np.testing.assert_array_equal(pa, pb)


def test_computed_once_returns_the_same_bits():
    """Through the division by a runtime 1: NaN, infinities, -0.0, subnormals
    and ordinary values come back bit for bit, for anchors and values of
    1, 2 and 4 bytes (8-byte ones need x64: tests/test_x64.py runs the
    categorical family, which uses it, in float64)."""
    f32 = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -3.5, 7e37], np.float32)
    f16 = np.array([np.nan, np.inf, -0.0, 6e-8, -3.5, 6e4], np.float16)
    anchors = (np.uint32([0, 5]), np.float32([-0.0]), np.int32([7, 1]),
               np.bool_([False]), np.int8([-1]), np.float16([2.0]))  # fmt: skip
    for values, uint in (
        (f32, np.uint32),
        (f16, np.uint16),
        (np.int8([-7, 0, 9]), np.uint8),
    ):
        for anchor in anchors:
            got = jax.jit(_prng.computed_once)(jnp.asarray(values), jnp.asarray(anchor))
            np.testing.assert_array_equal(np.asarray(got).view(uint), values.view(uint))
