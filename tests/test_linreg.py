"""The `linreg` family: the weighted least-squares fit against NumPy, the fixed
design, the engine against the exact theory. Budget: ALPHA_MODULE (conftest)
shared by Bonferroni over every z-score and KS test in this module."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxcollapse as jc
from jaxcollapse.models.linreg import LinReg
from jaxcollapse.theory.linreg import theory
from jaxcollapse.workflows import Pool
from tests.conftest import ALPHA_MODULE, z_limit

THEORY_CASES = [
    # (workflow, real_weight, exact_path); each runs temperatures 1.0 and 0.6
    # in one program. "on": X^T eps drawn as L z; "off": n noise values drawn
    ("replace", None, "on"),
    ("accumulate", None, "on"),
    ("mix", 0.3, "on"),
    ("replace", None, "off"),
    ("accumulate", None, "off"),
]
TEMPERATURES = [1.0, 0.6]
CHECK_GENERATIONS = (1, 3, 10)
NUM_COMPARISONS = len(THEORY_CASES) * len(TEMPERATURES) * len(CHECK_GENERATIONS)
NUM_KS = 4  # test_design_factor_and_exact_sets: one KS test per column
Z = z_limit(NUM_COMPARISONS + NUM_KS)
KS_ALPHA = ALPHA_MODULE / (NUM_COMPARISONS + NUM_KS)
SIM = dict(num_samples=20, num_generations=10, num_chains=4000, seed=31)


def _pool(rows, weights, capacity=None):
    rows = jnp.asarray(rows, jnp.float32)
    pool = Pool(rows, jnp.asarray(weights, jnp.float32), jnp.asarray(len(rows)), None)
    if capacity is None:
        return pool
    return Pool.empty(capacity, pool).append(pool)


def _lstsq(x, y, w):
    root = np.sqrt(w)[:, None]
    return np.linalg.lstsq(root * x, root[:, 0] * y, rcond=None)[0]


def test_fit_matches_numpy_weighted_lstsq():
    rng = np.random.default_rng(0)
    d, n = 4, 15
    model = LinReg(dim=d)
    x = rng.normal(size=(n, d))
    y = x @ rng.normal(size=d) + 0.3 * rng.normal(size=n)
    w = rng.uniform(0.2, 3.0, size=n)
    rows = np.concatenate([x, y[:, None]], axis=1)
    key = jax.random.key(0)
    params = model.fit(key, _pool(rows, w))
    np.testing.assert_allclose(params.weights, _lstsq(x, y, w), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(params.design, rows[:, :d].astype(np.float32))
    # zero-weight points (garbage rows) and empty slots contribute nothing
    junk = rng.normal(size=(6, d + 1)) * 100
    mixed = _pool(np.concatenate([rows, junk]), np.concatenate([w, np.zeros(6)]), 32)
    np.testing.assert_allclose(
        model.fit(key, mixed).weights, _lstsq(x, y, w), rtol=1e-4, atol=1e-5
    )
    # only the ratios of the weights matter
    np.testing.assert_allclose(
        model.fit(key, _pool(rows, w * 1e-3)).weights, params.weights, rtol=1e-4
    )


def test_fit_is_accurate_on_an_ill_conditioned_design():
    """Columns on very different scales and nearly collinear: the scaled
    Cholesky solve with one refinement step still matches float64 lstsq."""
    rng = np.random.default_rng(1)
    n, d = 40, 3
    base = rng.normal(size=(n, 1))
    x = np.concatenate(
        [
            1e3 * base,
            1e-2 * rng.normal(size=(n, 1)),
            base + 1e-2 * rng.normal(size=(n, 1)),
        ],
        axis=1,
    )
    y = x @ np.array([1e-3, 10.0, 1.0]) + 0.01 * rng.normal(size=n)
    rows = np.concatenate([x, y[:, None]], axis=1)
    fitted = LinReg(dim=d).fit(jax.random.key(0), _pool(rows, np.ones(n))).weights
    expected = _lstsq(x, y, np.ones(n))
    resid = np.linalg.norm(x @ np.asarray(fitted, np.float64) - y)
    best = np.linalg.norm(x @ expected - y)
    assert resid <= best * 1.01 + 1e-4


def test_singular_fit_is_finite():
    """Fewer rows than features, or no weight at all: no NaN."""
    model = LinReg(dim=5)
    rows = np.random.default_rng(2).normal(size=(3, 6))
    key = jax.random.key(0)
    for weights in (np.ones(3), np.zeros(3)):
        params = model.fit(key, _pool(rows, weights))
        assert np.isfinite(params.weights).all()
        assert all(np.isfinite(v) for v in model.metrics(params, None, None).values())


def test_fixed_design_is_shared_by_real_fresh_and_synthetic_sets():
    model = LinReg(dim=3, noise=0.5)
    truth = model.init_truth(jax.random.key(7))
    real = model.sample_truth(jax.random.key(1), truth, 12, False)
    fresh = model.sample_truth(jax.random.key(2), truth, 12, False)
    first = model.sample_truth(jax.random.key(3), truth, 5, False)
    np.testing.assert_array_equal(real.data[:, :3], fresh.data[:, :3])
    np.testing.assert_array_equal(real.data[:5, :3], first.data[:, :3])
    assert not np.allclose(real.data[:, 3], fresh.data[:, 3])
    params = model.fit(jax.random.key(4), real)
    later = model.fit(jax.random.key(5), fresh, previous=params)
    for key, num in ((8, 12), (9, 12), (10, 7), (11, 20)):
        synth = model.sample(jax.random.key(key), later, num, 1.0, False)
        np.testing.assert_array_equal(
            synth.data[: min(num, 12), :3], real.data[: min(num, 12), :3]
        )
    # rows past num_real: a per-chain stream, the same at every generation
    a = model.sample(jax.random.key(12), params, 20, 1.0, False)
    b = model.sample(jax.random.key(13), later, 20, 0.5, False)
    np.testing.assert_array_equal(a.data[:, :3], b.data[:, :3])
    # synthetic y = x w_hat + tau s eps
    resid = b.data[:, 3] - b.data[:, :3] @ later.weights
    assert 0.05 < np.std(np.asarray(resid)) < 0.6


def test_design_factor_and_exact_sets():
    """The design's Cholesky factor L L^T = G, computed once at generation 0,
    and an exact-path synthetic set: the design's Gram, sum x y = G w + s L z."""
    model = LinReg(dim=4, noise=0.7)
    key = jax.random.key(5)
    truth = model.init_truth(key)
    real = model.sample_truth(jax.random.fold_in(key, 1), truth, 30, True)
    params = model.fit(jax.random.fold_in(key, 2), real)
    x = np.asarray(params.design, np.float64)
    np.testing.assert_allclose(params.design_gram, x.T @ x, rtol=1e-5, atol=1e-4)
    chol = np.asarray(params.design_chol, np.float64)
    assert np.allclose(chol, np.tril(chol))
    np.testing.assert_allclose(chol @ chol.T, x.T @ x, rtol=1e-4, atol=1e-4)
    synthetic = model.sample(jax.random.fold_in(key, 3), params, 30, 1.0, True)
    np.testing.assert_array_equal(synthetic.gram, params.design_gram)
    assert float(synthetic.weight) == 30
    # sum x y - G w_hat = s L z: its law is N(0, s^2 G); whitened by NumPy's
    # own Cholesky factor of G (not the code's), N(0, s^2 I)
    keys = jax.random.split(jax.random.key(6), 4000)
    draw = jax.vmap(lambda k: model.sample(k, params, 30, 1.0, True).rhs)
    gram = x.T @ x
    noise = np.asarray(draw(keys), np.float64) - gram @ np.asarray(params.weights)
    white = np.linalg.solve(np.linalg.cholesky(gram), noise.T).T / 0.7
    for column in white.T:
        assert stats.kstest(column, "norm").pvalue > KS_ALPHA


