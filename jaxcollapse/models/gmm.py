"""The `gmm` family: a Gaussian mixture fit by EM, sampled, refit (SPEC §2): in
1-D on the default truth (below), in 2-D with full covariances on the named
2-D truths (the last section).

Truth P: an equal mixture of k = `components` unit Gaussians whose means are evenly
spaced over [-3, 3] (k = 2: -3 and +3; k = 1: a single N(0, 1); k = 3: -3, 0, 3).

Fit: weighted EM (Dempster, Laird & Rubin 1977) for exactly `em_steps` steps from a
deterministic start given the fit key:
- seeding: k-means++ (Arthur & Vassilvitskii 2007) with weights: the first centre
  is a training point drawn with probability ∝ w_i, each next one ∝ w_i D_i^2 (D_i
  the distance to the nearest centre so far), by the Gumbel-max trick, so a slot
  of weight 0 (an empty slot) is never chosen; when every positive-weight point
  already coincides with a centre (fewer distinct points than k), the draw falls
  back to ∝ w_i. The centres are refined by KMEANS_STEPS = 10 weighted Lloyd
  (k-means) steps, and EM starts from one M-step on the nearest-centre
  assignments, as scikit-learn's GaussianMixture starts from k-means. (Starting
  from the raw seeds with the data's variance left about 2% of fits of the
  default truth at n = 200 stuck at a saddle with both components over one
  mode after 20 EM steps; assigning points to raw seeds sometimes made an
  outlying seed a one-point component, EM's degenerate spike.)
- E-step in log space: log r_ij = log pi_j + log N(x_i; mu_j, v_j) - logsumexp_j.
  A point whose density underflows to 0 under every component gets r = 0.
- M-step: N_j = sum_i w_i r_ij, pi_j = N_j / sum N, mu_j = sum w r x / N_j,
  v_j = sum w r (x - mu_j)^2 / N_j.
- An empty component (N_j <= 1e-6 of the total weight) keeps its previous mean and
  variance and gets weight exactly 0 (so it drops out of this fit; the next fit
  seeds all k again).
- Variance floor: (64 eps max(1, max_i |x_i|))^2 (eps the dtype's machine epsilon;
  the max over points of positive weight), i.e. a component's sd is at least 64
  float steps at the data's magnitude: sd >= 7.6e-6 max(1, max |x|) in float32,
  1.4e-14 in float64. So a component on one point, or a set of identical points,
  keeps finite log densities (no inf/NaN in test_nll) and a width the KL
  quadrature can resolve, while genuine collapse is not cut short before float
  precision itself ends it. No NaN for any set the engine makes (weights 0,
  repeated points).

Sample: pick component j with probability pi_j (inverse CDF), then
mu_j + tau sqrt(v_j) z: component variances times tau^2.

Metrics of the 1-D mixture (in order): `test_nll` (average -log q of the fixed
held-out real set), `kl` = KL(q || P), then `weight_1..k`, `mean_1..k`,
`var_1..k` with the components sorted by mean (empty ones included, with
weight 0). (2-D: the last section.)

KL is a deterministic quadrature, not Monte Carlo: composite Gauss-Legendre of
order 6 on the intervals between the sorted breakpoints mu_c + s sd_c,
s = -8, -7, ..., 8, of every model and truth component c, so each feature of the
integrand q (log q - log P) is resolved at its own scale. Against scipy's adaptive
quad (float64) it agrees within 1e-8 on mixtures from well separated to a narrow
spike inside a wide component; in float32 the rounding of q and log q (about
1e-6 relative) dominates.

Points are absolute coordinates, a Pool of shape (capacity, 1) (capacity, 2 in
2-D) with frame None, so
collapse is followed down to the variance floor (about 64 float steps, above);
run with x64 to follow it further.

Named 2-D truths (SPEC §2, `truth` = moons, circles or blobs, with `truth_noise`
and, for circles, `factor`; the same generators as the kde family's, so the
truths of "Collapse or Thrive?" can be modelled by a mixture too): the fit is
the same EM in 2-D with full covariances (the same seeding, Lloyd start, empty
rule and E-step; the Lloyd and k-means++ distances are squared Euclidean). The
M-step's weighted covariance A = [[a, b], [b, c]] gets the floor f (as above,
with max |x| over both coordinates) added to its diagonal, as scikit-learn's
reg_covar does, and the determinant of A + f I is kept at least
f (a + c) + f^2, its value in exact arithmetic when det A = 0: rounding (a
component on one point or on a line, where det A is 0 up to rounding) never
makes it smaller, so the smallest eigenvalue stays at least f and a set of
identical points gets covariance exactly f I. A covariance is carried as its
Cholesky factor (l11, l21, l22), which the density, the sampler (mu + tau L z)
and the KL share.
- Metrics: `test_nll`, `kl`, then `weight_1..k`, `mean_x_1..k`, `mean_y_1..k`
  (the mean's coordinates) and `var_1..k` (the trace of the covariance), the
  components sorted by mean_x.
- `kl` = KL(q || P) by Monte Carlo, stratified by component: KL_DRAWS draws
  from each component j of q, sum_j pi_j mean(log q - log P). The draws come
  from the metrics key the engine gives each generation (chain.py), so the
  estimate of each chain is unbiased, independent across chains and
  generations, and its noise is part of the spread the standard error
  measures. log P is exact for blobs; for moons and circles it is the
  population density the kde family's verifier uses (uniform angle on the arcs
  convolved with the noise, kde.named_truth_log_density): KL_DRAWS k draws
  against 2 K nodes a generation (K = 8 pi / truth_noise, at least 256 and at
  most 8192; 1006 for moons at the default 0.05), so moons and circles cost
  more than blobs (20000 chains, k = 3, n = 100, 2 generations: 29.6 s
  against 8.7 s on a 2-core EPYC, compilation included), more at a smaller
  noise;
  truth_noise below kde.min_truth_noise (3.8e-4 moons, 7.7e-4 circles), where
  the nodes would be farther apart than the noise, is refused.
- No closed-form theory (theory/gmm.py gives none for a named truth).
"""

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcollapse._prng import computed_once
from jaxcollapse.config import (
    INT32_MAX,
    assign,
    check_choice,
    check_integer,
    check_number,
)
from jaxcollapse.models.kde import (
    check_truth_density,
    init_named_truth,
    moot_truth_settings,
    named_truth_log_density,
    named_truth_points,
)
from jaxcollapse.workflows._linalg import tree_sum
from jaxcollapse.workflows._pool import Pool

