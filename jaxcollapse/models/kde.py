"""The `kde` family: a Gaussian kernel density estimate refit on its own samples.

Truth (SPEC §2): N(0, I_d) (`truth="normal"`), or one of the named 2-D truths
of "Collapse or Thrive?" (Kazdan et al. 2024), built like scikit-learn's
generators of the same name and then given N(0, `truth_noise`^2) noise per
coordinate: `moons`, `circles` (inner radius `factor`), `blobs` (3 centres drawn
once per chain uniformly in [-10, 10]^2 by `init_truth`, unit spread, m points
split as evenly as possible, the first m mod 3 centres getting one more; with
the truth noise added, as for every named truth, a blob's spread per coordinate
is sqrt(1 + truth_noise^2)). The points of a draw are not shuffled (order does
not matter to a KDE).

Fit: the model keeps the weighted training set and a bandwidth h, either fixed
or Scott's h = sd * n_eff^(-1/5), with sd^2 the weighted variance of the training
points averaged over the d coordinates (divisor: total weight; the square root
of the mean per-coordinate variance, which keeps E[s^2] recursions exactly
linear, see theory/kde.py) and n_eff the number of points with weight > 0.
The density is sum_i w_i N(x; x_i, h^2 I) / sum_i w_i.

Sample: pick a training point with probability proportional to its weight by
inverse-CDF sampling (uniforms against the cumulative weights, a binary search,
O(num log capacity), never a Gumbel pass over the whole pool) and add
h * tau * N(0, I).

Metrics (SPEC §5), in this order:
- `test_nll`: average of -log density over the held-out real set (`num_test`
  truth draws fixed per chain). The mixture log density is a streaming
  log-sum-exp over blocks of pool slots inside a loop over blocks of query
  points, so a chain's memory is O(num_test + capacity), not their product.
- `var`: variance of the fitted density, the trace of its covariance when
  d > 1: weighted variance of the points (divisor total weight) + d h^2.
- `distinct_roots`: how many generation-0 real points still have descendants in
  the training set. Root labels: `sample_truth` labels its points 0..num-1 (it
  makes D_0); a synthetic point inherits the label of the point it was drawn
  around; workflow `fresh` relabels its fresh real points -1 (Pool.unrooted).
  The metric counts distinct labels >= 0 among slots with weight > 0
  (a slot of weight 0, such as D_0 under `mix` with real_weight 0, is no part
  of the fitted model).

Degenerate input: empty slots carry weight 0 and are ignored by the fit, the
sampler and the density. If all weights are 0 the spread and Scott h are 0. If
h is 0 (Scott on training points that coincide in floating point, i.e. a
collapse below the precision of absolute coordinates) the density is computed
with h floored at the dtype's smallest normal number: test_nll is then +inf
(a point mass), never NaN.

Verify support: `log_density(params, pool)` (the model's log density of each
point, chunked like test_nll) and `truth_log_density(truth, pool)`: exact for
normal and blobs (the equal mixture of the 3 blob Gaussians); for moons and
circles the population limit, arcs with uniformly distributed angle convolved
with the noise, evaluated by a fixed midpoint quadrature over the angle with
node spacing at most truth_noise / 8 along the arc (capped at 8192 nodes per
arc) and the same streaming log-sum-exp; `verify truth` refuses a truth_noise
below min_truth_noise (3.8e-4 for moons, 7.7e-4 for circles), where the nodes
are farther apart than the noise and log P would be wrong between them.
"""

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcollapse.config import assign, check_choice, check_integer, check_number
from jaxcollapse.workflows._linalg import (
    tree_max,
    tree_sum,
    tree_sum_odd,
    weighted_mean_about_live,
)
from jaxcollapse.workflows._pool import Pool
from jaxcollapse.workflows._scatter import scatter_max