def test_log_densities():
    model = LinReg(dim=2, noise=0.7)
    rows = np.array([[0.5, -1.0, 0.3], [2.0, 0.1, -1.0]])
    pool = _pool(rows, np.ones(2))
    w_star = np.full(2, 1 / math.sqrt(2))
    expected = stats.norm.logpdf(rows[:, 2], rows[:, :2] @ w_star, 0.7)
    np.testing.assert_allclose(model.truth_log_density(None, pool), expected, rtol=1e-5)
    params = model.fit(jax.random.key(0), _pool(rows, np.ones(2)))
    w = np.asarray(params.weights, np.float64)
    expected = stats.norm.logpdf(rows[:, 2], rows[:, :2] @ w, 0.7)
    np.testing.assert_allclose(model.log_density(params, pool), expected, rtol=1e-5)


def test_theory_closed_forms():
    base = dict(dim=3, noise=2.0, num_samples=10, num_real=None, num_generations=50)
    first = 4.0 * 3 / 6
    rep = theory(dict(base, workflow="replace", temperature=1.0))
    np.testing.assert_allclose(rep["test_error"], first * np.arange(1, 52))
    acc = theory(dict(base, workflow="accumulate", temperature=1.0))
    k = np.arange(1, 52)
    np.testing.assert_allclose(acc["test_error"], first * np.cumsum(1 / k**2))
    assert acc["test_error"][-1] < first * math.pi**2 / 6
    # mix with real_weight 0 is replace, 1 keeps generation 0
    mix0 = theory(dict(base, workflow="mix", temperature=0.7, real_weight=0.0))
    rep7 = theory(dict(base, workflow="replace", temperature=0.7))
    np.testing.assert_allclose(mix0["test_error"], rep7["test_error"])
    mix1 = theory(dict(base, workflow="mix", temperature=0.7, real_weight=1.0))
    np.testing.assert_allclose(mix1["test_error"], first)
    assert theory(dict(base, workflow="accumulate-subsample", temperature=1.0)) == {}
    assert theory(dict(base, workflow="replace", temperature=1.0, num_real=12)) == {}


