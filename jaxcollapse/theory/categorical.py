"""Exact across-chain expectations of the `categorical` family's metrics.

Setting (SPEC §2-§5): truth p_k ∝ k^(-s) over K symbols; n = `num_samples`,
n_r = `num_real`, tau = `temperature`, alpha = `smoothing`, T generations. The
fit is p_hat = (N f + alpha) / (N + K alpha) with f the weighted frequencies and
N = W^2 / sum w^2 (models/categorical.py), which is deterministic for every
workflow: n_r at generation 0; n (replace, accumulate-subsample);
n_r + t n (accumulate); n_r + n (augment, unweighted fresh);
1 / (lam^2 / n_r + (1 - lam)^2 / n) (mix, weighted fresh with real_weight lam).

* num_missing and collapsed.
  - alpha > 0: every fitted probability is positive, so both are 0 (any
    workflow, any tau).
  - alpha = 0, generation 0: symbol k is missing with probability
    (1 - p_k)^n_r and the fit is collapsed iff one symbol took all n_r draws,
    so E num_missing_0 = sum_k (1 - p_k)^n_r, E collapsed_0 = sum_k p_k^n_r.
  - alpha = 0, accumulate, augment, mix (lam > 0), weighted fresh (lam = 1), any
    tau: D_0 stays in the fit with positive weight (or, for fresh with lam = 1,
    every model is a fresh generation-0 fit), and a model never draws a symbol
    it gives probability 0, so the support never changes: both stay at their
    generation-0 values.
  - alpha = 0, tau = 1, replace (and mix / weighted fresh with lam = 0, which
    are replace): the Wright-Fisher setting. Symbol k's count is a two-type
    Wright-Fisher chain (Fisher 1930; Wright 1931): X_0 ~ Bin(n_r, p_k),
    X_1 ~ Bin(n, X_0 / n_r), X_{t+1} ~ Bin(n, X_t / n), absorbed at 0 (lost)
    and at n (total collapse). So E num_missing_t = sum_k P(X_t^k = 0) and, the
    events {X_t^k = n} being disjoint, E collapsed_t = sum_k P(X_t^k = n).
    With M the (n+1)x(n+1) binomial transition matrix and B the (n_r+1)x(n+1)
    first step, h_u = M^u e_0 gives P(X_{1+u} = 0 | X_1 = i) = h_u(i) and, by
    the symmetry i <-> n - i, P(X_{1+u} = n | X_1 = i) = h_u(n - i); then
    E num_missing_t = a^T B h_{t-1}, E collapsed_t = a^T B R h_{t-1}, with
    a = sum_k Bin(n_r, p_k) pmf and R the reversal. Cost about T (n+1)^2 float64
    multiply-adds: returned only when n, n_r <= MAX_COUNT and
    T (n+1)(n+n_r+2) <= MAX_WORK (else left out).
* tail_mass at tau = 1, any alpha, every workflow: a tau = 1 sample's counts
  have mean n p_hat_{t-1}, a uniform subset of the accumulated pool has mean
  counts (n / N_t) times the pool's, and the fit is affine in the counts with a
  deterministic N, so m_t = E tail_mass_t obeys an affine recursion
  (L = floor(K/10), P_T = P's mass on the tail, C_t the pool's expected tail
  count):
    generation 0: m_0 = (n_r P_T + alpha L) / (n_r + K alpha);
    replace:      m_t = (n m_{t-1} + alpha L) / (n + K alpha);
    accumulate:   C_t = C_{t-1} + n m_{t-1}, C_0 = n_r P_T,
                  m_t = (C_t + alpha L) / (n_r + t n + K alpha);
    accumulate-subsample: same C_t, m_t = (n C_t / N_t + alpha L)/(n + K alpha);
    augment, fresh: m_t = (n_r P_T + n m_{t-1} + alpha L)/(n_r + n + K alpha);
    mix, weighted fresh: m_t = (N (lam P_T + (1-lam) m_{t-1}) + alpha L)
                               / (N + K alpha).
  (With alpha = 0 these say E p_hat_t = p: frequencies are a martingale.)
entropy and kl have no closed form and are left out.
"""

from __future__ import annotations

import numpy as np

from jaxcollapse.models.categorical import _zipf_log_probs
from jaxcollapse.theory._common import scalar

MAX_COUNT = 2000
MAX_WORK = 5e8
_SUPPORT_FIXED = ("accumulate", "augment")


def _binomial_matrix(trials: int, sizes: int) -> np.ndarray:
    """B[j, i] = P(Bin(trials, j / sizes) = i), j = 0..sizes, i = 0..trials."""
    frac = np.arange(sizes + 1, dtype=np.float64) / sizes
    from scipy import stats  # imported when needed: ~0.5 s

    return stats.binom.pmf(np.arange(trials + 1)[None, :], trials, frac[:, None])