EMPTY_FRACTION = 1e-6  # a component with less of the total weight is empty
FLOOR_ULPS = 64  # a component's sd is at least this many float steps (eps)
KMEANS_STEPS = 10  # Lloyd steps between the k-means++ seeds and EM
# The seeding and the sampler unroll a Python loop over the components at trace
# time, and every component adds three metrics: k is kept to a size that compiles.
MAX_COMPONENTS = 256
_LOG_2PI = math.log(2.0 * math.pi)
# The KL quadrature: breakpoints at mu + s sd for these s, Gauss-Legendre nodes.
_KL_STEPS = np.arange(-8.0, 9.0)
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(6)
TRUTHS = ("mixture", "moons", "circles", "blobs")
KL_DRAWS = 128  # Monte Carlo draws per component for a named truth's KL


class GMMParams(NamedTuple):
    """A k-component 1-D Gaussian mixture (component order is EM's, unsorted)."""

    weight: jax.Array  # (k,) mixture weights, sum 1; 0 for an empty component
    mean: jax.Array  # (k,)
    var: jax.Array  # (k,) variances, > 0


class GMM2Params(NamedTuple):
    """A k-component 2-D Gaussian mixture with full covariances."""

    weight: jax.Array  # (k,) mixture weights, sum 1; 0 for an empty component
    mean: jax.Array  # (k, 2)
    chol: jax.Array  # (k, 3) Cholesky factor (l11, l21, l22), l11, l22 > 0


def truth_means(components: int) -> np.ndarray:
    """Means of the truth's components: evenly spaced over [-3, 3] (0 for k = 1)."""
    if components == 1:
        return np.zeros(1)
    return np.linspace(-3.0, 3.0, components)


def _logsumexp(x):
    """log sum exp over the last axis, by a fixed tree; -inf where all are -inf."""
    top = jnp.max(x, axis=-1, keepdims=True)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    return jnp.log(tree_sum(jnp.exp(x - top), -1)) + top[..., 0]


