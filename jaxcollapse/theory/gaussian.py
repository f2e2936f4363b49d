"""Exact across-chain expectations of the `gaussian` family's metrics (SPEC §2-§5).

Setting. Truth P = N(0, I_d); n = `num_samples`, n_r = `num_real` (default n),
tau = `temperature`, T = `num_generations`. Model t = N(mu_t, Sigma_t) is the
weighted fit on D_t: with weights w_i normalised to sum 1,

    mu = sum_i w_i x_i,
    Sigma = sum_i w_i (x_i - mu)(x_i - mu)^T / (1 - ddof sum_i w_i^2),

which for N equal weights is scatter / (N - ddof); the divisor is the
"reliability weights" correction, E[sum w (x - mu)^2] = (1 - sum w^2) sigma^2 for
i.i.d. points. Model t-1 draws n synthetic points from N(mu_{t-1}, tau^2 Sigma_{t-1}).

Reduction to one dimension. Coordinate j of every point depends only on
(mu_j, Sigma_jj) of the model that drew it, and the fit of coordinate j uses only
coordinate j, so each coordinate is marginally the 1-D chain: E||mu_t||^2 = d m_t
and E tr Sigma_t = d s_t, with m_t = E mu_t^2 and s_t = E sigma_t^2 in 1-D.
These moments obey exact linear recursions because a Gaussian sample's mean and
scatter are independent, the scatter of k points is sigma^2 chi2_{k-1}, and
fresh noise has mean zero. Generation 0 (all workflows): s_0 = (n_r-1)/(n_r-ddof),
m_0 = 1/n_r. Merging two groups (a points, total weight alpha, mean xa, scatter
Wa; b points, weight beta = 1 - alpha, mean xb, scatter Wb) gives
    mu = alpha xa + beta xb,
    sum w (x - mu)^2 = (alpha/a) Wa + (beta/b) Wb + alpha beta (xa - xb)^2.

* replace (Shumailov et al. 2024, "The curse of recursion", and Nature 631,
  "AI models collapse when trained on recursively generated data"):
  s_t = c0 c^t with c0 = (n_r-1)/(n_r-ddof), c = tau^2 (n-1)/(n-ddof);
  m_t = 1/n_r + (tau^2/n) sum_{u<t} s_u. The scale factors are independent, so
  E sigma_t = a0 a^t with a0 = E sqrt(chi2_{n_r-1}/(n_r-ddof)),
  a = tau E sqrt(chi2_{n-1}/(n-ddof)), E sqrt(chi2_k) = sqrt(2) G((k+1)/2)/G(k/2);
  by Bartlett's decomposition Sigma_t = tau^2 L W_t L^T/(n-ddof) with
  W_t ~ Wishart_d(n-1, I), E log det Sigma_t = l0 + t l with
  E log det Wishart_d(k, I) = sum_{i=1..d} digamma((k-i+1)/2) + d log 2
  (= -inf when k < d), and
  E KL(model || P) = (E tr Sigma + E||mu||^2 - d - E log det Sigma) / 2.
* fresh (He, Xu & Cheng 2025, weighted fresh-data loop) with alpha = lambda, or
  alpha = n_r/(n_r+n) for equal weights, D = 1 - ddof (alpha^2/n_r + beta^2/n):
  s_t = [alpha (n_r-1+beta)/n_r + beta tau^2 s_{t-1}(n-1+alpha)/n
         + alpha beta m_{t-1}] / D,
  m_t = alpha^2/n_r + beta^2 (m_{t-1} + tau^2 s_{t-1}/n);
  its fixed point, at n_r = n, tau = 1, n -> inf, is minimised in m by
  lambda = (sqrt 5 - 1)/2 (the golden ratio).
* mix / augment (augment = mix with lambda = n_r/(n_r+n)); e_t = E(mu_t - xbar_0)^2:
  s_t = [alpha (n_r-1)/n_r + beta tau^2 s_{t-1}(n-1+alpha)/n
         + alpha beta e_{t-1}] / D,
  e_t = beta^2 (e_{t-1} + tau^2 s_{t-1}/n),  m_t = 1/n_r + e_t
  (because E[xbar_0 (mu_t - xbar_0)] = 0).
* accumulate (Gerstgrasser et al. 2024, "Is model collapse inevitable?"; Kazdan et
  al. 2024, "Collapse or thrive?"), pool size N_t = n_r + t n, pool scatter M_t:
  E M_t = E M_{t-1} + tau^2 s_{t-1} (n - 1 + N_{t-1}/N_t),  s_t = E M_t/(N_t - ddof),
  m_t = m_{t-1} + n tau^2 s_{t-1}/N_t^2. With tau = 1, n_r = n, ddof = 1:
  s_t = s_{t-1} (1 - n/(N_t (N_t - 1))) -> 1 - O(1/n), and
  m_t -> (pi^2/6)/n (1 + O(1/n)) as t -> inf: bounded error, no collapse.
* accumulate-subsample: pool mean P_t, scatter Q_t, model fit on a uniform size-n
  subset. Simple random sampling gives E[mu_t | pool] = P_t,
  Var[mu_t | pool] = Q_t (N_t-n)/((N_t-1) N_t n) and
  E[subset scatter | pool] = (n-1) Q_t/(N_t-1). With r_t = E(mu_t - P_t)^2 and
  g = r_{t-1} + tau^2 s_{t-1}/n:
  E Q_t = E Q_{t-1} + tau^2 s_{t-1}(n-1) + (N_{t-1} n/N_t) g,
  E P_t^2 = E P_{t-1}^2 + (n/N_t)^2 g,  s_t = (n-1)/(n-ddof) E Q_t/(N_t-1),
  r_t = E Q_t (N_t-n)/((N_t-1) N_t n),  m_t = E P_t^2 + r_t.

Only metrics whose expectation is exact are returned: `std`, `log_var`,
`log_det_cov` and `kl` need the law of sigma_t, known in closed form under
`replace` only (and in the degenerate weights lambda = 0, which is `replace`, and
lambda = 1, where every model has generation 0's law); the other workflows give
`mean`, `mean_sqerr`, `var` / `trace_cov`.
"""

