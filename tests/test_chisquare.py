"""The exact chi-square sampler against scipy's chi-square law (KS tests).

Budget: ALPHA_MODULE (conftest) split over the dofs below."""

import jax
import numpy as np
import pytest
from scipy import stats

from jaxcollapse.workflows._chisquare import chisquare, log_chisquare
from tests.conftest import ALPHA_MODULE

DOFS = [0.3, 1.0, 1.9, 2.0, 5.0, 99.0, 999.0]


@pytest.mark.parametrize("dof", DOFS)
def test_chisquare_has_the_chisquare_law(dof):
    keys = jax.random.split(jax.random.key(int(dof * 10)), 20_000)
    draws = np.asarray(jax.jit(jax.vmap(lambda k: chisquare(k, dof)))(keys), np.float64)
    assert np.all(draws > 0)
    result = stats.kstest(draws, stats.chi2(dof).cdf)
    assert result.pvalue > ALPHA_MODULE / len(DOFS), result


def test_log_chisquare_stays_finite_where_the_draw_underflows():
    """Tiny dof puts mass far below float32's range; its log is still finite."""
    keys = jax.random.split(jax.random.key(1), 2000)
    logs = np.asarray(jax.vmap(lambda k: log_chisquare(k, 0.02))(keys))
    assert np.isfinite(logs).all()
    assert logs.min() < -100  # exp() of it would be 0 in float32