def _component_logpdf(x, weight, mean, var):
    """log pi_j + log N(x; mu_j, v_j), shape x.shape + (k,); -inf where pi_j = 0."""
    x = x[..., None]
    logw = jnp.where(weight > 0, jnp.log(jnp.where(weight > 0, weight, 1.0)), -jnp.inf)
    return logw - 0.5 * (_LOG_2PI + jnp.log(var) + (x - mean) ** 2 / var)


def mixture_logpdf(x, params: GMMParams):
    """log q(x) for an array x of points."""
    return _logsumexp(_component_logpdf(x, *params))


def _squared_distance(x, centre):
    """Squared (Euclidean, for points (N, 2)) distance of each point to centre."""
    if x.ndim == 1:
        return (x - centre) ** 2
    return tree_sum((x - centre) ** 2, -1)


def seed_means(key, x, w, k: int):
    """Weighted k-means++ seeding: k training points (see the module docstring)."""
    logw = jnp.where(w > 0, jnp.log(jnp.where(w > 0, w, 1.0)), -jnp.inf)
    # squared distance to the nearest mean so far
    gap = jnp.full(x.shape[:1], jnp.inf, x.dtype)
    means = []
    for j in range(k):
        if j == 0:
            score = logw
        else:
            score = jnp.where(
                gap > 0, logw + jnp.log(jnp.where(gap > 0, gap, 1.0)), -jnp.inf
            )
            score = jnp.where(jnp.max(score) > -jnp.inf, score, logw)
        noise = jax.random.gumbel(jax.random.fold_in(key, j), x.shape[:1], x.dtype)
        centre = x[jnp.argmax(score + noise)]
        gap = jnp.minimum(gap, _squared_distance(x, centre))
        means.append(centre)
    return jnp.stack(means)


def m_step(x, w, resp, previous: GMMParams, floor) -> GMMParams:
    """Weighted M-step from responsibilities (N, k), with the empty-component
    rule (keep the previous mean and variance, weight 0) and the variance floor."""
    wr = w[:, None] * resp
    mass = tree_sum(wr, 0)  # (k,)
    alive = mass > EMPTY_FRACTION * tree_sum(w, 0)
    safe = jnp.where(alive, mass, 1.0)
    mean = jnp.where(alive, tree_sum(wr * x[:, None], 0) / safe, previous.mean)
    spread = tree_sum(wr * (x[:, None] - mean) ** 2, 0) / safe
    var = jnp.maximum(jnp.where(alive, spread, previous.var), floor)
    return GMMParams(kept_weights(alive, mass), mean, var)


def responsibilities(logc):
    """The E-step from log pi_j + log N_j(x_i), (N, k), in log space; a point
    with density 0 under every component gets r = 0."""
    norm = _logsumexp(logc)
    some = norm > -jnp.inf
    return jnp.where(
        some[:, None], jnp.exp(logc - jnp.where(some, norm, 0.0)[:, None]), 0.0
    )


def kept_weights(alive, mass):
    """Mixture weights from the components' masses: 0 for an empty one."""
    kept = jnp.where(alive, mass, 0.0)
    kept_total = tree_sum(kept, 0)
    return kept / jnp.where(kept_total > 0, kept_total, 1.0)


def em_step(x, w, params: GMMParams, floor) -> GMMParams:
    """One weighted EM step; the E-step in log space."""
    resp = responsibilities(_component_logpdf(x, *params))
    return m_step(x, w, resp, params, floor)


def weighted_var(x, w):
    """The weighted variance of the points (divisor: the total weight)."""
    total_w = tree_sum(w, 0)
    safe_total = jnp.where(total_w > 0, total_w, 1.0)
    centre = tree_sum(w * x, 0) / safe_total
    return tree_sum(w * (x - centre) ** 2, 0) / safe_total


def _nearest(x, centres):
    """One-hot (N, k) assignment of each point to its nearest centre (ties to
    the lower index)."""
    k = centres.shape[0]
    if x.ndim == 1:
        gap = (x[:, None] - centres) ** 2
    else:
        gap = tree_sum((x[:, None, :] - centres[None]) ** 2, -1)
    nearest = jnp.argmin(gap, axis=1)
    return (nearest[:, None] == jnp.arange(k)).astype(x.dtype)