TRUTHS = ("normal", "moons", "circles", "blobs")
NUM_CENTRES = 3  # blobs
CENTRE_BOX = 10.0  # blobs' centres are uniform in [-10, 10]^2
# The streaming log-sum-exp works on (pool block x query block) tiles laid out
# pool-major, query-minor: XLA vectorises along the query axis, and the max and
# the sum over the pool axis are trees of halves across rows (elementwise
# vector code; XLA's CPU backend fuses nothing into a reduction over a major
# axis). On the 2-core Xeon this took the engine's CPU time for KDE replace
# (n=100, 500 test points) from 6.5-7.9 s to 5.3-5.6 s against query-major
# tiles with row reductions. A pool of at most POOL_BLOCK slots is one tile; a
# larger one streams over blocks of POOL_BLOCK (128: of 64, 128 and 256 the
# fastest for KDE accumulate's pools of up to 3100 slots; the exp tile is
# written once, and smaller tiles stay in cache).
POOL_BLOCK = 128
# Query points per tile: 64 on CPU (of 32, 64, 128 the fastest for KDE replace;
# equal blocks of 63 for 500 points measured 1.5x slower: whole vectors
# matter); accelerators get wider tiles. Query blocks are
# independent, so the block size never changes a result.
QUERY_BLOCK = {"cpu": 64}
QUERY_BLOCK_DEFAULT = 256
MAX_NODES = 8192  # quadrature nodes per arc (moons, circles)


class KDEParams(NamedTuple):
    """A fitted KDE: the weighted training points and the bandwidth."""

    data: jax.Array  # (capacity, d) absolute coordinates
    weight: jax.Array  # (capacity,) 0 in empty slots
    root: jax.Array  # (capacity,) int32 generation-0 ancestor, -1 for fresh
    bandwidth: jax.Array  # () h
    spread: jax.Array  # () weighted variance of the points, trace over d


def arc_positions(truth: str, num: int, factor: float) -> np.ndarray:
    """The noiseless positions (num, 2) of a moons / circles draw of num points,
    as scikit-learn's make_moons / make_circles place them (SPEC §2)."""
    n_out = num // 2
    n_in = num - n_out
    if truth == "moons":
        a_out = np.linspace(0.0, np.pi, n_out)
        a_in = np.linspace(0.0, np.pi, n_in)
        outer = np.stack([np.cos(a_out), np.sin(a_out)], 1)
        inner = np.stack([1.0 - np.cos(a_in), 1.0 - np.sin(a_in) - 0.5], 1)
    elif truth == "circles":
        a_out = np.linspace(0.0, 2.0 * np.pi, n_out, endpoint=False)
        a_in = np.linspace(0.0, 2.0 * np.pi, n_in, endpoint=False)
        outer = np.stack([np.cos(a_out), np.sin(a_out)], 1)
        inner = factor * np.stack([np.cos(a_in), np.sin(a_in)], 1)
    else:
        raise ValueError(f"no arc positions for truth {truth!r}")
    return np.concatenate([outer, inner]).reshape(num, 2)


