"""The fixed-capacity weighted point pool that every sample-level workflow builds on.

A pool is (data, weight, count, frame, root): `data` has a static capacity, slots
at or past `count` are empty and carry weight 0, so a pool that grows every
generation (accumulate) is still one static shape under jit. Coordinates are in
`frame` (see _frame.py), or absolute when `frame` is None (families whose scale
cannot collapse below float32's range keep no frame and pay nothing for one).
`root` optionally labels every point with the index of the generation-0 real
point it descends from (KDE's distinct_roots); None where nobody asks. A pool's
weights are per point; workflows that weight real against synthetic data
rescale whole sets (SPEC §4).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxcollapse.workflows import _frame
from jaxcollapse.workflows._frame import Frame
from jaxcollapse.workflows._linalg import (
    rows_times,
    tree_sum,
    weighted_mean_about_live,
    weighted_scatter,
)
from jaxcollapse.workflows._moments import Moments


class Pool(NamedTuple):
    """Weighted points with a static capacity."""

    data: jax.Array  # (capacity, d) coordinates in `frame`
    weight: jax.Array  # (capacity,) per-point weight, 0 in empty slots
    count: jax.Array  # () filled slots, int32; slots [0, count) are filled
    frame: Frame | None
    root: Any = None  # (capacity,) int32 ancestor labels, or None

    @staticmethod
    def full(data: jax.Array, frame: Frame | None, root=None) -> "Pool":
        """A pool holding exactly `data` (num, *point_shape), each point with
        weight 1; weights take the data's float dtype, or the default float
        dtype for integer points (symbols, sequences)."""
        num = data.shape[0]
        weight_dtype = data.dtype
        if not jnp.issubdtype(weight_dtype, jnp.floating):
            weight_dtype = jnp.zeros(()).dtype
        return Pool(
            data,
            jnp.ones((num,), weight_dtype),
            jnp.asarray(num, jnp.int32),
            frame,
            root,
        )

    @staticmethod
    def empty(capacity: int, like: "Pool") -> "Pool":
        """An empty pool of `capacity` slots for points like those of `like`."""
        dim, dtype = like.data.shape[1:], like.data.dtype
        root = None
        if like.root is not None:
            root = jnp.zeros((capacity,), like.root.dtype)
        return Pool(
            jnp.zeros((capacity, *dim), dtype),
            jnp.zeros((capacity,), like.weight.dtype),
            jnp.zeros((), jnp.int32),
            like.frame,
            root,
        )

    def total_weight(self) -> jax.Array:
        return tree_sum(self.weight, 0)

    def reframe(self, frame: Frame | None) -> "Pool":
        """The same points in another frame; zero-weight slots are set to 0."""
        if frame is None and self.frame is None:
            return self
        lin, off = _frame.transition(self.frame, frame)
        data = jnp.where(
            self.weight[:, None] > 0, rows_times(self.data, lin) + off, 0.0
        )
        return self._replace(data=data, frame=frame)

    def with_total_weight(self, total) -> "Pool":
        current = self.total_weight()
        ratio = jnp.where(current > 0, total / current, 0.0)
        return self._replace(weight=self.weight * ratio)

    def _common_frame(self, other: "Pool") -> tuple["Pool", "Pool"]:
        if self.frame is None and other.frame is None:
            return self, other
        heavier = self.total_weight() >= other.total_weight()
        frame = _frame.select(heavier, self.frame, other.frame)
        return self.reframe(frame), other.reframe(frame)

    def union(self, other: "Pool") -> "Pool":
        """Concatenation (both pools full), in the frame of the heavier one."""
        a, b = self._common_frame(other)
        return Pool(
            jnp.concatenate([a.data, b.data]),
            jnp.concatenate([a.weight, b.weight]),
            a.count + b.count,
            a.frame,
            _both(a.root, b.root, lambda x, y: jnp.concatenate([x, y])),
        )

    def append(self, other: "Pool") -> "Pool":
        """Write the full pool `other` into the free slots starting at `count`."""
        a, b = self._common_frame(other)
        start = a.count
        corner = (start,) + (jnp.zeros((), start.dtype),) * (a.data.ndim - 1)
        return Pool(
            jax.lax.dynamic_update_slice(a.data, b.data, corner),
            jax.lax.dynamic_update_slice(a.weight, b.weight, (start,)),
            a.count + b.count,
            a.frame,
            _both(
                a.root,
                b.root,
                lambda x, y: jax.lax.dynamic_update_slice(x, y, (start,)),
            ),
        )

    def subsample(self, key, num: int) -> "Pool":
        """`num` filled slots chosen uniformly without replacement (weights
        kept), by Floyd's algorithm (Bentley & Floyd 1987, "A sample of
        brilliance"): for j = count - num, ..., count - 1 draw t uniform on
        [0, j] and take t, or j if t is taken already. Every num-subset of the
        count filled slots is equally likely. It costs num draws and num^2
        comparisons, whatever the capacity; ranking a uniform score over the
        whole capacity (top_k) cost O(capacity log capacity) a generation,
        which made an accumulated pool of n (T + 1) slots the run's bottleneck.
        Needs count >= num (accumulate-subsample always has it)."""
        offset = jnp.arange(num, dtype=jnp.int32)
        top = self.count - num + offset  # j for each step
        draws = jax.random.randint(key, (num,), 0, top + 1, dtype=jnp.int32)

        def step(k, chosen):
            t = draws[k]
            taken = jnp.any(chosen == t)
            return chosen.at[k].set(jnp.where(taken, top[k], t))

        index = jax.lax.fori_loop(0, num, step, jnp.full((num,), -1, jnp.int32))
        return self.take(index)

    def take(self, index: jax.Array) -> "Pool":
        """The (filled) slots `index`, in that order, as a full pool."""
        return Pool(
            self.data[index],
            self.weight[index],
            jnp.asarray(index.shape[0], jnp.int32),
            self.frame,
            None if self.root is None else self.root[index],
        )

    def unrooted(self) -> "Pool":
        """The same points labelled -1: real data that descends from no
        generation-0 point (fresh draws); a pool without labels is unchanged."""
        if self.root is None:
            return self
        return self._replace(root=jnp.full_like(self.root, -1))

    def best(self, score: jax.Array, num: int) -> "Pool":
        """The `num` points with the highest `score` (the verify modifier)."""
        _, index = jax.lax.top_k(score, num)
        return self.take(index)

    def moments(self) -> Moments:
        """Exact weighted sufficient statistics (two passes, for accuracy)."""
        w = self.weight
        total = tree_sum(w, 0)
        mean = weighted_mean_about_live(w, self.data, 1.0 / total)
        centred = (self.data - mean) * (w[:, None] > 0)
        scatter = weighted_scatter(w, centred)
        count = jnp.sum(w > 0).astype(jnp.int32)
        return Moments(total, mean, scatter, tree_sum(w * w, 0), count, self.frame)

    def absolute(self) -> jax.Array:
        """The points themselves, (capacity, d)."""
        if self.frame is None:
            return self.data
        return _frame.to_absolute(self.frame, self.data)


def _both(x, y, combine):
    """combine(x, y) when both pools carry labels, else None."""
    if (x is None) != (y is None):
        raise ValueError("cannot combine a pool with root labels and one without")
    return None if x is None else combine(x, y)