def lloyd_step(x, w, centres):
    """One weighted k-means (Lloyd) step; a centre that wins no weight stays."""
    hard = w[:, None] * _nearest(x, centres)
    mass = tree_sum(hard, 0)
    if x.ndim == 1:
        moved = tree_sum(hard * x[:, None], 0) / jnp.where(mass > 0, mass, 1.0)
        return jnp.where(mass > 0, moved, centres)
    moved = tree_sum(hard[:, :, None] * x[:, None, :], 0)
    moved = moved / jnp.where(mass > 0, mass, 1.0)[:, None]
    return jnp.where((mass > 0)[:, None], moved, centres)


def kmeans_centres(key, x, w, k: int):
    """k-means++ seeds refined by KMEANS_STEPS weighted Lloyd steps (points
    x (N,) or (N, 2)): where both init_params start EM."""
    centres = seed_means(key, x, w, k)
    return jax.lax.fori_loop(0, KMEANS_STEPS, lambda _, c: lloyd_step(x, w, c), centres)


def init_params(key, x, w, k: int, floor) -> GMMParams:
    """EM's start: k-means++ seeds refined by KMEANS_STEPS weighted Lloyd steps,
    then one M-step on the nearest-centre assignments (as scikit-learn's
    GaussianMixture starts from k-means). A centre that wins no point (a
    repeated seed) is an empty component: it keeps the centre as its mean and
    the data's variance, with weight 0."""
    centres = kmeans_centres(key, x, w, k)
    data_var = weighted_var(x, w)
    previous = GMMParams(
        jnp.full((k,), 1.0 / k, x.dtype), centres, jnp.full((k,), data_var, x.dtype)
    )
    return m_step(x, w, _nearest(x, centres), previous, floor)


def variance_floor(x, w):
    """(FLOOR_ULPS eps max(1, max |x|))^2 over the points of positive weight: a
    component's sd never falls below 64 float steps at the data's magnitude."""
    live = w > 0 if x.ndim == 1 else (w > 0)[:, None]
    scale = jnp.maximum(jnp.max(jnp.where(live, jnp.abs(x), 0.0)), 1.0)
    return (FLOOR_ULPS * jnp.finfo(x.dtype).eps * scale) ** 2


def fit_em(key, x, w, k: int, steps: int):
    """k-means++ start from `key`, then `steps` EM steps on points x, weights w:
    GMMParams for points x (N,), GMM2Params for points x (N, 2)."""
    floor = variance_floor(x, w)
    if x.ndim == 1:
        start, step = init_params(key, x, w, k, floor), em_step
    else:
        start, step = init_params_2d(key, x, w, k, floor), em_step_2d
    return jax.lax.fori_loop(0, steps, lambda _, p: step(x, w, p, floor), start)


# -- 2-D mixtures with full covariances (the named truths) ---------------------


def cholesky_2d(a, b, c, floor):
    """The Cholesky factor (..., 3) = (l11, l21, l22) of [[a, b], [b, c]] + floor I,
    its determinant kept at least floor (a + c) + floor^2 (module docstring):
    with a_f = a + floor, l22^2 = max(c + floor - l21^2, floor (1 + c / a_f)),
    written so that nothing overflows before the entries themselves do."""
    a_f = a + floor
    l11 = jnp.sqrt(a_f)
    l21 = b / l11
    l22 = jnp.sqrt(jnp.maximum(c + floor - l21 * l21, floor * (1.0 + c / a_f)))
    return jnp.stack([l11, l21, l22], -1)


def _component_logpdf_2d(x, weight, mean, chol):
    """log pi_j + log N(x; mu_j, L_j L_j^T) for points x (..., 2): shape
    x.shape[:-1] + (k,); -inf where pi_j = 0."""
    logw = jnp.where(weight > 0, jnp.log(jnp.where(weight > 0, weight, 1.0)), -jnp.inf)
    l11, l21, l22 = chol[:, 0], chol[:, 1], chol[:, 2]
    z1 = (x[..., None, 0] - mean[:, 0]) / l11
    z2 = (x[..., None, 1] - mean[:, 1] - l21 * z1) / l22
    norm = _LOG_2PI + jnp.log(l11) + jnp.log(l22)
    return logw - norm - 0.5 * (z1 * z1 + z2 * z2)


def mixture_logpdf_2d(x, params: GMM2Params):
    """log q(x) for points x (..., 2)."""
    return _logsumexp(_component_logpdf_2d(x, *params))


