"""The `gaussian` family: fit N(mu, Sigma) by maximum likelihood, sample, repeat.

Truth N(0, I_d). Fit: weighted sample mean and covariance with divisor n - ddof
(SPEC §2; weighted sets use scatter / (W - ddof sum w^2 / W)). Sample:
N(mu, tau^2 Sigma). Under `replace` sigma_t^2 = tau^2 sigma_{t-1}^2 chi^2_{n-1} /
(n - ddof), so log sigma_t^2 is a random walk with negative drift and the variance
collapses to 0 almost surely (Shumailov et al. 2024, "AI models collapse when
trained on recursively generated data"), while E sigma_t^2 may stay at 1 (ddof=1).

Parameters are kept as a frame (mean, log_scale, tril): Sigma = exp(2 log_scale)
tril tril^T with det(tril) = 1, so log det Sigma = 2 d log_scale is exact however
deep the collapse, and a model's samples are stored as O(1) coordinates in the
model's own frame (see workflows/_frame.py).

Exact fast path: a Gaussian sample enters the fit only through its mean
~ N(mu, Sigma/n) and its scatter ~ Wishart(n - 1, Sigma), independent; drawing
those (Bartlett decomposition) instead of n points gives the same law per chain.
"""

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from jaxcollapse import _prng
from jaxcollapse.config import assign, check_integer
from jaxcollapse.models._base import SUMMARY
from jaxcollapse.workflows import _frame
from jaxcollapse.workflows._frame import Frame
from jaxcollapse.workflows._linalg import (
    cholesky_lower,
    matmul,
    matvec,
    solve_lower,
    total,
    tree_sum,
)
from jaxcollapse.workflows._moments import Moments, gaussian_group
from jaxcollapse.workflows._pool import Pool


class TestMoments(NamedTuple):
    """The held-out real set's mean (d,) and covariance with divisor m (d, d)."""

    mean: jax.Array
    cov: jax.Array


class GaussianParams(NamedTuple):
    """N(mean, exp(2 log_scale) tril tril^T), det(tril) = 1."""

    mean: jax.Array  # (d,)
    log_scale: jax.Array  # ()
    tril: jax.Array  # (d, d) lower triangular

    @property
    def frame(self) -> Frame:
        """The frame its samples are stored in: x = mean + exp(log_scale) tril z."""
        return Frame(self.mean, self.log_scale, self.tril)


