"""The `categorical` family: fit symbol frequencies, sample, repeat (SPEC §2, §5).

Truth P = Zipf(s) over K symbols, p_k ∝ k^(-s) for k = 1..K (symbol index k - 1;
s = 0 is uniform); it is fixed by the settings, the same for every chain.

Fit: additive (Laplace / Lidstone) smoothing of the weighted frequencies,

    p_hat_k = (c_k + alpha) / (W + K alpha),   c_k = N f_k,  W = N,

with f_k = (sum of the weights on symbol k) / (total weight) and N = (sum w)^2 /
sum w^2 (Kish's effective number of points). For a set of unit weights, N is the
number of points and c_k the count of symbol k, so this is SPEC §2's
(counts + alpha) / (n + K alpha); for reweighted sets (mix, weighted fresh) it
makes alpha a number of pseudo-points whatever the scale of the weights (a fit
depends on the weights only through their ratios, like the Gaussian's). With
alpha = 0 a symbol that no point carries gets probability exactly 0. A set of
total weight 0 (which no workflow produces) is fitted as uniform: never NaN.

Sample: Multinomial(n, q), q ∝ p_hat^(1/tau), computed in log space so that
p_hat_k = 0 stays 0 for any tau (tau < 1 sharpens, tau > 1 flattens). Each
symbol is drawn by inverting the cumulative weights of q (one uniform a draw;
a two-level search of a blocked table for K <= 256, a binary search above;
draw_symbols). Resolution: float32 uniforms are multiples of
2^-23, so a symbol whose q_k is below about 1e-7 is drawn with a probability
rounded to that grid (use --x64 for more), and a q_k that underflows in
exp((log p_hat_k - max log p_hat) / tau) (below about 1e-38 of the largest) is
never drawn.

Under `replace` with alpha = 0 and tau = 1 every symbol's count is a two-type
Wright-Fisher chain, absorbed at 0 (the symbol is lost for good) or n (total
collapse): the tail of P disappears first (Shumailov et al. 2024, "AI models
collapse when trained on recursively generated data"); see
jaxcollapse/theory/categorical.py.

Exact fast path: a set enters the fit only through its weighted count vector,
so on every workflow whose sets are unions and reweightings (all but
accumulate-subsample) a chain carries `Counts` (K weighted counts and the sum of
squared weights) instead of points: accumulate needs O(K) memory, not O(n T).
A synthetic set's counts are exact in law: n inverse-CDF draws, counted.

Determinism: counts of drawn symbols are integer sums (exact in any order). The
points path sums float weights per symbol with workflows/_scatter.scatter_add:
on CPU XLA's scatter-add, which applies one update at a time in index order;
elsewhere (GPUs, where a float scatter-add uses atomics) a sort and a
segmented scan, so chunk sizes and device counts give the same bits.
"""

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcollapse._prng import computed_once
from jaxcollapse.config import INT32_MAX, assign, check_integer, check_number
from jaxcollapse.workflows._linalg import prefix_sum, tree_sum, tree_sum_odd
from jaxcollapse.workflows._pool import Pool
from jaxcollapse.workflows._scatter import scatter_add


class CategoricalParams(NamedTuple):
    """A distribution over K symbols, with its logarithm (-inf where 0)."""

    probs: jax.Array  # (K,)
    log_probs: jax.Array  # (K,)


class Counts(NamedTuple):
    """A weighted set of symbols as its sufficient statistics (the exact path)."""

    counts: jax.Array  # (K,) sum of the weights on each symbol
    sum_sq_weight: jax.Array  # () sum of the squared weights

    def total_weight(self) -> jax.Array:
        return tree_sum(self.counts, 0)

    def with_total_weight(self, total) -> "Counts":
        """Rescale every point's weight so that they sum to `total`."""
        current = self.total_weight()
        ratio = jnp.where(current > 0, total / current, 0.0)
        return Counts(self.counts * ratio, self.sum_sq_weight * ratio**2)

    def union(self, other: "Counts") -> "Counts":
        return Counts(
            self.counts + other.counts, self.sum_sq_weight + other.sum_sq_weight
        )

    # Accumulating into a pool is the same sum for sufficient statistics.
    append = union


def tempered_log_weights(log_probs: jax.Array, temperature) -> jax.Array:
    """log q_k + const with q ∝ p^(1/tau); -inf where p_k = 0, max exactly 0."""
    top = jnp.max(log_probs)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    return (log_probs - top) / temperature


# Up to this many symbols draw_symbols uses the blocked two-level search.
BLOCKED_MAX_SYMBOLS = 256


