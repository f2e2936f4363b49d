"""Per-generation statistics across chains, merged chunk by chunk (SPEC §5).

Each metric at each generation is reduced to mean, sem, std, quantiles
q05 q25 q50 q75 q95 and the count of non-finite values (never dropped silently:
they are excluded from the other statistics and counted).

Reproducibility across chunk sizes and device counts: chains are grouped in fixed
blocks of `block` consecutive chain indices. The device reduces each block to
(count, mean, M2) in one fixed-shape reduction; the host merges blocks strictly in
block order in float64 with the pairwise update of Chan, Golub & LeVeque (1979).
Neither step depends on how blocks were batched into chunks or spread over devices.

Quantiles are the exact empirical quantiles (linear interpolation, numpy's
default) of the first `quantile_chains` chains, whose per-chain values are kept
on the host; that subset is fixed by chain index, so it too is invariant.
"""

import jax.numpy as jnp
import numpy as np

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
STATISTICS = ("mean", "sem", "std", "q05", "q25", "q50", "q75", "q95", "nonfinite")


def block_moments(values, valid, block: int):
    """Device side: values (C, ...) with C a multiple of `block`, valid (C,) bool.

    Returns (count, mean, m2, nonfinite), each (C // block, ...).
    """
    shape = (values.shape[0] // block, block) + values.shape[1:]
    mask = jnp.reshape(valid, (-1,) + (1,) * (values.ndim - 1))
    finite = jnp.isfinite(values)
    use = (finite & mask).reshape(shape)
    vals = jnp.where(finite, values, 0.0).reshape(shape)
    count = jnp.sum(use, axis=1, dtype=jnp.int32)
    mean = jnp.sum(jnp.where(use, vals, 0.0), axis=1) / jnp.maximum(count, 1)
    m2 = jnp.sum(jnp.where(use, (vals - mean[:, None]) ** 2, 0.0), axis=1)
    nonfinite = jnp.sum((~finite & mask).reshape(shape), axis=1, dtype=jnp.int32)
    return count, mean, m2, nonfinite


class Accumulator:
    """Host side: float64 (count, mean, M2) merged block by block, in block order."""

    def __init__(self, shape):
        self.count = np.zeros(shape, np.int64)
        self.mean = np.zeros(shape, np.float64)
        self.m2 = np.zeros(shape, np.float64)
        self.nonfinite = np.zeros(shape, np.int64)

    def add_blocks(self, count, mean, m2, nonfinite, axis=0, where=...):
        """Merge blocks laid along `axis` of the arrays, first to last, into the
        accumulator entries selected by `where`."""
        count, mean, m2, nonfinite = (
            np.moveaxis(np.asarray(a), axis, 0) for a in (count, mean, m2, nonfinite)
        )
        n, mu, s2 = self.count[where], self.mean[where], self.m2[where]
        for c, m, s, bad in zip(count, mean, m2, nonfinite):
            c = c.astype(np.int64)
            total = n + c
            safe = np.maximum(total, 1)
            delta = m.astype(np.float64) - mu
            mu = mu + delta * (c / safe)
            s2 = s2 + s.astype(np.float64) + delta**2 * (n * c / safe)
            n = total
            self.nonfinite[where] += bad
        self.count[where], self.mean[where], self.m2[where] = n, mu, s2

    def summary(self) -> dict[str, np.ndarray]:
        """mean, sem, std (divisor N - 1) and nonfinite; NaN where N is too small."""
        n = self.count
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, self.mean, np.nan)
            var = np.where(n > 1, self.m2 / np.maximum(n - 1, 1), np.nan)
            std = np.sqrt(var)
            sem = std / np.sqrt(np.maximum(n, 1))
        return {"mean": mean, "sem": sem, "std": std, "nonfinite": self.nonfinite.copy()}


def quantiles(values: np.ndarray, axis: int = 0) -> dict[str, np.ndarray]:
    """Empirical quantiles over `axis` of the finite values (NaN where none)."""
    vals = np.where(np.isfinite(values), values, np.nan).astype(np.float64)
    sorted_vals = np.sort(vals, axis=axis)  # NaN sorts last
    finite = np.sum(np.isfinite(vals), axis=axis, keepdims=True)
    out = {}
    for q in QUANTILES:
        pos = q * np.maximum(finite - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(finite - 1, 0))
        frac = pos - lo
        v_lo = np.take_along_axis(sorted_vals, lo, axis=axis)
        v_hi = np.take_along_axis(sorted_vals, hi, axis=axis)
        value = np.where(finite > 0, v_lo + frac * (v_hi - v_lo), np.nan)
        out[f"q{round(q * 100):02d}"] = np.squeeze(value, axis=axis)
    return out
