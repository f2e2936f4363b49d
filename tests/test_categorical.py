"""The `categorical` family: fit, sampler and metrics against NumPy; the engine
against the exact theory (Wright-Fisher and the invariants); the exact path
against the points path. Budget: ALPHA_MODULE (conftest) shared by Bonferroni
over every z-score and chi-square test in this module."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxcollapse as jc
from jaxcollapse.models.categorical import (
    BLOCKED_MAX_SYMBOLS,
    Categorical,
    CategoricalParams,
    Counts,
    _block_size,
    blocked_cdf,
    draw_symbols,
    tempered_log_weights,
    two_level_search,
)
from jaxcollapse.theory.categorical import MAX_COUNT, theory
from jaxcollapse.workflows import Pool
from jaxcollapse.workflows._linalg import prefix_sum
from tests.conftest import ALPHA_MODULE, z_limit

SAMPLER_CASES = [1.0, 0.5, 2.0]  # temperatures
THEORY_CASES = [
    # (workflow, K, smoothing, temperature, real_weight, num_real, exact_path)
    ("replace", 5, 0.0, 1.0, None, None, "on"),
    ("replace", 10, 0.0, 1.0, None, 7, "off"),
    ("accumulate", 10, 0.5, 1.0, None, None, "on"),
    ("mix", 10, 0.0, 0.7, 0.3, None, "off"),
    ("accumulate-subsample", 10, 0.3, 1.0, None, None, "off"),
]
CHECK_GENERATIONS = (3, 6, 10, 20)
METRICS_WITH_THEORY = 3
PATH_METRICS = ("entropy", "kl")
PATH_GENERATIONS = (3, 20)
NUM_COMPARISONS = (
    len(SAMPLER_CASES)
    + len(THEORY_CASES) * len(CHECK_GENERATIONS) * METRICS_WITH_THEORY
    + len(PATH_METRICS) * len(PATH_GENERATIONS)
)
Z = z_limit(NUM_COMPARISONS)


def _numpy_fit(symbols, weights, K, alpha):
    """Reference: (N f + alpha)/(N + K alpha), N = W^2 / sum w^2."""
    counts = np.bincount(symbols, weights=weights, minlength=K)
    total, sum_sq = weights.sum(), (weights**2).sum()
    n_eff = total**2 / sum_sq
    return (n_eff * counts / total + alpha) / (n_eff + K * alpha)


@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_fit_matches_numpy_bincount(alpha):
    rng = np.random.default_rng(0)
    K = 7
    symbols = rng.integers(0, K - 1, size=40)  # symbol K-1 never occurs
    weights = rng.uniform(0.1, 2.0, size=40)
    weights[:5] = 0.0  # zero-weight points add nothing
    model = Categorical(categories=K, smoothing=alpha)
    # a pool with empty slots, as accumulate builds it
    filled = Pool(
        jnp.asarray(symbols, jnp.int32),
        jnp.asarray(weights, jnp.float32),
        jnp.asarray(40, jnp.int32),
        None,
    )
    pool = Pool.empty(64, filled).append(filled)
    expected = _numpy_fit(symbols, weights, K, alpha)
    params = model.fit(None, pool)
    np.testing.assert_allclose(params.probs, expected, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(np.exp(params.log_probs), expected, rtol=1e-5)
    assert (np.asarray(params.probs) == 0).sum() == (1 if alpha == 0 else 0)
    assert np.isneginf(params.log_probs[K - 1]) == (alpha == 0)
    # the same set as counts (the exact path) and as a union of two halves
    counts = model.counts(pool)
    np.testing.assert_allclose(model.fit(None, counts).probs, expected, rtol=2e-6)
    half = 20
    a = model.counts(filled._replace(weight=filled.weight.at[half:].set(0.0)))
    b = model.counts(filled._replace(weight=filled.weight.at[:half].set(0.0)))
    np.testing.assert_allclose(
        model.fit(None, a.union(b)).probs, expected, rtol=2e-6, atol=1e-7
    )
    # a fit depends on the weights only through their ratios
    scaled = model.fit(None, counts.with_total_weight(0.3))
    np.testing.assert_allclose(scaled.probs, expected, rtol=1e-5, atol=1e-7)
    # unit weights: SPEC's (counts + alpha) / (n + K alpha)
    unit = model.fit(None, pool._replace(weight=(pool.weight > 0).astype(jnp.float32)))
    plain = (np.bincount(symbols[5:], minlength=K) + alpha) / (35 + K * alpha)
    np.testing.assert_allclose(unit.probs, plain, rtol=2e-6, atol=1e-7)


def test_fit_of_an_empty_set_is_uniform_not_nan():
    model = Categorical(categories=4)
    empty = Counts(jnp.zeros(4), jnp.zeros(()))
    params = model.fit(None, empty)
    np.testing.assert_allclose(params.probs, 0.25)
    for value in model.metrics(params, None, None).values():
        assert np.isfinite(value)


def test_temperature_transform():
    p = np.array([0.5, 0.0, 0.3, 0.15, 0.05])
    log_p = jnp.log(jnp.asarray(p, jnp.float32))
    for tau in (0.3, 1.0, 2.5):
        w = np.exp(np.asarray(tempered_log_weights(log_p, tau), np.float64))
        q = np.where(p > 0, p ** (1 / tau), 0.0)
        np.testing.assert_allclose(w / w.sum(), q / q.sum(), rtol=2e-5)
        assert w[1] == 0.0 and not np.isnan(w).any()
    # a distribution on one symbol stays on it at any temperature
    one = jnp.log(jnp.asarray([0.0, 1.0, 0.0]))
    assert np.asarray(tempered_log_weights(one, 0.01)).tolist()[1] == 0.0


@pytest.mark.parametrize("tau", SAMPLER_CASES)
def test_sampler_law_matches_tempered_distribution(tau):
    """Chi-square goodness of fit of 100k draws; symbols of probability 0 never
    appear; the exact path counts the same draws."""
    K = 12
    model = Categorical(categories=K)
    probs = np.array([30, 0, 20, 10, 7, 0, 5, 3, 2, 1.5, 1, 0.5]) / 80.0
    log_p = jnp.log(jnp.asarray(probs, jnp.float32))
    params = CategoricalParams(jnp.asarray(probs, jnp.float32), log_p)
    num = 100_000
    key = jax.random.key(3)
    pool = model.sample(key, params, num, tau, False)
    observed = np.bincount(np.asarray(pool.data), minlength=K)
    q = np.where(probs > 0, probs ** (1 / tau), 0.0)
    q /= q.sum()
    assert observed[probs == 0].sum() == 0
    live = probs > 0
    chi2 = stats.chisquare(observed[live], num * q[live])
    assert chi2.pvalue > ALPHA_MODULE / NUM_COMPARISONS, chi2
    exact = model.sample(key, params, num, tau, True)
    np.testing.assert_array_equal(exact.counts, observed)
    assert float(exact.sum_sq_weight) == num


def test_sampler_never_draws_zero_weight_symbols():
    """Zeros at both ends and in between, tiny and huge tempered ratios."""
    log_w = jnp.log(jnp.asarray([0.0, 1e-30, 0.0, 1.0, 0.0, 0.0], jnp.float32))
    for tau in (0.05, 1.0, 50.0):
        symbols = np.asarray(
            draw_symbols(jax.random.key(1), tempered_log_weights(log_w, tau), 50_000)
        )
        assert set(np.unique(symbols)) <= {1, 3}


def _weights_with_zeros(K, seed):
    """Positive weights over many scales, zeros at both ends and in between."""
    rng = np.random.default_rng(seed)
    w = np.exp(rng.uniform(-30.0, 3.0, size=K)).astype(np.float32)
    w[rng.random(K) < 0.3] = 0.0
    w[0] = w[-1] = 0.0
    w[K // 2] = 1.0
    return w


@pytest.mark.parametrize("K", [2, 5, 12, 100, 256])
def test_blocked_cdf_is_monotone_exact_at_zeros_and_a_cumsum(K):
    w = _weights_with_zeros(K, K)
    block = _block_size(K)
    cdf, offsets = jax.jit(lambda v: blocked_cdf(v, block))(jnp.asarray(w))
    table, offsets = np.asarray(cdf).reshape(-1), np.asarray(offsets)
    assert table.shape[0] >= K and table.shape[0] % block == 0
    assert (np.diff(table) >= 0).all()
    zero = np.flatnonzero(w == 0)
    previous = np.concatenate([[0.0], table[:-1]])
    np.testing.assert_array_equal(table[zero], previous[zero])
    np.testing.assert_array_equal(table[K:], offsets[-1])  # the padded tail
    np.testing.assert_array_equal(offsets[1:], table[block - 1 :: block])
    np.testing.assert_allclose(table[:K], np.cumsum(w, dtype=np.float64), rtol=2e-6)


@pytest.mark.parametrize("K", [2, 5, 12, 100, 256])
def test_two_level_search_at_every_boundary(K):
    """x exactly at each block offset and table entry, one ulp either side,
    0 and the largest float below the total: the search is searchsorted's
    "right" count, and for x < W lands on a symbol of positive weight. An
    all-zero table stays within the symbols."""
    w = _weights_with_zeros(K, 3 * K)
    cdf, offsets = blocked_cdf(jnp.asarray(w), _block_size(K))
    table, whole = np.asarray(cdf).reshape(-1), np.float32(offsets[-1])
    points = np.concatenate([table, np.asarray(offsets), [0.0]]).astype(np.float32)
    down = np.nextafter(points, np.float32(-1))
    up = np.nextafter(points, np.float32(np.inf))
    x = np.concatenate([points, down, up, [np.nextafter(whole, np.float32(0))]])
    x = np.unique(x[(x >= 0) & (x < whole)])
    got = np.asarray(two_level_search(cdf, offsets, jnp.asarray(x), K))
    np.testing.assert_array_equal(got, np.searchsorted(table, x, "right"))
    assert (w[got] > 0).all()
    zero = jnp.zeros((K,), jnp.float32)
    cdf0, offsets0 = blocked_cdf(zero, _block_size(K))
    lost = two_level_search(cdf0, offsets0, jnp.zeros((4,), jnp.float32), K)
    assert (np.asarray(lost) <= K - 1).all()


@pytest.mark.parametrize("K", [3, 12, 100, 256, 300])
def test_draw_symbols_inverts_its_table(K):
    """Each symbol is the number of table entries <= u W, u the draw's uniform,
    and never one of weight 0 (K = 300 takes the binary search)."""
    w = _weights_with_zeros(K, 7 + K)
    w[K // 3] = 1e-30  # tiny
    key = jax.random.key(11)
    num = 20_000
    log_w = jnp.log(jnp.asarray(w))
    symbols = np.asarray(jax.jit(lambda k, v: draw_symbols(k, v, num))(key, log_w))
    assert (w[symbols] > 0).all()
    u = np.asarray(jax.random.uniform(key, (num,), jnp.float32))
    weights = np.asarray(jnp.exp(log_w))
    if K <= BLOCKED_MAX_SYMBOLS:
        cdf, offsets = blocked_cdf(jnp.asarray(weights), _block_size(K))
        table, whole = np.asarray(cdf).reshape(-1), np.float32(offsets[-1])
        x = np.minimum(u * whole, np.nextafter(whole, np.float32(0)))
        np.testing.assert_array_equal(symbols, np.searchsorted(table, x, "right"))
    else:  # a running max of the Hillis-Steele prefix sum, zeros zeroed
        sums = np.asarray(prefix_sum(jnp.asarray(weights), 0))
        table = np.maximum.accumulate(np.where(weights > 0, sums, 0.0))
        found = np.searchsorted(table, u * table[-1], "right")
        expected = np.minimum(found, np.flatnonzero(weights > 0)[-1])
        np.testing.assert_array_equal(symbols, expected)


def test_metrics_match_numpy():
    K = 20
    model = Categorical(categories=K, zipf=1.3)
    truth = np.arange(1, K + 1, dtype=np.float64) ** -1.3
    truth /= truth.sum()
    rng = np.random.default_rng(1)
    cases = [truth, rng.dirichlet(np.ones(K)), np.eye(K)[4]]
    sparse = rng.dirichlet(np.ones(K))
    sparse[[0, 5, 18]] = 0.0
    cases.append(sparse / sparse.sum())
    for p in cases:
        p32 = jnp.asarray(p, jnp.float32)
        log_p = jnp.where(p32 > 0, jnp.log(p32), -jnp.inf)
        out = model.metrics(CategoricalParams(p32, log_p), None, None)
        assert list(out) == ["num_missing", "entropy", "kl", "tail_mass", "collapsed"]
        nz = p > 0
        entropy = -(p[nz] * np.log(p[nz])).sum()
        kl = (p[nz] * np.log(p[nz] / truth[nz])).sum()
        assert float(out["num_missing"]) == (K - nz.sum())
        np.testing.assert_allclose(out["entropy"], entropy, atol=2e-6)
        np.testing.assert_allclose(out["kl"], kl, atol=2e-6, rtol=1e-5)
        np.testing.assert_allclose(out["tail_mass"], p[-2:].sum(), rtol=1e-5)
        assert float(out["collapsed"]) == float(nz.sum() == 1)
    np.testing.assert_allclose(
        model.metrics(
            CategoricalParams(jnp.asarray(truth, jnp.float32), jnp.log(truth)),
            None,
            None,
        )["kl"],
        0.0,
        atol=1e-6,
    )


def test_truth_and_model_log_density():
    model = Categorical(categories=6, zipf=0.8)
    truth = np.arange(1, 7) ** -0.8
    truth /= truth.sum()
    pool = Pool.empty(4, Pool(jnp.zeros(1, jnp.int32), jnp.ones(1), 1, None))
    pool = pool._replace(data=jnp.asarray([0, 5, 2, 2], jnp.int32))
    np.testing.assert_allclose(
        model.truth_log_density(None, pool), np.log(truth[[0, 5, 2, 2]]), rtol=1e-6
    )
    p = jnp.asarray([0.5, 0.5, 0.0, 0.0, 0.0, 0.0])
    params = CategoricalParams(p, jnp.where(p > 0, jnp.log(p), -jnp.inf))
    out = np.asarray(model.log_density(params, pool))
    np.testing.assert_allclose(out[0], np.log(0.5))
    assert np.isneginf(out[1:]).all()


_RUNS = {}


def _run(case, seed=23, exact=None, chunk_size=None):
    """One simulation per setting, shared by the tests below (compiles are most
    of this module's time)."""
    workflow, K, alpha, tau, lam, num_real, path = case
    exact = path if exact is None else exact
    key = (case, seed, exact, chunk_size)
    if key not in _RUNS:
        _RUNS[key] = jc.simulate(
            Categorical(categories=K, smoothing=alpha, zipf=1.1),
            workflow,
            num_samples=10,
            num_generations=20,
            num_chains=4000,
            seed=seed,
            temperature=tau,
            real_weight=lam,
            num_real=num_real,
            exact_path=exact,
            chunk_size=chunk_size,
            keep_trajectories=500,
        )
    return _RUNS[key]


@pytest.mark.parametrize("case", THEORY_CASES, ids=lambda c: f"{c[0]}-K{c[1]}-{c[6]}")
def test_simulation_matches_theory(case):
    workflow, K, alpha, tau, lam, num_real, exact = case
    res = _run(case)
    assert res.config["exact_path"] == (exact == "on")
    expected = res.theory
    assert 1 <= len(expected) <= METRICS_WITH_THEORY
    if alpha == 0 and workflow == "replace":
        assert {"num_missing", "collapsed"} <= set(expected)
    if alpha > 0:  # every fitted probability is positive, in every chain
        for name in ("num_missing", "collapsed"):
            np.testing.assert_array_equal(expected[name], 0.0)
            np.testing.assert_array_equal(res.metrics[name]["mean"], 0.0)
    chains = res.config["num_chains"]
    for name, values in expected.items():
        stat = res.metrics[name]
        assert stat["nonfinite"].sum() == 0
        if name == "tail_mass" and K < 10:  # no tail: identically 0
            np.testing.assert_array_equal(values, 0.0)
            np.testing.assert_array_equal(stat["mean"], 0.0)
            continue
        for t in CHECK_GENERATIONS:
            if alpha > 0 and name != "tail_mass":
                continue  # checked exactly above
            if name == "collapsed" and min(values[t], 1 - values[t]) * chains < 50:
                continue  # too few events for a normal approximation
            z = (stat["mean"][t] - values[t]) / stat["sem"][t]
            assert abs(z) < Z, f"{name} at generation {t}: z = {z:.2f}"


def test_support_never_changes_when_real_data_stays():
    """mix, alpha = 0: D_0 stays in with positive weight, so every chain keeps
    its generation-0 support (num_missing, collapsed) exactly (tau = 0.7)."""
    case = THEORY_CASES[3]
    assert case[0] == "mix" and case[2] == 0.0
    res = _run(case)
    for name in ("num_missing", "collapsed"):
        paths = res.trajectories[name]
        np.testing.assert_array_equal(paths, np.repeat(paths[:, :1], 21, axis=1))
    truth = np.exp(np.asarray(Categorical(categories=10).truth_log_probs(), float))
    np.testing.assert_allclose(res.theory["num_missing"], np.sum((1 - truth) ** 10))


# Slow: test_family_invariance's categorical mix case (float weights, scatter-add)
# checks the same bits on other chunk sizes and device counts in the default run.
@pytest.mark.slow
def test_identical_for_any_chunk_size():
    """Float weights (mix) summed by scatter-add: still the same bits per chain."""
    case = THEORY_CASES[3]
    base, other = _run(case), _run(case, chunk_size=1024)
    assert base.config["chunk_size"] != other.config["chunk_size"]
    for name, stat in base.metrics.items():
        for key, values in stat.items():
            np.testing.assert_array_equal(values, other.metrics[name][key])


def test_exact_path_agrees_with_points_path():
    """Accumulate (alpha = 0.5): mean entropy and kl at generation 3 and 20 on
    the exact path and the points path, by two-sample z-scores (other seed)."""
    case = THEORY_CASES[2]
    assert case[0] == "accumulate" and case[6] == "on"
    fast, slow = _run(case), _run(case, seed=24, exact="off")
    assert fast.config["exact_path"] and not slow.config["exact_path"]
    for name in PATH_METRICS:
        a, b = fast.metrics[name], slow.metrics[name]
        for t in PATH_GENERATIONS:
            z = (a["mean"][t] - b["mean"][t]) / np.hypot(a["sem"][t], b["sem"][t])
            assert abs(z) < Z, (name, t, z)


def test_theory_wright_fisher_small_case_by_hand():
    """K = 2, n = n_r = 1: each generation copies the one draw, so the fit is
    always collapsed and exactly one symbol is missing."""
    out = theory(
        dict(
            workflow="replace",
            categories=2,
            smoothing=0.0,
            zipf=0.0,
            num_samples=1,
            num_real=1,
            num_generations=3,
            temperature=1.0,
        )
    )
    np.testing.assert_allclose(out["num_missing"], 1.0)
    np.testing.assert_allclose(out["collapsed"], 1.0)
    # n = 2, uniform over 2 symbols: P(collapsed by t) = 1 - 2^-(t+1)
    out = theory(
        dict(
            workflow="replace",
            categories=2,
            smoothing=0.0,
            zipf=0.0,
            num_samples=2,
            num_real=2,
            num_generations=4,
            temperature=1.0,
        )
    )
    expected = 1.0 - 0.5 ** np.arange(1, 6)
    np.testing.assert_allclose(out["collapsed"], expected)
    np.testing.assert_allclose(out["num_missing"], expected)
    assert "tail_mass" in out  # K // 10 = 0: identically 0
    np.testing.assert_allclose(out["tail_mass"], 0.0)
    # past the stated size limit the Wright-Fisher terms are left out
    big = dict(
        workflow="replace",
        categories=20,
        smoothing=0.0,
        zipf=1.1,
        num_samples=MAX_COUNT + 1,
        num_real=None,
        num_generations=2,
        temperature=1.0,
    )
    assert set(theory(big)) == {"tail_mass"}


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(categories=1),
        dict(categories=2.5),
        dict(categories=True),
        dict(smoothing=-0.1),
        dict(smoothing=float("nan")),
        dict(zipf=-1.0),
        dict(zipf="1"),
    ],
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Categorical(**kwargs)


@pytest.mark.parametrize("alpha", [2.5, 1e37])
def test_large_smoothing_fits_without_overflow(alpha):
    """(c_k + alpha) / (n + K alpha) for alpha > 1 is computed over alpha, so K
    alpha cannot overflow float32 (1e37 x 100 would make every p_hat 0: all
    symbols "missing", entropy 0, silently)."""
    K = 100
    counts = np.zeros(K)
    counts[:3] = [5.0, 3.0, 2.0]
    model = Categorical(categories=K, smoothing=alpha)
    params = model.fit(None, Counts(jnp.asarray(counts, jnp.float32), jnp.float32(10)))
    want = (counts + alpha) / (counts.sum() + K * alpha)
    np.testing.assert_allclose(np.asarray(params.probs), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(params.log_probs), np.log(want), rtol=1e-6)
    values = model.metrics(params, None, None)
    assert float(values["num_missing"]) == 0
    entropy = -np.sum(want * np.log(want))
    assert float(values["entropy"]) == pytest.approx(entropy, rel=1e-5)
