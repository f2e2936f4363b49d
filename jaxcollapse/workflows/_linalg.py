"""Sums and small products whose rounding never depends on the compiled program.

XLA lowers a dot to a library kernel (Eigen, XNNPACK) whose blocking can depend on
the batch size and free threads, and may give a reduction a different order once
the program is partitioned over several devices (other layouts). A fixed pairwise
tree of elementwise adds rounds the same way in every program, so per-chain
results are bit-identical for any chunk size and device count. Pairwise
summation is also more accurate than a running sum (error O(log n) ulps).
"""

import jax
import jax.numpy as jnp


def tree_sum(x, axis: int = 0):
    """Sum over `axis` by a fixed pairwise tree (zero-padded to a power of two)."""
    axis = axis % x.ndim
    size = x.shape[axis]
    width = 1 << max(0, (size - 1).bit_length())
    if width != size:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (0, width - size)
        x = jnp.pad(x, pad)
    while x.shape[axis] > 1:
        half = x.shape[axis] // 2
        x = jax.lax.slice_in_dim(x, 0, half, axis=axis) + jax.lax.slice_in_dim(
            x, half, 2 * half, axis=axis
        )
    return jnp.squeeze(x, axis)


def total(x):
    """Sum of all elements, by a fixed tree."""
    return tree_sum(jnp.reshape(x, (-1,)), 0)


def matvec(a, x):
    """a @ x for a (..., m, k), x (..., k)."""
    return tree_sum(a * x[..., None, :], -1)


def matmul(a, b):
    """a @ b for a (m, k), b (k, p)."""
    return tree_sum(a[:, :, None] * b[None, :, :], 1)


def rows_times(u, a):
    """u @ a.T for rows u (n, k) and a (m, k): each row mapped by a."""
    return tree_sum(u[:, None, :] * a[None, :, :], -1)


def weighted_mean(w, u):
    """sum_i w_i u_i for w (n,), u (n, k)."""
    return tree_sum(w[:, None] * u, 0)


def weighted_scatter(w, c):
    """sum_i w_i c_i c_i^T for w (n,), c (n, k)."""
    return tree_sum(w[:, None, None] * c[:, :, None] * c[:, None, :], 0)