from __future__ import annotations

import math
import operator

import numpy as np

WORKFLOWS = ("replace", "accumulate", "accumulate-subsample", "augment", "fresh", "mix")
_WEIGHTED = ("fresh", "mix")


def _integer(name: str, value, minimum: int) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        out = operator.index(value)
    except TypeError:
        msg = f"{name} must be an integer >= {minimum}; got {value!r}"
        raise ValueError(msg) from None
    if out < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {out}")
    return out


def _validate(
    workflow,
    num_samples,
    num_generations,
    num_real,
    dim,
    ddof,
    temperature,
    real_weight,
):
    """Check every setting; return (n, T, n_r, d, ddof, tau, lam)."""
    if workflow not in WORKFLOWS:
        raise ValueError(
            f"workflow must be one of {', '.join(map(repr, WORKFLOWS))}; "
            f"got {workflow!r}"
        )
    if ddof not in (0, 1) or isinstance(ddof, bool):
        raise ValueError(f"ddof must be 0 or 1; got {ddof!r}")
    n = _integer("num_samples", num_samples, 1)
    n_r = n if num_real is None else _integer("num_real", num_real, 1)
    for name, size in (("num_samples", n), ("num_real", n_r)):
        if size <= ddof:
            raise ValueError(
                f"{name} must be > ddof (= {ddof}) to fit a variance; got {size}"
            )
    T = _integer("num_generations", num_generations, 0)
    d = _integer("dim", dim, 1)
    try:
        tau = float(temperature)
    except (TypeError, ValueError):
        tau = math.nan
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(
            f"temperature must be a finite number > 0; got {temperature!r}"
        )
    lam = None
    if real_weight is not None:
        if workflow not in _WEIGHTED:
            raise ValueError(
                "real_weight applies only to workflows 'fresh' and 'mix'; "
                f"got real_weight={real_weight!r} with workflow {workflow!r}"
            )
        try:
            lam = float(real_weight)
        except (TypeError, ValueError):
            lam = math.nan
        if not 0.0 <= lam <= 1.0:
            raise ValueError(
                f"real_weight must be a number in [0, 1]; got {real_weight!r}"
            )
    elif workflow == "mix":
        raise ValueError(
            "workflow 'mix' needs real_weight, a number in [0, 1]; got None"
        )
    return n, T, n_r, d, ddof, tau, lam