@dataclass(frozen=True)
class Gaussian:
    """Multivariate normal family (SPEC §2); `dim` d >= 1, `ddof` 0 or 1."""

    dim: int = 1
    ddof: int = 0
    name: ClassVar[str] = "gaussian"
    has_exact_path: ClassVar[bool] = True
    summarises_points: ClassVar[bool] = True

    def __post_init__(self):
        dim = check_integer("dim", self.dim, 1)
        try:
            ddof = check_integer("ddof", self.ddof, 0, 1)
        except ValueError:
            raise ValueError(f"ddof must be 0 or 1; got {self.ddof!r}") from None
        assign(self, dim=dim, ddof=ddof)

    def min_samples(self) -> int:
        """Fewest points per fit for a non-degenerate covariance (n >= d + 1)."""
        return self.dim + 1

    @property
    def metric_names(self) -> tuple[str, ...]:
        if self.dim == 1:
            return (
                "mean",
                "mean_sqerr",
                "var",
                "std",
                "log_var",
                "kl",
                "w2",
                "test_nll",
            )
        return ("mean_sqerr", "trace_cov", "log_det_cov", "kl", "w2", "test_nll")

    def _group(self, key, num, scale, frame, exact):
        """num points of N(0, scale^2 I) in `frame`. A scale other than the
        constant 1 (a temperature) goes into the frame's log_scale, so that the
        stored coordinates stay N(0, I) and tau^2 never under- or overflows:
        tau = 1e-20 keeps log var exact in float32 (tau * z, squared in the
        fit, would be 1e-40, below float32's smallest normal number). A traced
        tau of 1 adds log 1 = 0: the same bits as no temperature."""
        if not (isinstance(scale, float) and scale == 1.0):
            frame = frame._replace(log_scale=frame.log_scale + jnp.log(scale))
            scale = 1.0
        if exact == SUMMARY:
            return _summary(key, num, self.dim, scale, frame)
        if exact:
            return gaussian_group(key, num, self.dim, scale, frame)
        dtype = frame.log_scale.dtype
        draws = scale * _prng.paired_normal(key, (num, self.dim), dtype)
        return Pool.full(draws, frame)

    def init_truth(self, key):
        return None

    def sample_truth(self, key, truth, num, exact):
        return self._group(key, num, 1.0, _frame.identity(self.dim), exact)

    def reference(self, key, truth, num, exact):
        """Held-out real set, kept as all test_nll needs: its mean and its
        covariance with divisor m, in absolute coordinates (computed once)."""
        ref = self.sample_truth(key, truth, num, exact)
        ref = ref if exact else ref.moments()
        ref = ref.reframe(_frame.identity(self.dim, ref.mean.dtype))
        return TestMoments(ref.mean, ref.scatter / ref.weight)

    def sample(self, key, params, num, temperature, exact):
        """num draws from N(mu, tau^2 Sigma): coordinates tau*z in the model frame."""
        return self._group(key, num, temperature, params.frame, exact)

    def fit(self, key, train, previous=None) -> GaussianParams:
        """Weighted maximum likelihood (divisor n - ddof), composed with the frame."""
        stats = train.moments() if isinstance(train, Pool) else train
        frame = stats.frame
        cov = stats.covariance(self.ddof)
        chol = cholesky_lower(cov) if self.dim > 1 else jnp.sqrt(cov)
        mean = frame.shift + jnp.exp(frame.log_scale) * matvec(frame.tril, stats.mean)
        tril = matmul(frame.tril, chol)
        # Normalise det(tril) = 1; the scale moves into log_scale, exactly.
        if self.dim == 1:
            log_norm = 0.5 * jnp.log(cov[0, 0]) + jnp.log(jnp.abs(frame.tril[0, 0]))
        else:
            log_norm = total(jnp.log(jnp.abs(jnp.diag(tril)))) / self.dim
        return GaussianParams(
            mean, frame.log_scale + log_norm, tril / jnp.exp(log_norm)
        )

    def log_density(self, params: GaussianParams, pool: Pool) -> jax.Array:
        """log N(x; mu, Sigma) per point (the self-curation reward), computed in
        the model's frame, where the point is u with x = mu + exp(g) L u and
        det L = 1: -|u|^2 / 2 - d g - d log(2 pi) / 2; exact in deep collapse."""
        u = pool.reframe(params.frame).data
        d = self.dim
        return (
            -0.5 * tree_sum(u * u, 1)
            - d * params.log_scale
            - 0.5 * d * math.log(2.0 * math.pi)
        )

    def truth_log_density(self, truth, pool: Pool) -> jax.Array:
        """log N(x; 0, I) per point (the verifier's reward)."""
        x = pool.absolute()
        return -0.5 * tree_sum(x * x, 1) - 0.5 * self.dim * math.log(2.0 * math.pi)

    def truth_reward(self, truth, pool: Pool) -> jax.Array:
        """-|x|^2: the verifier's ranking, the same order as truth_log_density.
        The log-density adds -d log(2 pi) / 2, in whose float32 rounding
        (6e-8) every |x|^2 below about 1e-7 vanishes, so a verified chain that
        has collapsed to such points could no longer tell them apart."""
        x = pool.absolute()
        return -tree_sum(x * x, 1)

    def metrics(self, params: GaussianParams, truth, ref: TestMoments) -> dict:
        if self.dim == 1:
            return self._metrics_1d(params, ref)
        d = self.dim
        mean, g, tril = params
        sqerr = total(mean**2)
        frob = total(tril**2)
        trace = jnp.exp(2.0 * g) * frob
        log_det = 2.0 * d * g + 2.0 * total(jnp.log(jnp.abs(jnp.diag(tril))))
        root_trace = jnp.exp(g) * total(jnp.linalg.svd(tril, compute_uv=False))
        # Average NLL of the held-out points from their moments:
        # mean_j (x_j - mu)^T Sigma^-1 (x_j - mu)
        #   = tr(Sigma^-1 S/m) + |L^-1 (xbar - mu)|^2.
        inv = solve_lower(tril, jnp.eye(d, dtype=g.dtype))
        spread = total(matmul(inv, ref.cov) * inv)
        offset = total(matvec(inv, ref.mean - mean) ** 2)
        maha = (spread + offset) * jnp.exp(-2.0 * g)
        kl = 0.5 * (((trace + sqerr) - d) - log_det)
        w2 = jnp.sqrt(
            jnp.maximum(((sqerr + trace) + d) - (root_trace + root_trace), 0.0)
        )
        test_nll = 0.5 * (d * math.log(2.0 * math.pi) + log_det + maha)
        out = {
            "mean_sqerr": sqerr,
            "trace_cov": trace,
            "log_det_cov": log_det,
            "kl": kl,
            "w2": w2,
            "test_nll": test_nll,
        }
        return {name: out[name] for name in self.metric_names}

    def _metrics_1d(self, params: GaussianParams, ref: TestMoments) -> dict:
        """The same formulas written for scalars (d = 1: |tril| = 1 but is kept,
        as it is exact either way); a few scalar operations per chain, which is
        most of what the exact fast path costs per generation."""
        mean, g = params.mean[0], params.log_scale
        log_std = g + jnp.log(jnp.abs(params.tril[0, 0]))
        std = jnp.exp(log_std)
        var = std * std
        sqerr = mean * mean
        log_var = 2.0 * log_std
        offset = ref.mean[0] - mean
        maha = (ref.cov[0, 0] + offset * offset) * jnp.exp(-log_var)
        return {
            "mean": mean,
            "mean_sqerr": sqerr,
            "var": var,
            "std": std,
            "log_var": log_var,
            "kl": 0.5 * (((var + sqerr) - 1.0) - log_var),
            "w2": jnp.sqrt(sqerr + (std - 1.0) ** 2),
            "test_nll": 0.5 * (math.log(2.0 * math.pi) + log_var + maha),
        }