def weighted_cov_2d(x, centre, wr):
    """(a, b, c): the weighted second moments about centre (k, 2) of points
    x (N, 2) under weights wr (N, k), divided by their sums."""
    d = x[:, None, :] - centre[None]  # (N, k, 2)
    mass = tree_sum(wr, 0)
    safe = jnp.where(mass > 0, mass, 1.0)
    a = tree_sum(wr * d[..., 0] * d[..., 0], 0) / safe
    b = tree_sum(wr * d[..., 0] * d[..., 1], 0) / safe
    c = tree_sum(wr * d[..., 1] * d[..., 1], 0) / safe
    return a, b, c


def m_step_2d(x, w, resp, previous: GMM2Params, floor) -> GMM2Params:
    """The weighted M-step of m_step in 2-D: full covariances, floored."""
    wr = w[:, None] * resp
    mass = tree_sum(wr, 0)  # (k,)
    alive = mass > EMPTY_FRACTION * tree_sum(w, 0)
    safe = jnp.where(alive, mass, 1.0)
    moved = tree_sum(wr[:, :, None] * x[:, None, :], 0) / safe[:, None]
    mean = jnp.where(alive[:, None], moved, previous.mean)
    chol = cholesky_2d(*weighted_cov_2d(x, mean, wr), floor)
    chol = jnp.where(alive[:, None], chol, previous.chol)
    return GMM2Params(kept_weights(alive, mass), mean, chol)


def em_step_2d(x, w, params: GMM2Params, floor) -> GMM2Params:
    """One weighted EM step in 2-D; the E-step in log space."""
    resp = responsibilities(_component_logpdf_2d(x, *params))
    return m_step_2d(x, w, resp, params, floor)


def init_params_2d(key, x, w, k: int, floor) -> GMM2Params:
    """init_params in 2-D: an empty start component gets the data's covariance."""
    centres = kmeans_centres(key, x, w, k)
    total_w = tree_sum(w, 0)
    centre = tree_sum(w[:, None] * x, 0) / jnp.where(total_w > 0, total_w, 1.0)
    data = cholesky_2d(*weighted_cov_2d(x, centre[None], w[:, None]), floor)
    previous = GMM2Params(
        jnp.full((k,), 1.0 / k, x.dtype), centres, jnp.broadcast_to(data, (k, 3))
    )
    return m_step_2d(x, w, _nearest(x, centres), previous, floor)


def _pick_components(key, weight, num):
    """num component indices drawn with probability weight_j (inverse CDF over
    a running sum in a fixed order); never an empty trailing component."""
    k = weight.shape[0]
    cum = [weight[0]]
    for j in range(1, k):  # a running sum over k entries, in a fixed order
        cum.append(cum[-1] + weight[j])
    u = jax.random.uniform(key, (num,), weight.dtype) * cum[-1]
    pick = jnp.zeros((num,), jnp.int32)
    for j in range(k - 1):
        pick = pick + (u >= cum[j]).astype(jnp.int32)
    # Never an empty trailing component (u * total may round up to total).
    last = k - 1 - jnp.argmax((weight > 0)[::-1])
    return jnp.minimum(pick, last)


def _affine_2d(mean, chol, z, scale):
    """mean + scale L z for rows of mean (..., 2), chol (..., 3), z (..., 2)."""
    factor = scale * chol
    x1 = mean[..., 0] + factor[..., 0] * z[..., 0]
    x2 = mean[..., 1] + (factor[..., 1] * z[..., 0] + factor[..., 2] * z[..., 1])
    return jnp.stack([x1, x2], -1)


