"""Large statistical runs, on demand: python -m pytest -m slow."""

import pytest

import jaxcollapse as jc
from tests.conftest import z_limit

pytestmark = pytest.mark.slow


def test_readme_main_job_matches_theory():
    """The README's main job: std and log_var at generation 1000 against theory."""
    res = jc.simulate(
        jc.Gaussian(),
        "replace",
        num_samples=1000,
        num_generations=1000,
        num_chains=1000,
        seed=0,
    )
    for name in ("std", "log_var", "mean_sqerr", "kl"):
        stat, theory = res.metrics[name], res.theory[name]
        z = (stat["mean"][-1] - theory[-1]) / stat["sem"][-1]
        assert abs(z) < z_limit(4), (name, z)


def test_accumulate_mean_error_approaches_pi_squared_over_six():
    """Accumulate, n_r = n: n E[mu_T^2] against the exact recursion (-> pi^2/6)."""
    res = jc.simulate(
        jc.Gaussian(ddof=1),
        "accumulate",
        num_samples=50,
        num_generations=2000,
        num_chains=200_000,
        seed=1,
    )
    stat, theory = res.metrics["mean_sqerr"], res.theory["mean_sqerr"]
    for t in (10, 100, 2000):
        z = (stat["mean"][t] - theory[t]) / stat["sem"][t]
        assert abs(z) < z_limit(3), (t, z)
    assert 1.55 < 50 * theory[-1] < 1.645