_RUNS = {}


def _run(case, chunk_size=None):
    """One simulation per setting, shared by the tests below."""
    workflow, lam, exact_path = case
    if (case, chunk_size) not in _RUNS:
        _RUNS[case, chunk_size] = jc.simulate(
            LinReg(dim=3, noise=0.8),
            workflow,
            temperature=TEMPERATURES,
            real_weight=lam,
            exact_path=exact_path,
            chunk_size=chunk_size,
            **SIM,
        )
    return _RUNS[case, chunk_size]


@pytest.mark.parametrize("case", THEORY_CASES, ids=lambda c: f"{c[0]}-exact-{c[2]}")
def test_simulation_matches_theory(case):
    for res in _run(case):
        assert res.config["exact_path"] == (case[2] == "on")
        expected = res.theory
        assert set(expected) == {"test_error", "param_sqerr"}
        stat = res.metrics["test_error"]
        np.testing.assert_array_equal(stat["mean"], res.metrics["param_sqerr"]["mean"])
        assert stat["nonfinite"].sum() == 0
        for t in CHECK_GENERATIONS:
            z = (stat["mean"][t] - expected["test_error"][t]) / stat["sem"][t]
            assert abs(z) < Z, (res.config["temperature"], t, z)


# Slow: test_family_invariance's linreg case checks the same bits on other chunk
# sizes and device counts, and test_engine's a temperature grid, by default.
@pytest.mark.slow
def test_identical_for_any_chunk_size():
    """mix (two weights) over a temperature grid: one chunk or several, the same
    bits."""
    case = THEORY_CASES[2]
    base, other = _run(case), _run(case, chunk_size=1024)
    for a, b in zip(base, other, strict=True):
        assert a.config["chunk_size"] != b.config["chunk_size"]
        for name, stat in a.metrics.items():
            for key, values in stat.items():
                np.testing.assert_array_equal(values, b.metrics[name][key])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(dim=0),
        dict(dim=2.0),
        dict(dim=True),
        dict(noise=0.0),
        dict(noise=-1.0),
        dict(noise=float("inf")),
        dict(noise="1"),
    ],
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        LinReg(**kwargs)


def test_too_few_samples_raise():
    with pytest.raises(ValueError, match="num_samples"):
        jc.simulate(
            LinReg(dim=3), "replace", num_samples=4, num_generations=1, num_chains=2
        )
