"""Exact across-chain expectations of the `linreg` family's metrics.

Setting (SPEC §2; models/linreg.py): fixed design X (n x d, rows i.i.d.
N(0, I_d), drawn once per chain), G = X^T X, w* fixed, noise s, temperature tau,
num_real = num_samples = n, so that D_0, fresh sets and synthetic sets all sit on
the same n design rows. Every fit is then w_hat = G^{-1} X^T ybar, ybar the
weighted average of the y-vectors in the training set (each set covers all n
rows with equal weights), and G^{-1} X^T (X w + s eps) = w + s u with
u = G^{-1} X^T eps ~ N(0, G^{-1}) given X. Write e_t = w_t - w* as a part along
generation 0's noise plus independent noise:

    e_t = a_t s u_0 + r_t,   Cov(r_t | X) = c_t s^2 G^{-1},   a_0 = 1, c_0 = 0,

so E ||e_t||^2 = s^2 (a_t^2 + c_t) E tr G^{-1} = s^2 (a_t^2 + c_t) d/(n - d - 1)
(the mean of an inverse Wishart: E G^{-1} = I / (n - d - 1); needs n > d + 1).
Synthetic y = X w_{t-1} + tau s eps_t refits to w_{t-1} + tau s u_t. Then:

* replace: e_t = e_{t-1} + tau s u_t: a_t = 1, c_t = t tau^2, so
  E err_t = s^2 d/(n-d-1) (1 + t tau^2) (Dohmatob, Feng & Kempe 2024, "Model
  collapse demystified: the case of regression"; for tau = 1, s^2 (t+1)
  d/(n-d-1), Gerstgrasser et al. 2024).
* accumulate: the pool holds D_0 and t synthetic sets, w_t = the average of
  their refits; (t+1) e_t = s u_0 + sum_{j<t} e_j + tau s sum_{j=1..t} u_j
  gives e_t = e_{t-1} + tau s u_t / (t+1), so a_t = 1,
  c_t = tau^2 sum_{k=2..t+1} 1/k^2, and for tau = 1
  E err_t = s^2 d/(n-d-1) sum_{k=1..t+1} 1/k^2 -> (pi^2/6) E err_0 (Gerstgrasser
  et al. 2024, "Is model collapse inevitable? Breaking the curse of recursion by
  accumulating real and synthetic data").
* mix with real weight lam (augment is lam = 1/2): e_t = lam e_0 +
  (1 - lam)(e_{t-1} + tau s u_t): a_t = lam + (1 - lam) a_{t-1},
  c_t = (1 - lam)^2 (c_{t-1} + tau^2).
* fresh with real weight lam (unweighted: lam = 1/2): fresh data refits to
  w* + s v_t, v_t new noise, so e_t = lam s v_t + (1 - lam)(e_{t-1} + tau s u_t):
  with b_t = a_t^2 + c_t, b_0 = 1, b_t = lam^2 + (1 - lam)^2 (b_{t-1} + tau^2).
* accumulate-subsample: a subset's design is a random multiset of X's rows, so
  G changes with t; no closed form here ({}).
test_error and param_sqerr are both ||w_hat - w*||^2. Returns {} unless
num_real = num_samples (the design rows then differ between sets).
"""

from __future__ import annotations

import numpy as np

from jaxcollapse.theory._common import scalar


def error_factors(workflow: str, num_generations: int, temperature: float, lam):
    """a_t^2 + c_t, t = 0..T (module docstring); None without a closed form."""
    T, tau2 = num_generations, temperature**2
    b = np.empty(T + 1)
    b[0] = 1.0
    if workflow == "replace":
        b[1:] = 1.0 + tau2 * np.arange(1, T + 1)
    elif workflow == "accumulate":
        b[1:] = 1.0 + tau2 * np.cumsum(1.0 / np.arange(2, T + 2) ** 2)
    elif workflow in ("mix", "augment"):
        lam = 0.5 if workflow == "augment" else lam
        a, c = 1.0, 0.0
        for t in range(1, T + 1):
            a, c = lam + (1.0 - lam) * a, (1.0 - lam) ** 2 * (c + tau2)
            b[t] = a * a + c
    elif workflow == "fresh":
        lam = 0.5 if lam is None else lam
        for t in range(1, T + 1):
            b[t] = lam**2 + (1.0 - lam) ** 2 * (b[t - 1] + tau2)
    else:
        return None
    return b


def theory(config: dict) -> dict[str, np.ndarray]:
    """{metric: (T+1,) float64}: E test_error_t = E param_sqerr_t."""
    n = int(config["num_samples"])
    n_r = int(config.get("num_real") or n)
    d = int(config["dim"])
    s = float(config["noise"])
    T = int(config["num_generations"])
    tau = scalar(config.get("temperature", 1.0))
    lam = config.get("real_weight")
    if lam is not None:
        lam = scalar(lam)
        if lam is None:
            return {}
    workflow = config["workflow"]
    if tau is None or n_r != n or n <= d + 1 or (workflow == "mix" and lam is None):
        return {}
    b = error_factors(workflow, T, tau, lam)
    if b is None:
        return {}
    err = s**2 * d / (n - d - 1) * b
    return {"test_error": err, "param_sqerr": err.copy()}
