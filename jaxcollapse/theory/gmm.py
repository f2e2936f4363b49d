"""Theory for the `gmm` family: with one component the mixture is the 1-D
Gaussian fitted by maximum likelihood (ddof 0) and the truth is N(0, 1), so the
Gaussian family's closed forms apply (tests/test_gmm.py checks them against the
EM fit). With two or more components, or a named 2-D truth (moons, circles,
blobs), no closed form is known; {}.

Except in deep collapse: the gmm fit floors a component's variance at
(64 eps max(1, max |x|))^2 (models/gmm.py; about 5.8e-11 in float32, log -23.6),
where the Gaussian family carries log sigma exactly. Under replace-like
workflows (replace; mix or fresh with real_weight 0) the chains' log variance is
a random walk with drift, log var_t ~ N(E[log var_t], s_t^2), s_t^2 =
psi1((n_r - 1)/2) + t psi1((n - 1)/2) (the log of a chi-square's variance;
digamma's derivative psi1). From the first generation where E[log var_t] -
FLOOR_SDS s_t is within FLOOR_MARGIN of the floor's log (max |x| taken as 4),
`var_1` and `kl` have no closed form (NaN: left out of reports and checks):
with n = 10 and no cut, kl's theory 16.7 against a simulated 11.6 at
generation 150. `mean_1` is unaffected (the floor moves a mean by nothing).
Elsewhere the variance does not approach 0 (real data stays in) and the forms
hold as they are.
"""

import math

import numpy as np
from scipy import special

from jaxcollapse.models.gmm import FLOOR_ULPS
from jaxcollapse.theory.gaussian import gaussian_theory

FLOOR_SDS = 6.0  # P(N(0, 1) < -6) = 1e-9: no chain is expected at the floor
FLOOR_MARGIN = math.log(4.0)  # ... and none within a factor 4 of it
FLOOR_MAX_ABS = 4.0  # the max |x| assumed in the floor


def _log_floor(x64: bool) -> float:
    eps = float(np.finfo(np.float64 if x64 else np.float32).eps)
    return 2.0 * math.log(FLOOR_ULPS * eps * FLOOR_MAX_ABS)


def _near_floor(config: dict, log_var: np.ndarray) -> np.ndarray:
    """Generations whose variance theory the floor may break (bool, (T+1,))."""
    flow, lam = config["workflow"], config.get("real_weight")
    replace_like = flow == "replace" or (flow in ("mix", "fresh") and lam == 0)
    if not replace_like:
        return np.zeros(log_var.shape, bool)
    n, n_r = config["num_samples"], config["num_real"]
    t = np.arange(log_var.shape[0])
    sd = np.sqrt(
        special.polygamma(1, (n_r - 1) / 2) + t * special.polygamma(1, (n - 1) / 2)
    )
    low = log_var - FLOOR_SDS * sd
    near = low < _log_floor(bool(config.get("x64"))) + FLOOR_MARGIN
    return np.maximum.accumulate(near)


def theory(config: dict) -> dict:
    if config.get("components") != 1 or config.get("truth", "mixture") != "mixture":
        return {}
    gauss = gaussian_theory(
        workflow=config["workflow"],
        num_samples=config["num_samples"],
        num_generations=config["num_generations"],
        num_real=config["num_real"],
        dim=1,
        ddof=0,
        temperature=config["temperature"],
        real_weight=config.get("real_weight"),
    )
    names = {"mean": "mean_1", "var": "var_1", "kl": "kl"}
    out = {ours: gauss[theirs] for theirs, ours in names.items() if theirs in gauss}
    if "log_var" in gauss:
        near = _near_floor(config, np.asarray(gauss["log_var"], np.float64))
        for name in ("var_1", "kl"):
            if name in out and near.any():
                out[name] = np.where(near, np.nan, np.asarray(out[name], np.float64))
    return out
