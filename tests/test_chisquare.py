"""The exact chi-square sampler against scipy's chi-square law (KS tests).

Budget: ALPHA_MODULE (conftest) split over the KS tests below (the dofs, plus
one with the proposal loop forced)."""

import math

import jax
import numpy as np
import pytest
from scipy import integrate, stats

from jaxcollapse import _prng
from jaxcollapse.workflows import _chisquare
from jaxcollapse.workflows._chisquare import chisquare, log_chisquare, log_chisquares
from tests.conftest import ALPHA_MODULE

DOFS = [0.3, 1.0, 1.9, 2.0, 5.0, 99.0, 999.0]
TOGETHER = (0.3, 2.0, 9.0, 998.0)  # drawn in one call: a Bartlett diagonal
NUM_KS = len(DOFS) + 1 + len(TOGETHER)


def _draws(seed, dof, num=20_000):
    keys = jax.random.split(_prng.key(seed), num)
    return np.asarray(jax.jit(jax.vmap(lambda k: chisquare(k, dof)))(keys), np.float64)


@pytest.mark.parametrize("dof", DOFS)
def test_chisquare_has_the_chisquare_law(dof):
    draws = _draws(int(dof * 10), dof)
    assert np.all(draws > 0)
    result = stats.kstest(draws, stats.chi2(dof).cdf)
    assert result.pvalue > ALPHA_MODULE / NUM_KS, result


def test_the_retry_loop_keeps_the_law(monkeypatch):
    """One proposal a round at dof 2 (a = 1, 4.8% rejected): about a thousand
    of the draws come from the while loop, and the law must not change."""
    monkeypatch.setattr(_chisquare, "candidates", lambda a: 1)
    draws = _draws(7, 2.0)
    result = stats.kstest(draws, stats.chi2(2.0).cdf)
    assert result.pvalue > ALPHA_MODULE / NUM_KS, result


def test_dofs_drawn_together_each_have_their_law(monkeypatch):
    """log_chisquares draws several dofs with one key and one retry loop (the
    loop forced to run, one proposal a round): each column keeps its law, and
    the columns are independent (a correlation beyond 5 standard errors
    would show shared proposals: a two-sided chance of about 6e-7 a pair)."""
    monkeypatch.setattr(_chisquare, "candidates", lambda a: 1)
    keys = jax.random.split(_prng.key(11), 20_000)
    draws = jax.jit(jax.vmap(lambda k: log_chisquares(k, TOGETHER)))(keys)
    draws = np.exp(np.asarray(draws, np.float64))
    for i, dof in enumerate(TOGETHER):
        result = stats.kstest(draws[:, i], stats.chi2(dof).cdf)
        assert result.pvalue > ALPHA_MODULE / NUM_KS, (dof, result)
    ranks = stats.rankdata(draws, axis=0)
    corr = np.corrcoef(ranks.T)[np.triu_indices(len(TOGETHER), 1)]
    assert np.all(np.abs(corr) < 5 / np.sqrt(len(keys))), corr


def test_log_chisquares_refuses_a_dof_that_is_not_positive():
    with pytest.raises(ValueError, match="degrees of freedom"):
        log_chisquares(_prng.key(0), (3.0, 0.0))


def _rejection(a):
    """Marsaglia-Tsang's rejection probability for Gamma(a), by quadrature."""
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)

    def accept(x):
        v = (1.0 + c * x) ** 3
        if v <= 0:
            return 0.0
        ratio = math.exp(min(0.0, x * x / 2 + d - d * v + d * math.log(v)))
        return stats.norm.pdf(x) * ratio

    value, _ = integrate.quad(accept, -1.0 / c, 40.0, limit=400, epsabs=1e-14)
    return 1.0 - value


@pytest.mark.parametrize("a", [1.0, 1.3, 2.0, 4.0, 10.0, 60.0, 300.0, 3000.0])
def test_rejection_bound_holds(a):
    """candidates() relies on this bound to keep the retry loop rare."""
    assert _rejection(a) <= _chisquare.rejection_bound(a)
    assert _rejection(a) ** _chisquare.candidates(a) <= 1e-4


def test_log_chisquare_stays_finite_where_the_draw_underflows():
    """Tiny dof puts mass far below float32's range; its log is still finite."""
    keys = jax.random.split(_prng.key(1), 2000)
    logs = np.asarray(jax.vmap(lambda k: log_chisquare(k, 0.02))(keys))
    assert np.isfinite(logs).all()
    assert logs.min() < -100  # exp() of it would be 0 in float32