def _summary(key, num: int, dim: int, scale, frame: Frame) -> Moments:
    """Sufficient statistics of `num` points drawn from N(0, scale^2 I_d) in
    `frame`: the Pool path's draws (_prng.paired_normal, bit for bit), reduced
    (SUMMARY in models/_base.py). In 1-D by _prng.paired_sums, in one pass
    that hashes each Threefry block once for its two points (sample-level
    replace, 10^5 chains, n = 100, T = 100: 925-947 -> 685-725 core-ns a
    chain-generation on the 2-core AMD EPYC); for d > 1 from the materialised
    points.

    Sums of u and u u^T, then scatter = sum u u^T - num m m^T. The
    draws are standardised coordinates (mean O(scale / sqrt(num)) against a
    spread of scale), so the subtraction loses about log2(1 + d/num) bits,
    nothing like the cancellation of one-pass variance in absolute coordinates.
    """
    dtype = frame.log_scale.dtype
    if dim == 1:
        s1, s2 = _prng.paired_sums(key, num, dtype, scale)
        mean = (s1 / num).reshape(1)
        scatter = (s2 - s1 * mean[0]).reshape(1, 1)
    else:
        u = scale * _prng.paired_normal(key, (num, dim), dtype)
        mean = jnp.sum(u, axis=0) / num
        scatter = matmul(u.T, u) - num * jnp.outer(mean, mean)
    weight = jnp.asarray(num, dtype)
    return Moments(weight, mean, scatter, weight, jnp.asarray(num, jnp.int32), frame)
