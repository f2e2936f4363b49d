"""workflows/_linalg.py's small-matrix solve and Cholesky (elementwise code,
unrolled to d = 4, a fori_loop above) against NumPy, in float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcollapse  # noqa: F401  (XLA flags)
from jaxcollapse.workflows._linalg import (
    cholesky_lower,
    prefix_sum,
    solve_lower,
    tree_sum,
    tree_sum_odd,
)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 10])
def test_solve_and_cholesky_match_numpy(d):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(d, d))
    spd = a @ a.T + d * np.eye(d)
    want = np.linalg.cholesky(spd)
    got = np.asarray(jax.jit(cholesky_lower)(jnp.asarray(spd, jnp.float32)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.all(np.triu(got, 1) == 0)
    tril = jnp.asarray(want, jnp.float32)
    for b in (rng.normal(size=(d,)), rng.normal(size=(d, 3))):
        for transpose in (False, True):
            mat = want.T if transpose else want
            x = jax.jit(solve_lower, static_argnums=2)(
                tril, jnp.asarray(b, jnp.float32), transpose
            )
            assert x.shape == b.shape
            np.testing.assert_allclose(
                np.asarray(x), np.linalg.solve(mat, b), rtol=1e-4, atol=1e-5
            )


@pytest.mark.parametrize("d", [2, 6])
def test_cholesky_of_an_indefinite_matrix_is_not_finite(d):
    a = np.eye(d)
    a[0, 1] = a[1, 0] = 2.0  # eigenvalues 3 and -1
    got = np.asarray(cholesky_lower(jnp.asarray(a, jnp.float32)))
    assert not np.all(np.isfinite(got))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100, 101])
def test_unpadded_tree_sum(size):
    """The sum over either axis to float32 rounding, and tree_sum's own bits
    where the size is a power of two (the same tree)."""
    x = np.random.default_rng(size).normal(size=(size, 5)).astype(np.float32)
    odd = jax.jit(tree_sum_odd, static_argnums=1)
    got = np.asarray(odd(jnp.asarray(x), 0))
    np.testing.assert_allclose(got, x.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)
    if size & (size - 1) == 0:
        np.testing.assert_array_equal(got, np.asarray(tree_sum(jnp.asarray(x), 0)))
    along = np.asarray(odd(jnp.asarray(x.T), 1))
    np.testing.assert_allclose(along, x.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [0, -1])
def test_prefix_sum_is_cumsum(axis):
    """Integer-valued floats, so every order of additions gives cumsum's sums."""
    x = np.random.default_rng(3).integers(0, 9, size=(7, 13)).astype(np.float32)
    got = np.asarray(jax.jit(lambda v: prefix_sum(v, axis))(x))
    np.testing.assert_array_equal(got, np.cumsum(x, axis=axis))
