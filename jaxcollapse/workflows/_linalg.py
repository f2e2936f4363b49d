"""Sums and small products whose rounding never depends on the compiled program.

XLA lowers a dot to a library kernel (Eigen, XNNPACK) whose blocking can depend on
the batch size and free threads, and may give a reduction a different order once
the program is partitioned over several devices (other layouts). A fixed pairwise
tree of elementwise adds rounds the same way in every program, so per-chain
results are bit-identical for any chunk size and device count. Pairwise
summation is also more accurate than a running sum (error O(log n) ulps).
"""

from functools import partial

import jax
import jax.numpy as jnp


@partial(jax.jit, static_argnames="axis")
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


@partial(jax.jit, static_argnames="axis")
def tree_sum_odd(x, axis: int = -1):
    """Sum over `axis` by a fixed tree of halves, an odd element left over
    added to the first: tree_sum's order where the size is a power of two, and
    no zero padding otherwise. A pad fused into the elementwise code before it
    is a bounds test per element that stops XLA's CPU vectorisation: KDE's exp
    tiles (100 pool slots padded to 128) ran at about half the rate, and
    categorical's metrics over K = 100 and linreg's d = 10 products (the
    small-matrix code below: accumulate, d = 10, 3.8-4.0 -> 3.3-3.5 core-us a
    chain-generation) were faster without it. Elsewhere padding measured
    neutral or faster (GMM's EM sums), so tree_sum keeps it."""
    axis = axis % x.ndim
    if x.shape[axis] == 0:
        return jnp.sum(x, axis)  # zeros
    while x.shape[axis] > 1:
        size = x.shape[axis]
        half = size // 2
        y = jax.lax.slice_in_dim(x, 0, half, axis=axis) + jax.lax.slice_in_dim(
            x, half, 2 * half, axis=axis
        )
        if size % 2:
            first = jax.lax.slice_in_dim(y, 0, 1, axis=axis)
            last = jax.lax.slice_in_dim(x, 2 * half, size, axis=axis)
            rest = jax.lax.slice_in_dim(y, 1, half, axis=axis)
            y = jnp.concatenate([first + last, rest], axis=axis)
        x = y
    return jnp.squeeze(x, axis)


def prefix_sum(x, axis: int = -1):
    """Inclusive cumulative sum over `axis` by shifted adds (Hillis & Steele
    1986): a fixed sequence of elementwise adds, so the same rounding in every
    compiled program (bigram's inverse-CDF rows; categorical's table for
    K > 256)."""
    axis = axis % x.ndim
    size = x.shape[axis]
    shift = 1
    while shift < size:
        pad = jnp.zeros(x.shape[:axis] + (shift,) + x.shape[axis + 1 :], x.dtype)
        head = jax.lax.slice_in_dim(x, 0, size - shift, axis=axis)
        x = x + jnp.concatenate([pad, head], axis=axis)
        shift *= 2
    return x