def _block_size(size: int) -> int:
    """2^floor(log2(sqrt(size))): 8 for K = 100, 16 for K = 256."""
    return 1 << max(0, (size.bit_length() - 1) // 2)


def blocked_cdf(weights: jax.Array, block: int):
    """Cumulative weights (K,) as `cdf` (nb, block) and block `offsets` (nb + 1,),
    nb = ceil(K / block), the tail padded with weight 0, summed in sequential
    order: within a block one add per symbol, s_{b,r} = s_{b,r-1} + w_{b,r};
    offsets O_0 = 0, O_{b+1} = O_b + s_{b,last}; cdf_{b,r} = O_b + s_{b,r}.

    Rounding is monotone (fl(a + w) >= a for w >= 0, fl(O + s) nondecreasing in
    s), so the table is nondecreasing; a symbol of weight 0 repeats its
    predecessor's entry exactly (its add is of 0), and a block's last entry is
    exactly the next offset. The padded tail equals the total O_nb."""
    size = weights.shape[0]
    nb = -(-size // block)
    pad = jnp.zeros((nb * block - size,), weights.dtype)
    w = jnp.concatenate([weights, pad]).reshape(nb, block)
    columns = [w[:, 0]]
    for r in range(1, block):
        columns.append(columns[-1] + w[:, r])
    within = jnp.stack(columns, axis=1)
    offsets = [jnp.zeros((), weights.dtype)]
    for b in range(nb):
        offsets.append(offsets[-1] + within[b, block - 1])
    offsets = jnp.stack(offsets)
    return offsets[:-1, None] + within, offsets


def two_level_search(cdf, offsets, x, size: int) -> jax.Array:
    """For each x, the number of entries of blocked_cdf's table that are <= x
    (int32): the block offsets <= x pick the block, that block's entries <= x
    the place in it. For 0 <= x < W this is searchsorted(table, x, "right").
    Clamped to size - 1 (an all-zero table, which no model makes, would
    otherwise count past the last symbol)."""
    block = cdf.shape[1]
    which = jnp.sum(offsets[1:, None] <= x, axis=0, dtype=jnp.int32)
    within = jnp.sum(cdf[which].T <= x, axis=0, dtype=jnp.int32)
    return jnp.minimum(which * block + within, size - 1)


def draw_symbols(key, log_weights: jax.Array, num: int) -> jax.Array:
    """num i.i.d. symbols with P(k) ∝ exp(log_weights_k), by inverse CDF (int32).

    For K <= BLOCKED_MAX_SYMBOLS the table is blocked_cdf's and the search has
    two levels: a draw x = u W (W the total) counts the block offsets <= x (its
    block), then the entries of that block <= x; the symbol is the number of
    table entries <= x, as a binary search would find, without its loop of
    dependent gathers (K = 100, n = 100: 13 compares and one gather of 8 a
    draw; a whole replace chain-generation 5.0-5.2 -> 3.0 core-us). Larger K
    uses a Hillis-Steele prefix sum made monotone by a running max, and
    jnp.searchsorted (O(log K) a draw).

    A symbol of weight 0 is never drawn: its entry equals its predecessor's,
    and x is kept below W (a u W that rounds up to W would otherwise count
    every entry, trailing zero-weight ones included).
    """
    weights = jnp.exp(log_weights)
    size = weights.shape[0]
    u = jax.random.uniform(key, (num,), weights.dtype)
    if size <= BLOCKED_MAX_SYMBOLS:
        block = _block_size(size)
        cdf, offsets = blocked_cdf(weights, block)
        # the offsets' chain of adds, once, not in each of n x nb compares
        # (K = 100, n = 100: 3.5 -> 3.0 core-us a chain-generation; the whole
        # table or the uniforms as well: slower, 3.4-6.5)
        offsets = computed_once(offsets, jax.random.key_data(key))
        whole = offsets[-1]
        x = jnp.minimum(u * whole, jnp.nextafter(whole, jnp.zeros_like(whole)))
        return two_level_search(cdf, offsets, x, size)
    positive = weights > 0
    cdf = jax.lax.cummax(jnp.where(positive, prefix_sum(weights, 0), 0.0), axis=0)
    last = size - 1 - jnp.argmax(positive[::-1])
    index = jnp.searchsorted(cdf, u * cdf[-1], side="right")
    return jnp.minimum(index, last).astype(jnp.int32)


def _zipf_log_probs(categories: int, zipf: float) -> np.ndarray:
    """log p_k, p_k ∝ k^(-s), k = 1..K, in float64."""
    log_w = -zipf * np.log(np.arange(1, categories + 1, dtype=np.float64))
    top = log_w.max()
    return log_w - (top + math.log(np.exp(log_w - top).sum()))


@dataclass(frozen=True)
class Categorical:
    """Categorical family over `categories` K >= 2 symbols (SPEC §2):
    truth Zipf(`zipf` s >= 0), additive `smoothing` alpha >= 0."""

    categories: int = 100
    smoothing: float = 0.0
    zipf: float = 1.1
    name: ClassVar[str] = "categorical"
    has_exact_path: ClassVar[bool] = True
    # The exact path still draws n symbols a generation (memory estimate).
    exact_draws_points: ClassVar[bool] = True

    def __post_init__(self):
        # Symbols are int32, so K <= INT32_MAX.
        assign(
            self,
            categories=check_integer("categories", self.categories, 2, limit=INT32_MAX),
            smoothing=check_number("smoothing", self.smoothing, 0.0),
            zipf=check_number("zipf", self.zipf, 0.0),
        )

    def min_samples(self) -> int:
        return 1

    def point_floats(self) -> int:
        return 1

    def fixed_floats(self) -> int:
        # params (2K), counts and the sampler's cumulative weights (a few K)
        return 8 * self.categories

    @property
    def metric_names(self) -> tuple[str, ...]:
        return ("num_missing", "entropy", "kl", "tail_mass", "collapsed")

    @property
    def num_tail(self) -> int:
        """floor(K/10): how many symbols count as P's rarest (the last indices)."""
        return self.categories // 10

    def truth_log_probs(self, dtype=None) -> jax.Array:
        """log p_k of the truth, (K,)."""
        dtype = dtype or jnp.zeros(()).dtype
        return jnp.asarray(_zipf_log_probs(self.categories, self.zipf), dtype)

    def _dtype(self):
        return jnp.zeros(()).dtype

    def _set(self, key, log_weights, num, exact):
        symbols = draw_symbols(key, log_weights, num)
        dtype = self._dtype()
        if exact:
            counts = scatter_add(self.categories, symbols, jnp.int32(1))
            return Counts(counts.astype(dtype), jnp.asarray(num, dtype))
        return Pool.full(symbols, None)

    def init_truth(self, key):
        return None

    def sample_truth(self, key, truth, num, exact):
        return self._set(key, self.truth_log_probs(), num, exact)

    def reference(self, key, truth, num, exact):
        """No held-out set: every metric is a closed form in p_hat and P."""
        return None

    def sample(self, key, params, num, temperature, exact):
        """num symbols from q ∝ p_hat^(1/tau)."""
        log_w = tempered_log_weights(params.log_probs, temperature)
        return self._set(key, log_w, num, exact)

    def counts(self, train) -> Counts:
        """The weighted count vector of a set (a Pool or Counts)."""
        if isinstance(train, Counts):
            return train
        w = train.weight
        symbols = jnp.reshape(train.data, (-1,))
        counts = scatter_add(self.categories, symbols, w)
        return Counts(counts, tree_sum(w * w, 0))

    def fit(self, key, train, previous=None) -> CategoricalParams:
        """(N f_k + alpha) / (N + K alpha), N = W^2 / sum w^2 (module docstring)."""
        stats = self.counts(train)
        total = stats.total_weight()
        live = (total > 0) & (stats.sum_sq_weight > 0)
        scale = jnp.where(live, total / jnp.where(live, stats.sum_sq_weight, 1.0), 0.0)
        alpha = self.smoothing
        if alpha <= 1.0:
            mass = stats.counts * scale + alpha  # N f_k + alpha
            norm = total * scale + self.categories * alpha  # N + K alpha
        else:  # both over alpha, so that K alpha cannot overflow (alpha = 1e37,
            # K = 100 would make norm inf and every p_hat 0)
            mass = stats.counts * (scale / alpha) + 1.0
            norm = total * (scale / alpha) + float(self.categories)
        uniform = jnp.full_like(mass, 1.0)
        mass = jnp.where(norm > 0, mass, uniform)
        norm = jnp.where(norm > 0, norm, float(self.categories))
        probs = mass / norm
        log_probs = jnp.where(
            mass > 0, jnp.log(jnp.where(mass > 0, mass, 1.0)) - jnp.log(norm), -jnp.inf
        )
        return CategoricalParams(probs, log_probs)

    def log_density(self, params: CategoricalParams, pool: Pool) -> jax.Array:
        """log p_hat[symbol] per point (self-curation reward; -inf if p_hat = 0)."""
        return params.log_probs[jnp.reshape(pool.data, (-1,)).astype(jnp.int32)]

    def truth_log_density(self, truth, pool: Pool) -> jax.Array:
        """log p[symbol] per point (the verifier's reward)."""
        log_p = self.truth_log_probs(pool.weight.dtype)
        return log_p[jnp.reshape(pool.data, (-1,)).astype(jnp.int32)]

    def metrics(self, params: CategoricalParams, truth, ref) -> dict:
        """num_missing, entropy (nats), kl = KL(model || P) (nats), tail_mass (the
        model's mass on the last floor(K/10) symbols, P's rarest; with zipf = 0
        all are equally rare and the last indices are taken; 0 when K < 10),
        collapsed (1.0 when exactly one symbol has positive probability)."""
        p, log_p = params
        positive = p > 0
        safe_log = jnp.where(positive, log_p, 0.0)
        log_truth = self.truth_log_probs(p.dtype)
        support = jnp.sum(positive, dtype=jnp.int32)
        tail = self.num_tail
        # unpadded trees: a zero pad to a power of two, fused into the terms,
        # kept XLA's CPU code from vectorising them (30% of a K = 100 run)
        tail_mass = tree_sum_odd(p[self.categories - tail :], 0) if tail else 0.0 * p[0]
        return {
            "num_missing": (self.categories - support).astype(p.dtype),
            "entropy": -tree_sum_odd(jnp.where(positive, p * safe_log, 0.0), 0),
            "kl": tree_sum_odd(jnp.where(positive, p * (safe_log - log_truth), 0.0), 0),
            "tail_mass": tail_mass,
            "collapsed": (support == 1).astype(p.dtype),
        }