def _digamma(x: float) -> float:
    """digamma(x) for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to
    x >= 10, then the asymptotic series ln x - 1/(2x) - sum_k B_2k / (2k x^2k)
    to k = 5 (Abramowitz & Stegun 6.3.18; truncation below 3e-14). Written here
    because importing scipy.special costs about 0.3 s of every process's first
    run, and the theory needs it at half-integers only."""
    shift = 0.0
    while x < 10.0:
        shift -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))
    return shift + math.log(x) - 0.5 / x - series


def _e_sqrt_chi2(k: int) -> float:
    """E sqrt(X), X ~ chi2_k: sqrt(2) Gamma((k+1)/2) / Gamma(k/2); 0 for k = 0."""
    if k == 0:
        return 0.0
    log_ratio = math.lgamma((k + 1) / 2) - math.lgamma(k / 2)
    return math.sqrt(2.0) * math.exp(log_ratio)


def _e_log_det_wishart(k: int, d: int) -> float:
    """E log det W, W ~ Wishart_d(k, I) (Bartlett): sum_i digamma((k-i+1)/2) + d log 2.

    For d = 1 this is E log chi2_k. It is -inf when k < d (W is singular)."""
    if k < d:
        return -math.inf
    return float(
        sum(_digamma((k - i + 1) / 2) for i in range(1, d + 1))
    ) + d * math.log(2.0)


def _replace_moments(n, T, n_r, ddof, tau):
    """Per-coordinate (s_t, m_t) under `replace`, t = 0..T."""
    t = np.arange(T + 1)
    c0 = (n_r - 1) / (n_r - ddof)
    c = tau**2 * (n - 1) / (n - ddof)
    with np.errstate(over="ignore"):
        s = c0 * np.power(c, t, dtype=np.float64)
        m = 1.0 / n_r + tau**2 / n * np.concatenate(([0.0], np.cumsum(s[:-1])))
    return s, m


def _linear_step(n, n_r, ddof, tau, alpha, fresh):
    """(A, b) of the affine map (s, q)_t = A (s, q)_{t-1} + b for fresh / mix."""
    beta = 1.0 - alpha
    denom = 1.0 - ddof * (alpha**2 / n_r + beta**2 / n)
    A = np.array(
        [
            [beta * tau**2 * (n - 1 + alpha) / (n * denom), alpha * beta / denom],
            [beta**2 * tau**2 / n, beta**2],
        ]
    )
    if fresh:
        b = np.array([alpha * (n_r - 1 + beta) / (n_r * denom), alpha**2 / n_r])
    else:
        b = np.array([alpha * (n_r - 1) / (n_r * denom), 0.0])
    return A, b


def _effective(workflow, n, n_r, lam):
    """Reduce weighted workflows to (kind, alpha); kind: replace, static or itself."""
    if workflow == "augment":
        return "mix", n_r / (n_r + n)
    if workflow not in _WEIGHTED:
        return workflow, None
    alpha = n_r / (n_r + n) if lam is None else lam
    if alpha == 0.0:
        return "replace", None
    if alpha == 1.0:
        return "static", None
    return workflow, alpha