@dataclass(frozen=True)
class GMM:
    """Gaussian mixture family (SPEC §2): `components` k in [1, 256]
    (MAX_COMPONENTS), `em_steps` >= 1; `truth` the 1-D `mixture` (default) or a
    named 2-D truth (moons, circles, blobs) with `truth_noise` > 0 (moons,
    circles: at least kde.min_truth_noise) and, for circles, `factor` in
    [0, 1)."""

    components: int = 2
    em_steps: int = 20
    truth: str = "mixture"
    truth_noise: float = 0.05
    factor: float = 0.8
    name: ClassVar[str] = "gmm"
    has_exact_path: ClassVar[bool] = False

    def __post_init__(self):
        assign(
            self,
            components=check_integer(
                "components", self.components, 1, limit=MAX_COMPONENTS
            ),
            em_steps=check_integer("em_steps", self.em_steps, 1, limit=INT32_MAX),
            truth=check_choice("truth", self.truth, TRUTHS),
            truth_noise=check_number(
                "truth_noise", self.truth_noise, 0.0, strict_min=True
            ),
            factor=check_number("factor", self.factor, 0.0, 1.0, strict_max=True),
        )
        if self.truth != "mixture":  # the KL needs the truth's density
            check_truth_density(self.truth, self.truth_noise)

    @property
    def dim(self) -> int:
        """1 for the default mixture, 2 for a named truth."""
        return 1 if self.truth == "mixture" else 2

    @property
    def metrics_draw(self) -> bool:
        """A named truth's KL is Monte Carlo: metrics() takes a key (chain.py)."""
        return self.truth != "mixture"

    def min_samples(self) -> int:
        """k + 1 points: enough for k distinct seeds and a variance."""
        return self.components + 1

    def point_floats(self) -> int:
        """A point, plus its k responsibilities in the fit's working memory
        (and, in 2-D, its k offsets from the means)."""
        if self.truth == "mixture":
            return 1 + self.components
        return 2 + 3 * self.components

    def fixed_floats(self) -> int:
        if self.truth == "mixture":
            return 3 * self.components
        # parameters, and the KL's draws and their truth densities
        return 6 * self.components + 4 * KL_DRAWS * self.components + 6

    def unused_settings(self) -> dict:
        """Settings the numbers do not depend on (kde.moot_truth_settings)."""
        return moot_truth_settings(self.truth, "mixture")

    @property
    def metric_names(self) -> tuple[str, ...]:
        k = range(1, self.components + 1)
        means = ("mean",) if self.truth == "mixture" else ("mean_x", "mean_y")
        return (
            ("test_nll", "kl")
            + tuple(f"weight_{i}" for i in k)
            + tuple(f"{label}_{i}" for label in means for i in k)
            + tuple(f"var_{i}" for i in k)
        )

    def _truth(self, dtype) -> GMMParams:
        k = self.components
        return GMMParams(
            jnp.full((k,), 1.0 / k, dtype),
            jnp.asarray(truth_means(k), dtype),
            jnp.ones((k,), dtype),
        )

    def init_truth(self, key):
        """The blob centres (3, 2) for blobs (as the kde family's); else None."""
        if self.truth == "mixture":
            return None
        return init_named_truth(self.truth, key)

    def _truth_points(self, key, truth, num):
        dtype = jnp.result_type(float)
        return named_truth_points(
            self.truth, key, truth, num, self.truth_noise, self.factor, dtype
        )

    def sample_truth(self, key, truth, num, exact):
        if self.truth != "mixture":
            return Pool.full(self._truth_points(key, truth, num), None)
        dtype = jnp.result_type(float)
        return self.sample(key, self._truth(dtype), num, 1.0, exact)

    def reference(self, key, truth, num, exact):
        """The held-out real points, (num,) for the 1-D mixture, else (num, 2)."""
        if self.truth != "mixture":
            return self._truth_points(key, truth, num)
        return self.sample_truth(key, truth, num, exact).data[:, 0]

    def fit(self, key, train: Pool, previous=None):
        x = train.data[:, 0] if self.truth == "mixture" else train.data
        return fit_em(
            key, x, train.weight.astype(x.dtype), self.components, self.em_steps
        )

    def sample(self, key, params: GMMParams, num, temperature, exact):
        """num draws: component by inverse CDF of the weights, then N(mu, tau^2 v)."""
        pick = _pick_components(jax.random.fold_in(key, 0), params.weight, num)
        if self.truth != "mixture":
            dtype = params.mean.dtype
            z = jax.random.normal(jax.random.fold_in(key, 1), (num, 2), dtype)
            x = _affine_2d(params.mean[pick], params.chol[pick], z, temperature)
            return Pool.full(x, None)
        weight, mean, var = params
        z = jax.random.normal(jax.random.fold_in(key, 1), (num,), mean.dtype)
        x = mean[pick] + temperature * jnp.sqrt(var[pick]) * z
        return Pool.full(x[:, None], None)

    def log_density(self, params, pool: Pool) -> jax.Array:
        """log q(x) per point (the self-curation reward)."""
        if self.truth != "mixture":
            return mixture_logpdf_2d(pool.data, params)
        return mixture_logpdf(pool.data[:, 0], params)

    def truth_log_density(self, truth, pool: Pool) -> jax.Array:
        """log P(x) per point (the verifier's reward)."""
        if self.truth != "mixture":
            return named_truth_log_density(
                self.truth, truth, pool.data, self.truth_noise, self.factor
            )
        x = pool.data[:, 0]
        return mixture_logpdf(x, self._truth(x.dtype))

    def kl(self, params: GMMParams) -> jax.Array:
        """KL(q || P) by the composite Gauss-Legendre rule of the module docstring."""
        dtype = params.mean.dtype
        truth = self._truth(dtype)
        centre = jnp.concatenate([params.mean, truth.mean])
        sd = jnp.sqrt(jnp.concatenate([params.var, truth.var]))
        steps = jnp.asarray(_KL_STEPS, dtype)
        edges = jnp.sort((centre[:, None] + sd[:, None] * steps).reshape(-1))
        half = 0.5 * (edges[1:] - edges[:-1])
        mid = 0.5 * (edges[1:] + edges[:-1])
        x = mid[:, None] + half[:, None] * jnp.asarray(_GL_NODES, dtype)
        log_q = mixture_logpdf(x, params)
        log_p = mixture_logpdf(x, truth)
        q = jnp.exp(log_q)
        integrand = jnp.where(q > 0, q * (log_q - log_p), 0.0)
        cell = half[:, None] * jnp.asarray(_GL_WEIGHTS, dtype) * integrand
        return tree_sum(cell.reshape(-1), 0)

    def kl_2d(self, params: GMM2Params, truth, key) -> jax.Array:
        """KL(q || P) for a named truth: the stratified Monte Carlo estimate of
        the module docstring, KL_DRAWS draws of each component from `key`."""
        weight, mean, chol = params
        k = self.components
        # The draws are computed once (_prng.computed_once): XLA would copy
        # the hash, erf_inv and the affine map into each consumer (the model's
        # and the truth's densities), and each copy may contract multiplies
        # and adds into fused multiply-adds differently from program to
        # program: the estimate differed in its last bits between a run in one
        # segment and in segments of 2 generations.
        words = jax.random.key_data(key)
        z = computed_once(jax.random.normal(key, (k, KL_DRAWS, 2), mean.dtype), words)
        y = _affine_2d(mean[:, None, :], chol[:, None, :], z, 1.0)
        y = computed_once(y.reshape(k * KL_DRAWS, 2), words)
        log_q = mixture_logpdf_2d(y, params)
        log_p = named_truth_log_density(
            self.truth, truth, y, self.truth_noise, self.factor
        )
        per_component = tree_sum((log_q - log_p).reshape(k, KL_DRAWS), 1) / KL_DRAWS
        return tree_sum(jnp.where(weight > 0, weight * per_component, 0.0), 0)

    def metrics(self, params, truth, ref, key=None) -> dict:
        """SPEC §5's metrics (module docstring); `key` drives a named truth's
        Monte Carlo KL and is required there."""
        num = ref.shape[0]
        if self.truth == "mixture":
            test_nll = -tree_sum(mixture_logpdf(ref, params), 0) / num
            order = jnp.argsort(params.mean)
            out = {"test_nll": test_nll, "kl": self.kl(params)}
            columns = zip(("weight", "mean", "var"), params, strict=True)
        else:
            if key is None:
                raise ValueError("a named truth's gmm metrics need a key (its KL)")
            weight, mean, chol = params
            test_nll = -tree_sum(mixture_logpdf_2d(ref, params), 0) / num
            order = jnp.argsort(mean[:, 0])
            out = {"test_nll": test_nll, "kl": self.kl_2d(params, truth, key)}
            trace = tree_sum(chol * chol, 1)  # l11^2 + l21^2 + l22^2
            columns = (
                ("weight", weight),
                ("mean_x", mean[:, 0]),
                ("mean_y", mean[:, 1]),
                ("var", trace),
            )
        for label, values in columns:
            for i in range(self.components):
                out[f"{label}_{i + 1}"] = values[order[i]]
        return out
