"""Weighted sufficient statistics of a training set: the exact fast path's pool.

A Gaussian fit (SPEC §2) depends on its weighted training set only through the
total weight W, the weighted mean m, the weighted scatter sum_i w_i (u_i - m)(u_i - m)^T
and sum_i w_i^2 (for the ddof correction). Unions merge these exactly with the
pairwise update of Chan, Golub & LeVeque (1979), so every workflow that only
unions and reweights sets (replace, accumulate, augment, fresh, mix) runs on
O(d^2) numbers per chain instead of a growing pool of points.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcollapse import _prng
from jaxcollapse.workflows import _frame
from jaxcollapse.workflows._chisquare import log_chisquares
from jaxcollapse.workflows._frame import Frame
from jaxcollapse.workflows._linalg import matmul, matvec


class Moments(NamedTuple):
    """Sufficient statistics of a weighted point set, in coordinates of `frame`."""

    weight: jax.Array  # () total weight W = sum w_i
    mean: jax.Array  # (d,) sum w_i u_i / W
    scatter: jax.Array  # (d, d) sum w_i (u_i - mean)(u_i - mean)^T
    sum_sq_weight: jax.Array  # () sum w_i^2
    count: jax.Array  # () number of points, int32
    frame: Frame

    def total_weight(self) -> jax.Array:
        return self.weight

    def reframe(self, frame: Frame) -> "Moments":
        """The same set in another frame; an empty (zero-weight) set maps to zeros."""
        lin, off = _frame.transition(self.frame, frame)
        live = self.weight > 0
        mean = jnp.where(live, matvec(lin, self.mean) + off, 0.0)
        scatter = jnp.where(live, matmul(matmul(lin, self.scatter), lin.T), 0.0)
        return self._replace(mean=mean, scatter=scatter, frame=frame)

    def with_total_weight(self, total) -> "Moments":
        """Rescale every point's weight so that they sum to `total`."""
        ratio = jnp.where(self.weight > 0, total / self.weight, 0.0)
        return self._replace(
            weight=self.weight * ratio,
            scatter=self.scatter * ratio,
            sum_sq_weight=self.sum_sq_weight * ratio**2,
        )

    def union(self, other: "Moments") -> "Moments":
        """Both sets together, in the frame of the heavier one."""
        frame = _frame.select(self.weight >= other.weight, self.frame, other.frame)
        a, b = self.reframe(frame), other.reframe(frame)
        total = a.weight + b.weight
        safe = jnp.where(total > 0, total, 1.0)
        delta = b.mean - a.mean
        mean = a.mean + (b.weight / safe) * delta
        scatter = (
            a.scatter
            + b.scatter
            + (a.weight * b.weight / safe) * jnp.outer(delta, delta)
        )
        return Moments(
            total,
            mean,
            scatter,
            a.sum_sq_weight + b.sum_sq_weight,
            a.count + b.count,
            frame,
        )

    # Accumulating into a pool is the same exact merge for sufficient statistics.
    append = union

    def covariance(self, ddof) -> jax.Array:
        """Weighted covariance scatter / (W (1 - ddof sum w^2 / W^2)).

        For equal weights over N points this is scatter / (N - ddof); for unequal
        weights and ddof = 1 it is the unbiased estimator for reliability weights.
        """
        return self.scatter / (self.weight - ddof * self.sum_sq_weight / self.weight)


def gaussian_group(key, num: int, dim: int, scale, frame: Frame) -> Moments:
    """Statistics of `num` i.i.d. N(0, scale^2 I_d) points in `frame`, drawn exactly.

    The sample mean is N(0, scale^2 I / num) and, independently, the scatter is
    Wishart(num - 1, scale^2 I), drawn by the Bartlett decomposition (Bartlett
    1933): scatter = A A^T with A lower triangular, A_ii^2 ~ chi^2(num - 1 - i)
    (drawn together by _chisquare.log_chisquares), A_ij ~ N(0, 1) below the diagonal.
    """
    dtype = frame.log_scale.dtype
    k_mean, k_off = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    mean = _prng.normal(k_mean, (dim,), dtype, materialise=dim > 1)
    mean = scale * mean / jnp.sqrt(num)
    dofs = num - 1 - np.arange(dim)
    diag = jnp.exp(0.5 * log_chisquares(jax.random.fold_in(key, 2), dofs, dtype))
    bartlett = jnp.diag(diag)
    if dim > 1:
        off = _prng.normal(k_off, (dim, dim), dtype, materialise=True)
        bartlett = bartlett + jnp.tril(off, -1)
    scatter = scale**2 * matmul(bartlett, bartlett.T)
    one = jnp.ones((), dtype)
    return Moments(
        num * one, mean, scatter, num * one, jnp.asarray(num, jnp.int32), frame
    )