def _moments(kind, alpha, n, T, n_r, ddof, tau):
    """Per-coordinate (s_t, m_t), t = 0..T, by the module docstring's recursions."""
    if kind == "replace":
        return _replace_moments(n, T, n_r, ddof, tau)
    s = np.empty(T + 1)
    m = np.empty(T + 1)
    s[0], m[0] = (n_r - 1) / (n_r - ddof), 1.0 / n_r
    if kind == "static":
        s[1:], m[1:] = s[0], m[0]
    elif kind in _WEIGHTED:
        A, b = _linear_step(n, n_r, ddof, tau, alpha, kind == "fresh")
        offset = 0.0 if kind == "fresh" else 1.0 / n_r  # mix carries e_t = m_t - 1/n_r
        v = np.array([s[0], m[0] - offset])
        for t in range(1, T + 1):
            v = A @ v + b
            s[t], m[t] = v[0], v[1] + offset
    elif kind == "accumulate":
        scatter = n_r - 1.0
        for t in range(1, T + 1):
            N_prev, N = n_r + (t - 1) * n, n_r + t * n
            scatter += tau**2 * s[t - 1] * (n - 1 + N_prev / N)
            m[t] = m[t - 1] + n * tau**2 * s[t - 1] / N**2
            s[t] = scatter / (N - ddof)
    else:  # accumulate-subsample
        pool_scatter, pool_mean_sq, r = n_r - 1.0, 1.0 / n_r, 0.0
        for t in range(1, T + 1):
            N_prev, N = n_r + (t - 1) * n, n_r + t * n
            g = r + tau**2 * s[t - 1] / n
            pool_scatter += tau**2 * s[t - 1] * (n - 1) + N_prev * n / N * g
            pool_mean_sq += (n / N) ** 2 * g
            s[t] = (n - 1) / (n - ddof) * pool_scatter / (N - 1)
            r = pool_scatter * (N - n) / ((N - 1) * N * n)
            m[t] = pool_mean_sq + r
    return s, m


def gaussian_theory(
    *,
    workflow: str,
    num_samples: int,
    num_generations: int,
    num_real: int | None = None,
    dim: int = 1,
    ddof: int = 0,
    temperature: float = 1.0,
    real_weight: float | None = None,
) -> dict[str, np.ndarray]:
    """Metric name -> E[metric of model t] over chains, t = 0..T (float64, length T+1).

    Only metrics whose expectation is exact for the setting are present:
    d = 1: `mean`, `mean_sqerr`, `var` always; `std`, `log_var`, `kl` under `replace`.
    d > 1: `mean_sqerr`, `trace_cov` always; `log_det_cov`, `kl` under `replace`.
    (`fresh`/`mix` with real_weight 0 are `replace`; with real_weight 1 every model
    has generation 0's law, so every metric is exact; so too when T = 0.)
    A singular fit (n - 1 < d) gives log det = -inf and kl = +inf exactly.
    """
    n, T, n_r, d, ddof, tau, lam = _validate(
        workflow,
        num_samples,
        num_generations,
        num_real,
        dim,
        ddof,
        temperature,
        real_weight,
    )
    kind, alpha = _effective(workflow, n, n_r, lam)
    s, m = _moments(kind, alpha, n, T, n_r, ddof, tau)
    out = {"mean": np.zeros(T + 1)} if d == 1 else {}
    out["mean_sqerr"] = d * m
    out["var" if d == 1 else "trace_cov"] = d * s
    if kind in ("replace", "static") or T == 0:
        # law of sigma_t: generation-0 factor times t independent factors (replace)
        a0 = _e_sqrt_chi2(n_r - 1) / math.sqrt(n_r - ddof)
        l0 = _e_log_det_wishart(n_r - 1, d) - d * math.log(n_r - ddof)
        a, step = 1.0, 0.0
        if kind == "replace":
            a = tau * _e_sqrt_chi2(n - 1) / math.sqrt(n - ddof)
            step = _e_log_det_wishart(n - 1, d) + d * (
                2 * math.log(tau) - math.log(n - ddof)
            )
        log_det = np.full(T + 1, l0)
        log_det[1:] += np.arange(1, T + 1) * step
        with np.errstate(over="ignore"):
            kl = 0.5 * (d * s + d * m - d - log_det)
        if d == 1:
            out["std"] = a0 * np.power(a, np.arange(T + 1), dtype=np.float64)
            out["log_var"] = log_det
        else:
            out["log_det_cov"] = log_det
        out["kl"] = kl
    return out


