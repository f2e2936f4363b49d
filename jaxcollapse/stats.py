"""Per-generation statistics across chains, merged chunk by chunk (SPEC §5).

Each metric at each generation is reduced to mean, sem, std, quantiles
q05 q25 q50 q75 q95 and the count of non-finite values (never dropped silently:
they are excluded from the other statistics and counted).

Reproducibility across chunk sizes and device counts: chains are grouped in fixed
blocks of `block` consecutive chain indices. The device reduces each block to
(count, mean, M2) by a fixed pairwise tree of adds; the host merges blocks
strictly in block order in float64 with the pairwise update of Chan, Golub &
LeVeque (1979). Neither step depends on how blocks were batched into chunks or
spread over devices.

Quantiles are the exact empirical quantiles (linear interpolation, numpy's
default) of the first `quantile_chains` chains, whose per-chain values are kept
on the host; that subset is fixed by chain index, so it too is invariant.
"""

import jax.numpy as jnp
import numpy as np

from jaxcollapse.workflows._linalg import tree_sum as _tree_sum

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
STATISTICS = ("mean", "sem", "std", "q05", "q25", "q50", "q75", "q95", "nonfinite")


def block_moments(values, valid, axis: int = 0):
    """Device side: reduce one block of chains laid along `axis` of `values`.

    valid is a bool vector over that axis (padding chains are False); its length
    is a power of two. Returns count, mean / scale, m2 / scale^2, scale and
    nonfinite. Sums are taken on values divided by a power of two near
    the block's largest magnitude, so metrics near float32's largest number (a
    collapsed model's test NLL) neither overflow nor turn into NaN here.
    """
    values = jnp.moveaxis(values, axis, 0)
    mask = jnp.reshape(valid, (-1,) + (1,) * (values.ndim - 1))
    finite = jnp.isfinite(values)
    use = finite & mask
    vals = jnp.where(use, values, 0.0)
    # Integer sums and the max are exact in any order; only float sums need
    # the fixed tree.
    count = jnp.sum(use, axis=0, dtype=jnp.int32)
    # A power of two (exact division) whose reciprocal stays a normal float32:
    # XLA flushes subnormals to zero and may divide by multiplying by 1/scale.
    largest = jnp.max(jnp.abs(vals), axis=0)
    scale = jnp.exp2(jnp.ceil(jnp.log2(jnp.where(largest > 0, largest, 1.0))))
    scale = jnp.clip(scale, 2.0**-60, 2.0**100)
    unit = vals / scale
    mean_unit = _tree_sum(unit, 0) / jnp.maximum(count, 1)
    m2_unit = _tree_sum(jnp.where(use, (unit - mean_unit) ** 2, 0.0), 0)
    nonfinite = jnp.sum(~finite & mask, axis=0, dtype=jnp.int32)
    return count, mean_unit, m2_unit, scale, nonfinite


class Accumulator:
    """Host side: float64 (count, mean, M2) merged block by block, in block order."""

    def __init__(self, shape):
        self.count = np.zeros(shape, np.int64)
        self.mean = np.zeros(shape, np.float64)
        self.m2 = np.zeros(shape, np.float64)
        self.nonfinite = np.zeros(shape, np.int64)

    def add_blocks(
        self, count, mean_unit, m2_unit, scale, nonfinite, axis=0, where=...
    ):
        """Merge blocks laid along `axis` of the arrays (block_moments' outputs),
        first to last, into the accumulator entries selected by `where`; each
        block's remaining shape must match `where`."""

        def blocks(a):
            return np.moveaxis(np.asarray(a), axis, 0)

        scales = blocks(scale).astype(np.float64)
        means = blocks(mean_unit).astype(np.float64) * scales
        m2s = blocks(m2_unit).astype(np.float64) * scales**2
        n, mu, s2 = self.count[where], self.mean[where], self.m2[where]
        for c, m, s in zip(blocks(count), means, m2s, strict=True):
            c = c.astype(np.int64)
            total = n + c
            safe = np.maximum(total, 1)
            # Values past float64's square root (1e154, under x64) overflow the
            # cross term to inf, which is what m2 then is; an empty side
            # contributes nothing (never inf * 0 = NaN).
            with np.errstate(over="ignore", invalid="ignore"):
                delta = np.where(c > 0, m - mu, 0.0)
                mu = mu + delta * (c / safe)
                cross = np.where(n * c > 0, delta**2 * (n * c / safe), 0.0)
                s2 = s2 + s + cross
            n = total
        self.nonfinite[where] += blocks(nonfinite).sum(axis=0)  # integers: exact
        self.count[where], self.mean[where], self.m2[where] = n, mu, s2

    def summary(self) -> dict[str, np.ndarray]:
        """mean, sem, std (divisor N - 1) and nonfinite; NaN where N is too small."""
        n = self.count
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, self.mean, np.nan)
            var = np.where(n > 1, self.m2 / np.maximum(n - 1, 1), np.nan)
            std = np.sqrt(var)
            sem = std / np.sqrt(np.maximum(n, 1))
        return {
            "mean": mean,
            "sem": sem,
            "std": std,
            "nonfinite": self.nonfinite.copy(),
        }


def quantiles(values: np.ndarray, axis: int = 0) -> dict[str, np.ndarray]:
    """Empirical quantiles over `axis` of the finite values (NaN where none).

    Sorted along the last, contiguous axis in the values' own dtype (the order
    is the same in float64; it is several times faster), then interpolated in
    float64.
    """
    vals = np.moveaxis(np.asarray(values), axis, -1)
    vals = np.sort(np.where(np.isfinite(vals), vals, np.nan), axis=-1)  # NaN last
    finite = np.sum(np.isfinite(vals), axis=-1, keepdims=True)
    out = {}
    for q in QUANTILES:
        pos = q * np.maximum(finite - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(finite - 1, 0))
        frac = pos - lo
        v_lo = np.take_along_axis(vals, lo, axis=-1).astype(np.float64)
        v_hi = np.take_along_axis(vals, hi, axis=-1).astype(np.float64)
        value = np.where(finite > 0, v_lo + frac * (v_hi - v_lo), np.nan)
        out[f"q{round(q * 100):02d}"] = value[..., 0]
    return out
