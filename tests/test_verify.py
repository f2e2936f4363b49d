"""The verify modifier (SPEC §4): best n of ceil(n / rho) candidates by a reward.

Budget: ALPHA_MODULE (conftest) split over the two KS tests below."""

import math

import numpy as np
import pytest
from scipy import stats

import jaxcollapse as jc
from jaxcollapse.workflows import Verify
from tests.conftest import ALPHA_MODULE

NUM_KS = 2
N, CHAINS = 20, 4000


def _numpy_first_generation(rng, reward, rho, chains):
    """Generation-1 variance of a 1-D Gaussian chain (ddof 0) with curation,
    written directly: fit D_0, draw ceil(n / rho) candidates, keep the n with
    the highest reward, refit."""
    m = math.ceil(N / rho)
    out = np.empty(chains)
    for c in range(chains):
        real = rng.standard_normal(N)
        mu, sd = real.mean(), real.std()
        cand = mu + sd * rng.standard_normal(m)
        if reward == "truth":
            score = -0.5 * cand**2
        else:
            score = -0.5 * ((cand - mu) / sd) ** 2
        keep = cand[np.argsort(-score, kind="stable")[:N]]
        out[c] = keep.var()
    return out


@pytest.mark.parametrize("reward", ["truth", "model"])
def test_curated_generation_matches_a_direct_numpy_chain(reward):
    """Two-sample KS between the engine and the direct implementation."""
    rho = 0.5
    res = jc.simulate(
        jc.Gaussian(),
        "replace",
        num_samples=N,
        num_generations=1,
        num_chains=CHAINS,
        seed=3,
        verify=reward,
        keep_fraction=rho,
        quantile_chains=CHAINS,
        keep_trajectories=CHAINS,
    )
    ours = np.asarray(res.trajectories["var"])[:, 1]
    theirs = _numpy_first_generation(np.random.default_rng(4), reward, rho, CHAINS)
    result = stats.ks_2samp(ours, theirs)
    assert result.pvalue > ALPHA_MODULE / NUM_KS, result


def test_keep_everything_is_no_curation():
    """rho = 1 keeps every candidate: the same law and, the candidates being the
    same draws, the same numbers up to summation order."""
    kw = dict(num_samples=N, num_generations=3, num_chains=64, seed=1)
    plain = jc.simulate(jc.Gaussian(), "replace", exact_path="off", **kw)
    kept = jc.simulate(
        jc.Gaussian(), "replace", verify="truth", keep_fraction=1.0, **kw
    )
    for name in ("mean", "var"):
        np.testing.assert_allclose(
            kept.metrics[name]["mean"], plain.metrics[name]["mean"], rtol=1e-4
        )
    assert kept.theory == {} and kept.config["verify"] == "truth"


def test_candidate_count():
    assert Verify(0.1).num_candidates(100) == 1000
    assert Verify(0.3).num_candidates(10) == 34
    assert Verify(1.0).num_candidates(7) == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(verify="oracle"), "verify reward must be one of"),
        (dict(verify="truth", keep_fraction=0.0), "keep_fraction must be in"),
        (dict(verify="truth", keep_fraction=1.5), "keep_fraction must be in"),
        (dict(verify="truth", exact_path="on"), "exact_path on is not available"),
    ],
)
def test_bad_verify_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jc.simulate(
            jc.Gaussian(),
            "replace",
            num_samples=5,
            num_generations=1,
            num_chains=2,
            **kwargs,
        )


def test_truth_reward_ranks_points_the_log_density_can_no_longer_tell_apart():
    """Points within 1e-5 of the truth's mode: their float32 log-densities are
    all -log(2 pi)/2, but the verifier's reward still orders them by |x|."""
    import jax.numpy as jnp

    from jaxcollapse.workflows import Pool

    x = jnp.asarray([[3e-5], [-1e-5], [2e-5], [-4e-5]], jnp.float32)
    pool = Pool.full(x, None)
    model = jc.Gaussian()
    dens = np.asarray(model.truth_log_density(None, pool))
    assert np.unique(dens).size == 1  # the log-density ties them all
    order = np.argsort(-np.asarray(model.truth_reward(None, pool)), kind="stable")
    assert order.tolist() == [1, 2, 0, 3]