def fixed_point(
    *,
    workflow: str,
    num_samples: int,
    num_real: int | None = None,
    dim: int = 1,
    ddof: int = 0,
    temperature: float = 1.0,
    real_weight: float | None = None,
) -> dict[str, float]:
    """lim_{t -> inf} of E var (`trace_cov` when dim > 1) and E `mean_sqerr`.

    For `fresh`, `mix` and `augment`, whose recursions are time-homogeneous affine
    maps v_t = A v_{t-1} + b: the limit is (I - A)^{-1} b when A's spectral radius
    is < 1 (for fresh it does not depend on generation 0), +inf when it is >= 1.
    For `mix` the limit still averages over the kept real set D_0.
    """
    if workflow not in ("fresh", "mix", "augment"):
        raise ValueError(
            "fixed_point: workflow must be one of 'fresh', 'mix', "
            f"'augment'; got {workflow!r}"
        )
    n, _, n_r, d, ddof, tau, lam = _validate(
        workflow, num_samples, 0, num_real, dim, ddof, temperature, real_weight
    )
    kind, alpha = _effective(workflow, n, n_r, lam)
    s0 = (n_r - 1) / (n_r - ddof)
    if kind == "static":
        s, m = s0, 1.0 / n_r
    elif kind == "replace":
        c = tau**2 * (n - 1) / (n - ddof)
        s = 0.0 if c < 1 else (s0 if c == 1 else math.inf)
        m = 1.0 / n_r + tau**2 * s0 / (n * (1 - c)) if c < 1 else math.inf
    else:
        A, b = _linear_step(n, n_r, ddof, tau, alpha, kind == "fresh")
        if np.max(np.abs(np.linalg.eigvals(A))) >= 1.0:
            s = m = math.inf
        else:
            s, q = np.linalg.solve(np.eye(2) - A, b)
            m = q if kind == "fresh" else 1.0 / n_r + q
    key = "var" if d == 1 else "trace_cov"
    return {key: d * float(s), "mean_sqerr": d * float(m)}


def fresh_fixed_point(
    *,
    num_samples: int,
    num_real: int | None = None,
    dim: int = 1,
    ddof: int = 0,
    temperature: float = 1.0,
    real_weight: float | None = None,
) -> dict[str, float]:
    """`fixed_point` of the `fresh` workflow (He, Xu & Cheng 2025)."""
    return fixed_point(
        workflow="fresh",
        num_samples=num_samples,
        num_real=num_real,
        dim=dim,
        ddof=ddof,
        temperature=temperature,
        real_weight=real_weight,
    )


def golden_ratio_weight(
    *,
    num_samples: int,
    num_real: int | None = None,
    ddof: int = 0,
    temperature: float = 1.0,
) -> float:
    """The real_weight lambda in [0, 1] minimising the `fresh` fixed-point E mean_sqerr.

    He, Xu & Cheng (2025): with num_real = num_samples, tau = 1 and the variance
    held at 1, the fixed point is (lam^2 + (1-lam)^2) / (n lam (2 - lam)), minimised
    where lam^2 + lam - 1 = 0, lam = (sqrt 5 - 1)/2 = 0.618...; the exact recursion
    here (variance estimated too) moves it by O(1/n). Found numerically: a grid of
    1001 points, then bounded Brent refinement around the best one.
    """
    _validate("fresh", num_samples, 0, num_real, 1, ddof, temperature, 0.5)

    def objective(lam: float) -> float:
        return fresh_fixed_point(
            num_samples=num_samples,
            num_real=num_real,
            ddof=ddof,
            temperature=temperature,
            real_weight=lam,
        )["mean_sqerr"]

    grid = np.linspace(0.0, 1.0, 1001)
    i = int(np.argmin([objective(x) for x in grid]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    from scipy import optimize  # only here: it costs ~0.25 s to import

    res = optimize.minimize_scalar(
        objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
    )
    return float(res.x) if res.fun <= objective(grid[i]) else float(grid[i])
