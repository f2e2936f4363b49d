"""The Gaussian engine against closed-form theory, and its two paths against each
other. Budget: ALPHA_MODULE (conftest) shared by Bonferroni over every z-score
and KS comparison in this module."""

import numpy as np
import pytest
from scipy import stats

import jaxcollapse as jc
from tests.conftest import ALPHA_MODULE, z_limit

THEORY_CASES = [
    # (workflow, dim, ddof, temperature, real_weight, num_real, exact_path)
    ("replace", 1, 0, 1.0, None, None, "on"),
    ("replace", 1, 1, 0.9, None, None, "off"),
    ("replace", 3, 1, 1.0, None, None, "on"),
    ("accumulate", 1, 0, 1.0, None, None, "on"),
    ("accumulate", 2, 1, 1.1, None, 15, "off"),
    ("accumulate-subsample", 1, 1, 1.0, None, None, "off"),
    ("augment", 1, 1, 1.0, None, 5, "on"),
    ("fresh", 1, 0, 1.0, None, None, "on"),
    ("fresh", 2, 1, 1.0, 0.618, None, "off"),
    ("mix", 1, 0, 0.8, 0.3, None, "on"),
]
CHECK_GENERATIONS = (1, 4, 8)
MAX_METRICS = 6
KS_CASES = [
    ("replace", 1, ("var", "mean", "test_nll")),
    # d = 2 (Bartlett) costs the default run 30 s of compilation: slow
    pytest.param(
        "accumulate", 2, ("trace_cov", "mean_sqerr", "kl"), marks=pytest.mark.slow
    ),
    ("mix", 1, ("var", "w2")),
]
DEEP = ("log_var",)
TINY_TAU = ("log_var", "kl", "mean")
NUM_COMPARISONS = (
    len(THEORY_CASES) * len(CHECK_GENERATIONS) * MAX_METRICS
    + sum(len(c.values[2] if hasattr(c, "values") else c[2]) for c in KS_CASES)
    + 2 * len(DEEP)
    + 2 * len(TINY_TAU)
)
Z = z_limit(NUM_COMPARISONS)


@pytest.mark.parametrize("case", THEORY_CASES, ids=lambda c: f"{c[0]}-d{c[1]}-{c[6]}")
def test_simulation_matches_closed_form(case):
    workflow, dim, ddof, tau, lam, num_real, exact = case
    res = jc.simulate(
        jc.Gaussian(dim=dim, ddof=ddof),
        workflow,
        num_samples=10,
        num_generations=8,
        num_chains=4000,
        seed=17,
        temperature=tau,
        real_weight=lam,
        num_real=num_real,
        exact_path=exact,
    )
    assert res.config["exact_path"] == (exact == "on")
    theory = res.theory
    assert len(theory) >= 2, theory.keys()
    assert len(theory) <= MAX_METRICS
    for name, expected in theory.items():
        stat = res.metrics[name]
        for t in CHECK_GENERATIONS:
            assert stat["nonfinite"][t] == 0
            z = (stat["mean"][t] - expected[t]) / stat["sem"][t]
            assert abs(z) < Z, f"{name} at generation {t}: z = {z:.2f}"


@pytest.mark.parametrize("workflow, dim, metrics", KS_CASES, ids=lambda c: str(c))
def test_exact_path_agrees_in_distribution_with_sample_path(workflow, dim, metrics):
    kw = dict(
        num_samples=12,
        num_generations=6,
        num_chains=3000,
        keep_trajectories=3000,
        real_weight=0.5 if workflow == "mix" else None,
    )
    model = jc.Gaussian(dim=dim)
    fast = jc.simulate(model, workflow, exact_path="on", seed=1, **kw)
    slow = jc.simulate(model, workflow, exact_path="off", seed=2, **kw)
    for name in metrics:
        result = stats.ks_2samp(
            fast.trajectories[name][:, -1], slow.trajectories[name][:, -1]
        )
        assert result.pvalue > ALPHA_MODULE / NUM_COMPARISONS, (name, result)


def test_exact_path_has_power_to_see_a_wrong_law():
    """The KS comparison above would notice a 5% change in the variance's law."""
    kw = dict(
        num_samples=12, num_generations=6, num_chains=3000, keep_trajectories=3000
    )
    a = jc.simulate(jc.Gaussian(), "replace", exact_path="on", seed=1, **kw)
    b = jc.simulate(
        jc.Gaussian(), "replace", exact_path="off", seed=2, temperature=0.975, **kw
    )
    pvalue = stats.ks_2samp(
        a.trajectories["var"][:, -1], b.trajectories["var"][:, -1]
    ).pvalue
    assert pvalue < 1e-3


@pytest.mark.parametrize("exact", ["on", "off"])
def test_deep_collapse_stays_exact(exact):
    """n = 100, 10^4 generations: E[log var] is about -202, sigma about e^-101, far
    below float32's smallest normal number; log_var still matches theory, and no
    chain turns NaN (a float32 test NLL may overflow to +inf: counted, not NaN)."""
    res = jc.simulate(
        jc.Gaussian(),
        "replace",
        num_samples=100,
        num_generations=10_000,
        num_chains=256,
        seed=5,
        exact_path=exact,
        keep_trajectories=256,
    )
    theory = res.theory["log_var"][-1]
    assert theory < -200
    stat = res.metrics["log_var"]
    z = (stat["mean"][-1] - theory) / stat["sem"][-1]
    assert abs(z) < Z, z
    for name, paths in res.trajectories.items():
        assert not np.isnan(paths).any(), name
    assert np.isfinite(res.trajectories["log_var"]).all()
    assert np.isfinite(res.trajectories["kl"]).all()
    assert (res.trajectories["std"][:, -1] < 1e-30).all()


@pytest.mark.parametrize("exact", ["on", "off"])
def test_tiny_temperature_keeps_log_var_exact(exact):
    """tau = 1e-20: every generation's variance shrinks by tau^2 = 1e-40, below
    float32's smallest normal number after one generation; the temperature
    lives in the frame's log scale, so log_var, kl and the mean still match
    theory (tau * z, squared in the fit, flushed to 0 and made them -inf/NaN)."""
    res = jc.simulate(
        jc.Gaussian(),
        "replace",
        num_samples=10,
        num_generations=3,
        num_chains=2000,
        seed=8,
        temperature=1e-20,
        exact_path=exact,
    )
    assert res.theory["log_var"][-1] < -270
    for name in TINY_TAU:
        stat = res.metrics[name]
        assert stat["nonfinite"].sum() == 0, name
        z = (stat["mean"][-1] - res.theory[name][-1]) / stat["sem"][-1]
        assert abs(z) < Z, (name, z)