def blob_counts(num: int) -> np.ndarray:
    """Points per blob centre: as even as possible, the first ones get extras."""
    return np.array(
        [num // NUM_CENTRES + (k < num % NUM_CENTRES) for k in range(NUM_CENTRES)]
    )


def _arc_length(truth: str) -> float:
    """The angle each arc of moons (pi) or circles (2 pi) spans."""
    return np.pi if truth == "moons" else 2.0 * np.pi


def min_truth_noise(truth: str) -> float:
    """The smallest truth_noise whose population density arc_nodes resolves:
    the node spacing (arc length / MAX_NODES at the cap) at most the noise.
    There log P is within about 1e-5 of the thin-arc integral; at 4x the
    spacing it is off by up to 0.7 nats, at 40x by hundreds."""
    return _arc_length(truth) / MAX_NODES


def check_truth_density(truth: str, noise: float) -> None:
    """Refuse (ValueError) a moons / circles truth_noise below min_truth_noise
    where log P is needed (kde's verify truth; gmm's KL)."""
    if truth in ("moons", "circles") and noise < min_truth_noise(truth):
        raise ValueError(
            f"truth_noise must be at least {min_truth_noise(truth):.3g} for truth "
            f"{truth} where its density is needed (its quadrature has at most "
            f"{MAX_NODES} nodes an arc); got {noise!r}"
        )


def arc_nodes(truth: str, noise: float, factor: float) -> np.ndarray:
    """Quadrature nodes (2K, 2) for the population density of moons / circles:
    K midpoint nodes in angle on each of the two arcs, spacing <= noise / 8."""
    k = int(min(MAX_NODES, max(256, math.ceil(8.0 * _arc_length(truth) / noise))))
    if truth == "moons":
        a = (np.arange(k) + 0.5) * np.pi / k
        outer = np.stack([np.cos(a), np.sin(a)], 1)
        inner = np.stack([1.0 - np.cos(a), 0.5 - np.sin(a)], 1)
    else:  # periodic: equally spaced nodes are the trapezoid rule
        a = np.arange(k) * 2.0 * np.pi / k
        outer = np.stack([np.cos(a), np.sin(a)], 1)
        inner = factor * outer
    return np.concatenate([outer, inner])


def mixture_log_density(query, centres, log_weight, scale):
    """log sum_i exp(log_weight_i) N(x; centres_i, scale^2 I) for every row x of
    query (Q, d); log_weight (P,) may hold -inf (empty slots).

    A streaming log-sum-exp: a loop over blocks of QUERY_BLOCK query points, and
    inside it, for pools of more than POOL_BLOCK slots, a loop over blocks of
    POOL_BLOCK centres carrying a running (max, scaled sum) per query point, so
    memory is O(Q + P + tile); the inner loop ends at the last block holding a
    centre of positive weight. A tile is (pool, query) with coordinates summed
    by a fixed tree, its max by fixed halves (_linalg.tree_max) and its exp sum
    by a fixed tree of halves over the pool axis (_linalg.tree_sum_odd):
    each a function of the tile alone, whose shape is fixed by the pool
    capacity and num_test (never by the chunk or the device count), so results
    are the same in every chunk program. A scale of 0 is floored at the dtype's smallest
    normal number.
    """
    num_q, dim = query.shape
    num_p = centres.shape[0]
    dtype = query.dtype
    qb = min(num_q, QUERY_BLOCK.get(jax.default_backend(), QUERY_BLOCK_DEFAULT))
    nq = -(-num_q // qb)
    pb = min(num_p, POOL_BLOCK)
    npb = -(-num_p // pb)
    scale = jnp.maximum(scale, jnp.finfo(dtype).tiny)
    inv = 1.0 / scale
    # coordinates major, points minor: (blocks, d, points per block)
    query = jnp.pad(query, ((0, nq * qb - num_q), (0, 0)))
    query = query.T.reshape(dim, nq, qb).transpose(1, 0, 2)
    centres = jnp.pad(centres, ((0, npb * pb - num_p), (0, 0)))
    centres = centres.T.reshape(dim, npb, pb).transpose(1, 0, 2)
    log_weight = jnp.pad(log_weight, (0, npb * pb - num_p), constant_values=-jnp.inf)
    log_weight = log_weight.reshape(npb, pb)

    def exponents(c, lw, x):  # (d, pb), (pb,), (d, qb) -> (pb, qb)
        # difference first, then scaled: exact for near points whatever their
        # distance from 0, and no inf - inf when the scale is floored at tiny
        z = (c[:, :, None] - x[:, None, :]) * inv
        return lw[:, None] - 0.5 * tree_sum(z * z, 0)

    def finish(top, acc):
        return jnp.where(jnp.isfinite(top), top, 0.0) + jnp.log(acc)

    if npb == 1:

        def one_block(x):
            e = exponents(centres[0], log_weight[0], x)
            top = tree_max(e, 0)
            safe = jnp.where(jnp.isfinite(top), top, 0.0)
            return finish(top, tree_sum_odd(jnp.exp(e - safe[None, :]), 0))

    else:
        # Blocks of centres that all weigh nothing add nothing (their terms are
        # exp(-inf) = 0 and leave the running max alone), so the loop stops
        # after the last block with a live centre: an accumulate pool, filled up
        # to its capacity n (T + 1) only at T, costs its filled part a
        # generation. Under vmap the loop runs to the largest such block over
        # the batch, and the chains done earlier keep their carry unchanged:
        # the same numbers.
        live = jnp.any(log_weight > -jnp.inf, axis=1)
        num_live = jnp.max(jnp.where(live, jnp.arange(1, npb + 1), 0))

        def one_block(x):
            def step(carry):
                i, top, acc = carry
                c = jax.lax.dynamic_index_in_dim(centres, i, 0, keepdims=False)
                lw = jax.lax.dynamic_index_in_dim(log_weight, i, 0, keepdims=False)
                e = exponents(c, lw, x)
                new = jnp.maximum(top, tree_max(e, 0))
                safe = jnp.where(jnp.isfinite(new), new, 0.0)
                terms = tree_sum_odd(jnp.exp(e - safe[None, :]), 0)
                return i + 1, new, acc * jnp.exp(top - safe) + terms

            init = (0, jnp.full((qb,), -jnp.inf, dtype), jnp.zeros((qb,), dtype))
            _, top, acc = jax.lax.while_loop(lambda c: c[0] < num_live, step, init)
            return finish(top, acc)

    lse = jax.lax.map(one_block, query).reshape(-1)[:num_q]
    return lse - dim * jnp.log(scale) - 0.5 * dim * math.log(2.0 * math.pi)


def moot_truth_settings(truth: str, default: str) -> dict:
    """The truth settings a family's numbers do not depend on under `truth`
    (kde's and gmm's unused_settings), each with the (setting, values) that
    would use it: `factor` outside circles, `truth_noise` with the family's
    `default` truth. The command line refuses them; a sweep stores them as
    null (sweep.resolve)."""
    out = {}
    if truth != "circles":
        out["factor"] = ("truth", ("circles",))
    if truth == default:
        out["truth_noise"] = ("truth", ("moons", "circles", "blobs"))
    return out


def init_named_truth(truth: str, key):
    """A named truth's per-chain settings: the blob centres (3, 2), uniform in
    [-10, 10]^2, for blobs; None for the others."""
    if truth != "blobs":
        return None
    return jax.random.uniform(
        key, (NUM_CENTRES, 2), minval=-CENTRE_BOX, maxval=CENTRE_BOX
    )


def named_truth_points(truth: str, key, centres, num: int, noise, factor, dtype):
    """num points (num, 2) of a named 2-D truth (moons, circles, blobs; SPEC §2),
    in the generator's order (not shuffled); centres: init_named_truth's."""
    z = jax.random.normal(key, (num, 2), dtype)
    if truth == "blobs":
        # unit spread around the centre, then the truth noise (SPEC §2)
        labels = np.repeat(np.arange(NUM_CENTRES), blob_counts(num))
        spread = math.sqrt(1.0 + noise**2)
        return centres[labels].astype(dtype) + spread * z
    base = arc_positions(truth, num, factor)
    return jnp.asarray(base, dtype) + noise * z


def named_truth_log_density(truth: str, centres, x, noise, factor):
    """log P(x) for rows x (Q, 2) of a named 2-D truth: exact for blobs (the
    equal mixture of its 3 Gaussians); for moons and circles the population
    limit (uniform angle on the arcs, convolved with the noise) by the midpoint
    quadrature of arc_nodes and mixture_log_density's streaming log-sum-exp."""
    dtype = x.dtype
    if truth == "blobs":
        nodes = centres.astype(dtype)
        scale = jnp.asarray(math.sqrt(1.0 + noise**2), dtype)
    else:
        nodes = jnp.asarray(arc_nodes(truth, noise, factor), dtype)
        scale = jnp.asarray(noise, dtype)
    count = nodes.shape[0]
    log_w = jnp.full((count,), -math.log(count), dtype)
    return mixture_log_density(x, nodes, log_w, scale)


@dataclass(frozen=True)
class KDE:
    """Gaussian kernel density estimate family (SPEC §2); see the module text."""

    dim: int = 1
    bandwidth: float | str = 0.1
    truth: str = "normal"
    truth_noise: float = 0.05
    factor: float = 0.8
    name: ClassVar[str] = "kde"
    has_exact_path: ClassVar[bool] = False
    # The params hold the training points, so their shape follows the training
    # set's: the engine pads every fit's set to one capacity (chain.py).
    params_keep_points: ClassVar[bool] = True

    def __post_init__(self):
        dim = check_integer("dim", self.dim, 1)
        h = self.bandwidth
        if not (isinstance(h, str) and h == "scott"):
            try:
                h = check_number("bandwidth", h, 0.0, strict_min=True)
            except ValueError:
                message = f"bandwidth must be a number > 0 or 'scott'; got {h!r}"
                raise ValueError(message) from None
        truth = check_choice("truth", self.truth, TRUTHS)
        if truth != "normal" and dim != 2:
            raise ValueError(f"truth {truth} is 2-D and needs dim 2; got dim {dim!r}")
        noise = check_number("truth_noise", self.truth_noise, 0.0, strict_min=True)
        factor = check_number("factor", self.factor, 0.0, 1.0, strict_max=True)
        assign(self, dim=dim, bandwidth=h, truth_noise=noise, factor=factor)

    def unused_settings(self) -> dict:
        """Settings the numbers do not depend on (moot_truth_settings)."""
        return moot_truth_settings(self.truth, "normal")

    @property
    def metric_names(self) -> tuple[str, ...]:
        return ("test_nll", "var", "distinct_roots")

    def min_samples(self) -> int:
        return 2

    def point_floats(self) -> int:
        """dim coordinates, a weight and a root label per point, and the
        params keep a copy of the pool: about twice that."""
        return 2 * (self.dim + 2)

    def fixed_floats(self) -> int:
        return 2 * NUM_CENTRES if self.truth == "blobs" else 0

    # -- truth ---------------------------------------------------------------

    def init_truth(self, key):
        """The blob centres (3, 2), uniform in [-10, 10]^2; None otherwise."""
        return init_named_truth(self.truth, key)

    def _truth_points(self, key, truth, num):
        dtype = jnp.zeros(()).dtype
        if self.truth == "normal":
            return jax.random.normal(key, (num, self.dim), dtype)
        return named_truth_points(
            self.truth, key, truth, num, self.truth_noise, self.factor, dtype
        )

    def sample_truth(self, key, truth, num, exact):
        """num truth draws labelled 0..num-1 (generation 0's real points, D_0)."""
        root = jnp.arange(num, dtype=jnp.int32)
        return Pool.full(self._truth_points(key, truth, num), None, root)

    def reference(self, key, truth, num, exact):
        """The held-out real set: num truth draws (num, d), fixed for the chain."""
        return self._truth_points(key, truth, num)

    # -- model ---------------------------------------------------------------

    def fit(self, key, train: Pool, previous=None) -> KDEParams:
        """Keep the weighted points; h fixed or Scott's (module text)."""
        data = train.absolute()
        w = train.weight
        total = tree_sum(w, 0)
        # One reciprocal, multiplied in (see weighted_mean_about_live); equal
        # points give spread and Scott's h exactly 0.
        inv = 1.0 / jnp.where(total > 0, total, 1.0)
        mean = weighted_mean_about_live(w, data, inv)
        centred = (data - mean) * (w[:, None] > 0)
        per_dim = tree_sum(w[:, None] * centred * centred, 0) * inv
        spread = tree_sum(per_dim, 0)
        if self.bandwidth == "scott":
            n_eff = jnp.sum(w > 0).astype(data.dtype)
            h = jnp.sqrt(spread / self.dim) * jnp.maximum(n_eff, 1.0) ** -0.2
        else:
            h = jnp.asarray(self.bandwidth, data.dtype)
        root = train.root
        if root is None:
            root = jnp.zeros(w.shape, jnp.int32)
        return KDEParams(data, w, root, h, spread)

    def sample(self, key, params: KDEParams, num, temperature, exact):
        """num draws: a point picked with probability w_i / sum w (inverse CDF),
        plus h * tau * N(0, I); each draw inherits its point's root label."""
        w = params.weight
        capacity = w.shape[0]
        cdf = jax.lax.associative_scan(jnp.add, w)
        u = jax.random.uniform(jax.random.fold_in(key, 0), (num,), w.dtype) * cdf[-1]
        index = jnp.searchsorted(cdf, u, side="right")
        # Only rounding in the prefix sums (or u = total) can land on a slot of
        # weight 0: map it to the last slot of positive weight at or before it.
        slots = jnp.arange(capacity, dtype=jnp.int32)
        last = jax.lax.associative_scan(jnp.maximum, jnp.where(w > 0, slots, -1))
        index = jnp.maximum(last[jnp.minimum(index, capacity - 1)], 0)
        noise = jax.random.normal(jax.random.fold_in(key, 1), (num, self.dim), w.dtype)
        scale = params.bandwidth * temperature
        points = params.data[index] + scale * noise
        return Pool.full(points, None, params.root[index])

    def log_density(self, params: KDEParams, pool: Pool) -> jax.Array:
        """The model's log density at every point of pool (capacity,)."""
        w = params.weight
        total = tree_sum(w, 0)
        log_w = jnp.log(w) - jnp.log(jnp.where(total > 0, total, 1.0))
        return mixture_log_density(
            pool.absolute(), params.data, log_w, params.bandwidth
        )

    def check_truth_density(self) -> None:
        """Refuse a truth_noise the truth density cannot resolve (verify truth)."""
        check_truth_density(self.truth, self.truth_noise)

    def truth_log_density(self, truth, pool: Pool) -> jax.Array:
        """log P(x) per point of pool (the verifier's reward); module text."""
        x = pool.absolute()
        if self.truth == "normal":
            return -0.5 * tree_sum(x * x, 1) - 0.5 * self.dim * math.log(2 * math.pi)
        return named_truth_log_density(
            self.truth, truth, x, self.truth_noise, self.factor
        )

    def metrics(self, params: KDEParams, truth, ref) -> dict:
        num = ref.shape[0]
        test_nll = -tree_sum(self.log_density(params, Pool.full(ref, None)), 0) / num
        var = params.spread + self.dim * params.bandwidth**2
        return {
            "test_nll": test_nll,
            "var": var,
            "distinct_roots": distinct_roots(params.root, params.weight).astype(
                var.dtype
            ),
        }


def distinct_roots(root: jax.Array, weight: jax.Array) -> jax.Array:
    """Number of distinct labels in [0, capacity) among slots with weight > 0
    (int32); every label >= 0 is below the capacity (generation-0 indices; the
    fit's capacity is at least num_real, chain._fit_capacity).

    Labels are generation-0 indices, below the capacity, so this marks each live
    label in a table of capacity flags (a scatter-max, exact in any order) and
    counts the marks: O(capacity), where a sort of the labels cost an
    accumulate run (capacity n (T + 1)) a quarter of its time."""
    capacity = root.shape[0]
    live = (weight > 0) & (root >= 0) & (root < capacity)
    slot = jnp.where(live, root, capacity)  # out of bounds: dropped
    seen = scatter_max(capacity, slot, jnp.int32(1))
    return tree_sum(seen, 0)
