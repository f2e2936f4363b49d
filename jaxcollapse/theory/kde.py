"""Exact across-chain expectations of the `kde` family's `var` and `distinct_roots`.

Setting (models/kde.py). n = `num_samples`, R = `num_real`, tau = `temperature`,
d = `dim`. Model t keeps the weighted training set D_t; W_t is the weighted
variance of its points, summed over coordinates (divisor: total weight), and
the metric is var_t = W_t + d h_t^2. A draw from model t is a point picked with
probability proportional to its weight plus h_t tau N(0, I), so given model t a
draw has mean mu_t (the weighted mean of D_t) and total variance W_t + c_t with
c_t = d tau^2 h_t^2. With Scott's rule (h^2 = (W / d) n_eff^(-2/5), n_eff the
number of points of positive weight) c_t = tau^2 n_eff^(-2/5) W_t, so with a
fixed or a Scott bandwidth every recursion below is linear in second moments
and its expectation is exact (for any d: Scott's sd is the root of the mean
per-coordinate variance for this reason).

Building blocks. n i.i.d. draws from model t have E[sample variance (divisor n)]
= (n-1)/n (W_t + c_t), and their mean ybar has E|ybar - mu_t|^2 = (W_t + c_t)/n.
Merging a block A (weight fraction lambda, variance W_A, mean a) with a block B
(1 - lambda, W_B, b) gives W = lambda W_A + (1-lambda) W_B + lambda (1-lambda)
|a - b|^2. A truth draw of R points has E[variance] = e0 and its mean lies
around a fixed centre pbar (per chain) with E|mean - pbar|^2 = v, the noise
mean being independent of everything else:
- normal: e0 = d (R-1)/R, v = d/R;
- moons, circles: e0 = (variance of the R noiseless positions) + 2 s^2 (R-1)/R,
  v = 2 s^2 / R, s = truth_noise;
- blobs (centres uniform in [-10, 10]^2, R split into counts m_k, p_k = m_k/R,
  spread g^2 = 1 + s^2 per coordinate): e0 = 2 (100/3)(1 - sum p_k^2)
  + 2 g^2 (R-1)/R, v = 2 g^2 / R.

Recursions for E W_t (all start from E W_0 = e0, n_eff = R at t = 0):
- replace: W_{t+1} = (n-1)/n (W_t + c_t); n_eff = n.
- accumulate (pool of N_t = R + t n points, scatter Q_t = N_t W_t):
  Q_{t+1} = Q_t + (W_t + c_t)(n - 1 + N_t / N_{t+1}); n_eff = N_t.
- accumulate-subsample (pool scatter Q_t, D_t a uniform n-subset of the pool,
  r_t = E|pool mean - mean of D_t|^2, r_0 = 0, D_0 = pool_0):
  Q_{t+1} = Q_t + (n-1)(W_t + c_t) + (N_t n / N_{t+1})(r_t + (W_t + c_t)/n),
  W_{t+1} = Q_{t+1}(n-1) / ((N_{t+1}-1) n),
  r_{t+1} = Q_{t+1}(N_{t+1}-n) / (N_{t+1}(N_{t+1}-1) n) (simple random sampling
  without replacement); n_eff = n.
- mix (lambda = real_weight) and augment (lambda = R/(R+n)), with
  A_t = E|mean of D_0 - ybar_t|^2, A_0 = 0:
  A_{t+1} = (1-lambda)^2 A_t + (W_t + c_t)/n,
  W_{t+1} = lambda e0 + (1-lambda)(n-1)/n (W_t + c_t) + lambda (1-lambda) A_{t+1}.
- fresh (lambda = real_weight, or R/(R+n) unweighted), with
  B_t = E|mu_t - pbar|^2, B_0 = v, G_{t+1} = B_t + (W_t + c_t)/n:
  W_{t+1} = lambda e0 + (1-lambda)(n-1)/n (W_t + c_t) + lambda (1-lambda)(v + G_{t+1}),
  B_{t+1} = lambda^2 v + (1-lambda)^2 G_{t+1}.
For mix and fresh, n_eff = R + n for 0 < lambda < 1, n for lambda = 0 and R for
lambda = 1 (weight-0 points are no part of the model). At tau = 1 and fixed h,
replace has the fixed point E W = (n-1) d h^2.

`distinct_roots` is the neutral Wright-Fisher model (Fisher 1930, Wright 1931):
under replace (and mix or weighted fresh with real_weight 0, where the chain is
replace), one root's number of carriers is c_1 ~ Binomial(n, 1/R),
c_{t+1} ~ Binomial(n, c_t / n) whatever h and tau, so E distinct_roots_t =
R (1 - P(c_t = 0)), computed by propagating c's law (given when n <= 2000 and
T (n+1)^2 <= 4e8). Under accumulate, augment and mix with real_weight > 0, D_0
stays in with positive weight: distinct_roots = R. Otherwise (fresh with real
data, accumulate-subsample) it is left out, as is test_nll everywhere.
"""

import math

import numpy as np

from jaxcollapse.models.kde import arc_positions, blob_counts

MAX_WF_SIZE = 2000
MAX_WF_WORK = 4e8


def _truth_moments(truth, dim, num_real, noise, factor):
    """(e0, v) of a truth draw of num_real points (module text)."""
    r = num_real
    if truth == "normal":
        return dim * (r - 1) / r, dim / r
    if truth == "blobs":
        spread = 1.0 + noise**2
        p = blob_counts(r) / r
        between = 2.0 * (100.0 / 3.0) * (1.0 - float(np.sum(p * p)))
        return between + 2.0 * spread * (r - 1) / r, 2.0 * spread / r
    base = arc_positions(truth, r, factor)
    positions = float(np.sum(base.var(axis=0)))
    return positions + 2.0 * noise**2 * (r - 1) / r, 2.0 * noise**2 / r


