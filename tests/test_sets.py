"""Pools, moments, frames and the Gaussian fit against NumPy on small data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcollapse import Gaussian
from jaxcollapse.workflows import Pool, _frame
from jaxcollapse.workflows._frame import Frame


def _frame_of(dim, seed):
    rng = np.random.default_rng(seed)
    tril = np.tril(rng.normal(size=(dim, dim))) + 3 * np.eye(dim)
    return Frame(
        jnp.asarray(rng.normal(size=dim), jnp.float32),
        jnp.asarray(rng.normal(), jnp.float32),
        jnp.asarray(tril, jnp.float32),
    )


def _weighted_fit_numpy(x, w, ddof):
    w = w / w.sum()
    mean = w @ x
    scatter = (x - mean).T @ ((x - mean) * w[:, None])
    return mean, scatter / (1 - ddof * np.sum(w**2))


@pytest.mark.parametrize("dim", [1, 3])
@pytest.mark.parametrize("ddof", [0, 1])
def test_fit_matches_numpy(dim, ddof):
    rng = np.random.default_rng(dim * 10 + ddof)
    x = rng.normal(size=(40, dim)) * [2.0, 0.5, 1.0][:dim] + 1.5
    params = Gaussian(dim=dim, ddof=ddof).fit(
        None, Pool.full(jnp.asarray(x, jnp.float32), _frame.identity(dim))
    )
    cov = np.exp(2 * float(params.log_scale)) * np.asarray(params.tril @ params.tril.T)
    np.testing.assert_allclose(params.mean, x.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        cov, np.cov(x.T, ddof=ddof).reshape(dim, dim), rtol=1e-4, atol=1e-5
    )
    # det(tril) = 1: the scale lives in log_scale alone.
    assert abs(float(jnp.sum(jnp.log(jnp.abs(jnp.diag(params.tril)))))) < 1e-5


@pytest.mark.parametrize("dim", [1, 3])
def test_weighted_union_in_frames_matches_numpy(dim):
    """A weighted union of sets stored in different frames fits like NumPy's
    weighted estimator on the absolute points, as Pool and as Moments."""
    rng = np.random.default_rng(7)
    fa, fb = _frame_of(dim, 1), _frame_of(dim, 2)
    ua = jnp.asarray(rng.normal(size=(30, dim)), jnp.float32)
    ub = jnp.asarray(rng.normal(size=(12, dim)), jnp.float32)
    a = Pool.full(ua, fa).with_total_weight(0.3)
    b = Pool.full(ub, fb).with_total_weight(0.7)
    xa, xb = np.asarray(a.absolute()), np.asarray(b.absolute())
    x = np.concatenate([xa, xb])
    w = np.concatenate([np.full(30, 0.3 / 30), np.full(12, 0.7 / 12)])
    model = Gaussian(dim=dim, ddof=1)
    want_mean, want_cov = _weighted_fit_numpy(x, w, ddof=1)
    for train in (a.union(b), a.moments().union(b.moments())):
        p = model.fit(None, train)
        cov = np.exp(2 * float(p.log_scale)) * np.asarray(p.tril @ p.tril.T)
        np.testing.assert_allclose(p.mean, want_mean, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(cov, want_cov, rtol=1e-3, atol=1e-4)


def test_reframe_keeps_points_and_same_frame_is_exact():
    rng = np.random.default_rng(3)
    fa, fb = _frame_of(2, 4), _frame_of(2, 5)
    pool = Pool.full(jnp.asarray(rng.normal(size=(9, 2)), jnp.float32), fa)
    moved = pool.reframe(fb)
    np.testing.assert_allclose(moved.absolute(), pool.absolute(), rtol=1e-4, atol=1e-4)
    same = pool.reframe(fa)
    np.testing.assert_array_equal(same.data, pool.data)


def test_zero_weight_set_in_a_collapsed_frame_stays_finite():
    """Mixing with real_weight 0 into a deeply collapsed frame must not make NaN:
    the weightless set would overflow in that frame, and is masked instead."""
    tiny = Frame(jnp.zeros(1), jnp.asarray(-80.0), jnp.eye(1))
    real = Pool.full(jnp.ones((5, 1)), _frame.identity(1)).with_total_weight(0.0)
    synth = Pool.full(jnp.asarray([[0.5], [-0.5], [1.0]]), tiny)
    for train in (real.union(synth), real.moments().union(synth.moments())):
        p = Gaussian().fit(None, train)
        assert np.isfinite(float(p.log_scale)) and float(p.log_scale) < -79
        assert np.all(np.isfinite(np.asarray(p.mean)))


def test_append_and_subsample():
    frame = _frame.identity(1)
    four = Pool.full(jnp.arange(4.0)[:, None], frame)
    pool = Pool.empty(10, four).append(four)
    pool = pool.append(Pool.full(jnp.arange(4.0, 7.0)[:, None], frame))
    assert int(pool.count) == 7
    np.testing.assert_array_equal(pool.data[:7, 0], np.arange(7.0))
    np.testing.assert_array_equal(pool.weight, [1] * 7 + [0] * 3)
    picks = jax.vmap(lambda k: pool.subsample(k, 3).data[:, 0])(
        jax.random.split(jax.random.key(0), 7000)
    )
    picks = np.asarray(picks).astype(int)
    assert all(len(set(row)) == 3 for row in picks[:200])
    assert picks.min() >= 0 and picks.max() <= 6
    # Each filled slot is picked with probability 3/7: a chi-square check.
    counts = np.bincount(picks.ravel(), minlength=7)
    expected = 7000 * 3 / 7
    # Var of a count is 7000 p (1 - p) minus negative covariances; a 6-sigma
    # bound on the largest deviation keeps the false-failure rate below 1e-8.
    assert np.max(np.abs(counts - expected)) < 6 * np.sqrt(7000 * 3 / 7 * 4 / 7)


def test_subsample_makes_every_subset_equally_likely():
    """Floyd's algorithm: all C(7, 3) = 35 subsets of the filled slots equally
    likely (a chi-square test at false-failure rate 1e-6), none with repeats,
    empty slots never picked, for a pool filled to 7 of 12 slots."""
    from itertools import combinations

    from scipy import stats

    frame = _frame.identity(1)
    pool = Pool.empty(12, Pool.full(jnp.zeros((1, 1)), frame))
    pool = pool.append(Pool.full(jnp.arange(7.0)[:, None], frame))
    draws = 35_000
    picks = jax.vmap(lambda k: pool.subsample(k, 3).data[:, 0])(
        jax.random.split(jax.random.key(3), draws)
    )
    subsets = [tuple(sorted(row)) for row in np.asarray(picks).astype(int).tolist()]
    assert all(len(set(s)) == 3 and max(s) <= 6 for s in subsets)
    index = {s: i for i, s in enumerate(combinations(range(7), 3))}
    counts = np.bincount([index[s] for s in subsets], minlength=35)
    chi2 = float(np.sum((counts - draws / 35) ** 2 / (draws / 35)))
    assert chi2 < stats.chi2.isf(1e-6, 34)