def tree_max(x, axis: int = -1):
    """Max over `axis` (dropped) by elementwise maxima of two overlapping halves,
    repeated: unlike a reduce, XLA's CPU backend fuses it with the elementwise
    code around it (faster in bigram's Adam steps, and in KDE's pool-major
    tiles, where the max runs over the major axis)."""
    axis = axis % x.ndim
    while x.shape[axis] > 1:
        size = x.shape[axis]
        half = -(-size // 2)
        x = jnp.maximum(
            jax.lax.slice_in_dim(x, 0, half, axis=axis),
            jax.lax.slice_in_dim(x, size - half, size, axis=axis),
        )
    return jnp.squeeze(x, axis)


def total(x):
    """Sum of all elements, by a fixed tree."""
    return tree_sum(jnp.reshape(x, (-1,)), 0)


def matvec(a, x):
    """a @ x for a (..., m, k), x (..., k)."""
    return tree_sum_odd(a * x[..., None, :], -1)


def matmul(a, b):
    """a @ b for a (m, k), b (k, p)."""
    return tree_sum_odd(a[:, :, None] * b[None, :, :], 1)


def rows_times(u, a):
    """u @ a.T for rows u (n, k) and a (m, k): each row mapped by a."""
    return tree_sum_odd(u[:, None, :] * a[None, :, :], -1)


def weighted_mean(w, u):
    """sum_i w_i u_i for w (n,), u (n, k)."""
    return tree_sum_odd(w[:, None] * u, 0)


def weighted_mean_about_live(w, u, inv):
    """inv * sum_i w_i u_i (inv: 1 / sum w, or whatever the caller divides
    by), taken about the first point of positive weight, so that equal points
    give their value exactly. The reciprocal is multiplied in: XLA rewrites a
    division by a broadcast scalar as this product in some compiled programs
    and not in others (it follows how the chain axis is laid out: one device
    or two), and the two round differently; written so, every program rounds
    alike."""
    anchor = u[jnp.argmax(w > 0)]
    return anchor + weighted_mean(w, u - anchor) * inv


def weighted_scatter(w, c):
    """sum_i w_i c_i c_i^T for w (n,), c (n, k)."""
    return tree_sum_odd(w[:, None, None] * c[:, :, None] * c[:, None, :], 0)


# Small dense factorisations, written as straight-line elementwise code for a
# static dimension. Under vmap over chains, jax.scipy.linalg.solve_triangular
# and jnp.linalg.cholesky lower to batched library calls that handle one small
# matrix at a time: on the CPU benchmark machine about 95 ns for a 1 x 1
# triangular solve and 550 ns for a 10 x 10 Cholesky, per chain, which made the
# frame changes of a Gaussian `accumulate` generation cost more than its 100
# draws. Elementwise code vectorises across chains instead, and its rounding is
# the same in every compiled program (fixed order, no library kernel).


# Up to this dimension the factorisations are unrolled (straight-line code);
# above it they are a lax.fori_loop over rows, vectorised within each row, which
# keeps the compiled program small. At d = 10 (linreg accumulate, 20k chains,
# n = 100, T = 50, 2-core CPU) unrolling costs 1.75 s more compilation and
# halves the run (9.5 s -> 5.0 s warm, 12.9 s -> 10.2 s cold).
UNROLL_MAX = 10


def solve_lower(tril, b, transpose: bool = False):
    """x with tril @ x = b (or tril^T @ x = b): forward (back) substitution.

    tril (d, d) lower triangular; b (d,) or (d, k). Each row's sum is taken in
    a fixed order."""
    d = tril.shape[-1]
    if d > UNROLL_MAX:
        return _solve_lower_loop(tril, b, transpose)
    rows = [None] * d
    order = range(d - 1, -1, -1) if transpose else range(d)
    for i in order:
        acc = b[i]
        others = range(i + 1, d) if transpose else range(i)
        for j in others:
            coef = tril[j, i] if transpose else tril[i, j]
            acc = acc - coef * rows[j]
        rows[i] = acc / tril[i, i]
    return jnp.stack(rows)


def _solve_lower_loop(tril, b, transpose):
    d = tril.shape[-1]
    mat = tril.T if transpose else tril
    vec = b if b.ndim == 2 else b[:, None]
    vec = vec.astype(jnp.result_type(tril, vec))

    def row(step, x):
        i = d - 1 - step if transpose else step
        coef = jax.lax.dynamic_index_in_dim(mat, i, 0, keepdims=False)  # (d,)
        # x is zero where not yet solved, so the full row's sum is the partial.
        acc = jax.lax.dynamic_index_in_dim(vec, i, 0, keepdims=False)
        acc = acc - tree_sum_odd(coef[:, None] * x, 0)
        value = acc / coef[i]
        return jax.lax.dynamic_update_index_in_dim(x, value, i, 0)

    x = jax.lax.fori_loop(0, d, row, jnp.zeros_like(vec))
    return x if b.ndim == 2 else x[:, 0]


def cholesky_lower(a):
    """The lower Cholesky factor of a symmetric (d, d) matrix. Where `a` is not
    positive definite the factor has NaN entries from the failing pivot on
    (jnp.linalg.cholesky makes the whole matrix NaN); callers test
    all(isfinite) or let the NaN propagate."""
    d = a.shape[-1]
    if d > UNROLL_MAX:
        return _cholesky_loop(a)
    low = [[None] * d for _ in range(d)]
    for i in range(d):
        for j in range(i + 1):
            acc = a[i, j]
            for k in range(j):
                acc = acc - low[i][k] * low[j][k]
            low[i][j] = jnp.sqrt(acc) if i == j else acc / low[j][j]
    zero = jnp.zeros((), a.dtype)
    return jnp.stack(
        [jnp.stack([low[i][j] if j <= i else zero for j in range(d)]) for i in range(d)]
    )


def _cholesky_loop(a):
    """Left-looking Cholesky, one column a step: column j is
    (a[:, j] - L L[j, :]^T) over its pivot, below the diagonal (L is still zero
    from column j on, so the product sums k < j only)."""
    d = a.shape[-1]
    index = jnp.arange(d)

    def column(j, low):
        lj = jax.lax.dynamic_index_in_dim(low, j, 0, keepdims=False)  # row j of L
        aj = jax.lax.dynamic_index_in_dim(a, j, 1, keepdims=False)  # column j
        v = aj - tree_sum_odd(low * lj[None, :], 1)
        pivot = jnp.sqrt(v[j])
        col = jnp.where(index > j, v / pivot, jnp.where(index == j, pivot, 0.0))
        return jax.lax.dynamic_update_index_in_dim(low, col, j, 1)

    return jax.lax.fori_loop(0, d, column, jnp.zeros_like(a))