def _weight_fraction(workflow, num_samples, num_real, real_weight):
    if workflow == "augment" or (workflow == "fresh" and real_weight is None):
        return num_real / (num_real + num_samples)
    return float(real_weight)


def _num_effective(workflow, t, n, r, lam):
    """Points of positive weight in D_t."""
    if t == 0:
        return r
    if workflow in ("replace", "accumulate-subsample"):
        return n
    if workflow == "accumulate":
        return r + t * n
    if workflow == "augment":
        return r + n
    return n if lam == 0 else (r if lam == 1 else r + n)


def expected_var(
    workflow, n, r, steps, dim, bandwidth, tau, e0, v, lam=None
) -> np.ndarray:
    """E var_t for t = 0..steps (module text)."""

    def kernel(t, w):  # (c_t, d h_t^2) for E W_t = w
        if bandwidth == "scott":
            share = _num_effective(workflow, t, n, r, lam) ** -0.4 * w
            return tau**2 * share, share
        return dim * tau**2 * bandwidth**2, dim * bandwidth**2

    w = e0
    out = [w + kernel(0, w)[1]]
    pool, aux = r * e0, 0.0  # accumulate*: pool scatter; mix/fresh: A_t / B_t
    if workflow == "fresh":
        aux = v
    for t in range(steps):
        c = kernel(t, w)[0]
        spread = w + c
        if workflow == "replace":
            w = (n - 1) / n * spread
        elif workflow == "accumulate":
            size, grown = r + t * n, r + (t + 1) * n
            pool += spread * (n - 1 + size / grown)
            w = pool / grown
        elif workflow == "accumulate-subsample":
            size, grown = r + t * n, r + (t + 1) * n
            pool += (n - 1) * spread + size * n / grown * (aux + spread / n)
            w = pool * (n - 1) / ((grown - 1) * n)
            aux = pool * (grown - n) / (grown * (grown - 1) * n)
        elif workflow in ("mix", "augment"):
            aux = (1 - lam) ** 2 * aux + spread / n
            w = lam * e0 + (1 - lam) * (n - 1) / n * spread + lam * (1 - lam) * aux
        else:  # fresh
            g = aux + spread / n
            w = lam * e0 + (1 - lam) * (n - 1) / n * spread + lam * (1 - lam) * (v + g)
            aux = lam**2 * v + (1 - lam) ** 2 * g
        out.append(w + kernel(t + 1, w)[1])
    return np.asarray(out, dtype=np.float64)


def _binomial_rows(n: int, probs: np.ndarray) -> np.ndarray:
    """Binomial(n, p) pmfs over 0..n, one row per p."""
    k = np.arange(n + 1)
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    log_choose = log_fact[n] - log_fact[k] - log_fact[n - k]
    p = probs[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = (
            log_choose
            + np.where(k > 0, k * np.log(p), 0.0)
            + np.where(k < n, (n - k) * np.log1p(-p), 0.0)
        )
    return np.exp(log_pmf)


def expected_distinct_roots(n: int, r: int, steps: int) -> np.ndarray:
    """E distinct_roots_t under neutral Wright-Fisher resampling (module text)."""
    out = [float(r)]
    if steps == 0:
        return np.asarray(out)
    law = _binomial_rows(n, np.array([1.0 / r]))[0]
    out.append(r * (1.0 - law[0]))
    if steps > 1:
        move = _binomial_rows(n, np.arange(n + 1) / n)
        for _ in range(steps - 1):
            law = law @ move
            out.append(r * (1.0 - law[0]))
    return np.asarray(out, dtype=np.float64)


def theory(config: dict) -> dict[str, np.ndarray]:
    """{metric: (T+1,) expectation} for the metrics with a closed form here."""
    try:
        workflow = config["workflow"]
        n = int(config["num_samples"])
        r = int(config.get("num_real") or n)
        steps = int(config["num_generations"])
        dim = int(config.get("dim", 1))
        truth = config.get("truth", "normal")
        bandwidth = config.get("bandwidth", 0.1)
        tau = float(config.get("temperature", 1.0))
        real_weight = config.get("real_weight")
        noise = float(config.get("truth_noise", 0.05))
        factor = float(config.get("factor", 0.8))
    except (KeyError, TypeError, ValueError):
        return {}
    if bandwidth != "scott":
        try:
            bandwidth = float(bandwidth)
        except (TypeError, ValueError):
            return {}
    known = ("replace", "accumulate", "accumulate-subsample", "augment", "mix")
    if workflow not in known + ("fresh",) or not (math.isfinite(tau) and tau > 0):
        return {}
    if workflow == "mix" and real_weight is None:
        return {}
    if n < 2 or r < 2 or steps < 0:
        return {}
    lam = None
    if workflow in ("augment", "mix", "fresh"):
        lam = _weight_fraction(workflow, n, r, real_weight)
    e0, v = _truth_moments(truth, dim, r, noise, factor)
    out = {"var": expected_var(workflow, n, r, steps, dim, bandwidth, tau, e0, v, lam)}
    if workflow in ("accumulate", "augment") or (workflow == "mix" and lam > 0):
        out["distinct_roots"] = np.full(steps + 1, float(r))
    wright_fisher = workflow == "replace" or (
        workflow in ("mix", "fresh") and real_weight is not None and lam == 0
    )
    if wright_fisher and n <= MAX_WF_SIZE and steps * (n + 1) ** 2 <= MAX_WF_WORK:
        out["distinct_roots"] = expected_distinct_roots(n, r, steps)
    return out