def wright_fisher(p: np.ndarray, num_real: int, num_samples: int, num_generations):
    """(E num_missing_t, E collapsed_t), t = 0..T, under replace, alpha = 0, tau = 1
    (module docstring)."""
    n, n_r, T = num_samples, num_real, num_generations
    # a_j = sum_k P(X_0^k = j)
    from scipy import stats

    a = stats.binom.pmf(np.arange(n_r + 1)[None, :], n_r, p[:, None]).sum(axis=0)
    missing = np.empty(T + 1)
    collapsed = np.empty(T + 1)
    missing[0], collapsed[0] = a[0], a[n_r]
    if T == 0:
        return missing, collapsed
    first = a @ _binomial_matrix(n, n_r)  # sum_k P(X_1^k = i)
    step = _binomial_matrix(n, n)
    h = np.zeros(n + 1)
    h[0] = 1.0
    for t in range(1, T + 1):
        missing[t] = first @ h
        collapsed[t] = first @ h[::-1]
        h = step @ h
    return missing, collapsed


def _tail_mass(workflow, n, n_r, T, alpha, K, tail_truth, lam):
    """E tail_mass_t at tau = 1 (module docstring)."""
    L = K // 10
    m = np.empty(T + 1)
    m[0] = (n_r * tail_truth + alpha * L) / (n_r + K * alpha)
    pool = n_r * tail_truth
    if lam is not None:
        size = 1.0 / (lam**2 / n_r + (1.0 - lam) ** 2 / n)
    for t in range(1, T + 1):
        prev = m[t - 1]
        if workflow == "replace":
            m[t] = (n * prev + alpha * L) / (n + K * alpha)
        elif workflow in ("accumulate", "accumulate-subsample"):
            pool += n * prev
            total = n_r + t * n
            if workflow == "accumulate":
                m[t] = (pool + alpha * L) / (total + K * alpha)
            else:
                m[t] = (n * pool / total + alpha * L) / (n + K * alpha)
        elif lam is None:  # augment, unweighted fresh
            m[t] = (n_r * tail_truth + n * prev + alpha * L) / (n_r + n + K * alpha)
        else:  # mix, weighted fresh
            mean = lam * tail_truth + (1.0 - lam) * prev
            m[t] = (size * mean + alpha * L) / (size + K * alpha)
    return m


def theory(config: dict) -> dict[str, np.ndarray]:
    """{metric: (T+1,) float64} for the metrics that are exact in this setting."""
    workflow = config["workflow"]
    K = int(config["categories"])
    alpha = float(config["smoothing"])
    n = int(config["num_samples"])
    n_r = int(config.get("num_real") or n)
    T = int(config["num_generations"])
    tau = scalar(config.get("temperature", 1.0))
    lam = config.get("real_weight")
    lam = None if lam is None else scalar(lam)
    if tau is None or (config.get("real_weight") is not None and lam is None):
        return {}
    if workflow == "mix" and lam is None:
        return {}
    p = np.exp(_zipf_log_probs(K, float(config["zipf"])))
    out = {}

    if alpha > 0:
        out["num_missing"] = np.zeros(T + 1)
        out["collapsed"] = np.zeros(T + 1)
    else:
        missing0 = float(np.sum((1.0 - p) ** n_r))
        collapsed0 = float(np.sum(p**n_r))
        static = (
            T == 0
            or workflow in _SUPPORT_FIXED
            or (workflow == "mix" and lam > 0)
            or (workflow == "fresh" and lam == 1.0)
        )
        drift = workflow == "replace" or (workflow in ("mix", "fresh") and lam == 0.0)
        if static:
            out["num_missing"] = np.full(T + 1, missing0)
            out["collapsed"] = np.full(T + 1, collapsed0)
        elif drift and tau == 1.0:
            small = max(n, n_r) <= MAX_COUNT
            if small and T * (n + 1) * (n + n_r + 2) <= MAX_WORK:
                missing, collapsed = wright_fisher(p, n_r, n, T)
                out["num_missing"] = missing
                out["collapsed"] = collapsed

    if tau == 1.0 or T == 0:
        tail_truth = float(np.sum(p[K - K // 10 :])) if K // 10 else 0.0
        out["tail_mass"] = _tail_mass(workflow, n, n_r, T, alpha, K, tail_truth, lam)
    return {
        name: out[name]
        for name in ("num_missing", "tail_mass", "collapsed")
        if name in out
    }
