"""The `gmm` family: EM against NumPy, degenerate sets, sampler, KL quadrature and
short engine runs. Budget: ALPHA_MODULE (conftest) split by Bonferroni over the
NUM_COMPARISONS statistical comparisons below (one KS test, z-scores)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

import jaxcollapse as jc
from jaxcollapse import _prng
from jaxcollapse.models import gmm
from jaxcollapse.models.gmm import GMM, GMMParams
from jaxcollapse.workflows._pool import Pool
from tests.conftest import ALPHA_MODULE, z_limit

ONE_COMPONENT = (("var_1", "var"), ("mean_1", "mean"), ("kl", "kl"))
ONE_COMPONENT_GENERATIONS = 5
NUM_COMPARISONS = 3 + len(ONE_COMPONENT) * ONE_COMPONENT_GENERATIONS + 1
Z = z_limit(NUM_COMPARISONS)


def _np_logmix(x, weight, mean, var):
    x = np.asarray(x, np.float64)[..., None]
    with np.errstate(divide="ignore"):
        logw = np.log(np.asarray(weight, np.float64))
    mean, var = np.asarray(mean, np.float64), np.asarray(var, np.float64)
    comp = logw - 0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)
    return special.logsumexp(comp, axis=-1)


def _np_fit_from_seeds(x, w, seeds, steps):
    """The fit written directly in NumPy (float64): Lloyd steps from the seeds,
    an M-step on the hard assignments, then `steps` EM steps (same empty rule
    and variance floor as the module docstring)."""
    k = len(seeds)
    total = w.sum()
    data_var = np.sum(w * (x - np.sum(w * x) / total) ** 2) / total
    scale = max(1.0, np.max(np.abs(x[w > 0])))
    floor = (gmm.FLOOR_ULPS * np.finfo(np.float32).eps * scale) ** 2

    def m_step(resp, prev_mean, prev_var):
        wr = w[:, None] * resp
        mass = wr.sum(0)
        alive = mass > gmm.EMPTY_FRACTION * total
        safe = np.where(alive, mass, 1.0)
        mean = np.where(alive, (wr * x[:, None]).sum(0) / safe, prev_mean)
        spread = (wr * (x[:, None] - mean) ** 2).sum(0) / safe
        var = np.maximum(np.where(alive, spread, prev_var), floor)
        kept = np.where(alive, mass, 0.0)
        return kept / kept.sum(), mean, var

    centres = np.array(seeds, np.float64)
    for _ in range(gmm.KMEANS_STEPS):
        hard = np.eye(k)[np.argmin((x[:, None] - centres) ** 2, axis=1)]
        mass = (w[:, None] * hard).sum(0)
        moved = (w[:, None] * hard * x[:, None]).sum(0) / np.where(mass > 0, mass, 1)
        centres = np.where(mass > 0, moved, centres)
    hard = np.eye(k)[np.argmin((x[:, None] - centres) ** 2, axis=1)]
    weight, mean, var = m_step(hard, centres, np.full(k, data_var))
    for _ in range(steps):
        with np.errstate(divide="ignore"):
            comp = np.log(weight) - 0.5 * (
                np.log(2 * np.pi * var) + (x[:, None] - mean) ** 2 / var
            )
        resp = np.exp(comp - special.logsumexp(comp, axis=1, keepdims=True))
        weight, mean, var = m_step(resp, mean, var)
    return weight, mean, var


def _data(seed, num):
    rng = np.random.default_rng(seed)
    centre = rng.choice([-4.0, 0.5, 3.0], size=num)
    x = (
        centre
        + rng.normal(size=num) * np.array([0.7, 1.0, 0.4])[rng.integers(3, size=num)]
    )
    w = rng.uniform(0.2, 2.0, size=num)
    return x.astype(np.float32), w.astype(np.float32)


def test_weighted_em_matches_numpy():
    x, w = _data(0, 90)
    k, steps = 3, 15
    key = _prng.key(7)
    seeds = np.asarray(gmm.seed_means(key, jnp.asarray(x), jnp.asarray(w), k))
    # Seeds are distinct training points.
    assert len(set(seeds.tolist())) == k and set(seeds.tolist()) <= set(x.tolist())
    params = GMM(components=k, em_steps=steps).fit(
        key, Pool.full(jnp.asarray(x)[:, None], None)._replace(weight=jnp.asarray(w))
    )
    want = _np_fit_from_seeds(x.astype(np.float64), w.astype(np.float64), seeds, steps)
    for got, expected in zip(params, want, strict=True):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-4, atol=2e-5)
    assert abs(float(np.sum(params.weight)) - 1.0) < 1e-6


def test_empty_slots_never_seed_and_do_not_change_the_fit():
    x, w = _data(1, 40)
    model = GMM(components=3, em_steps=10)
    key = _prng.key(3)
    plain = Pool.full(jnp.asarray(x)[:, None], None)._replace(weight=jnp.asarray(w))
    junk = np.full((24, 1), 1e4, np.float32)
    padded = Pool(
        jnp.concatenate([plain.data, jnp.asarray(junk)]),
        jnp.concatenate([plain.weight, jnp.zeros(24, jnp.float32)]),
        plain.count,
        None,
    )
    a, b = model.fit(key, plain), model.fit(key, padded)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5)
    for seed in range(20):
        seeds = gmm.seed_means(_prng.key(seed), padded.data[:, 0], padded.weight, 3)
        assert np.all(np.abs(np.asarray(seeds)) < 100)


def test_an_emptied_component_keeps_its_place_and_nothing_is_nan():
    x, w = _data(2, 50)
    x, w = jnp.asarray(x), jnp.asarray(w)
    floor = gmm.variance_floor(x, w)
    far = GMMParams(
        jnp.array([0.5, 0.3, 0.2]),
        jnp.array([-3.0, 2.0, 1e4]),
        jnp.array([1.0, 1.0, 1.0]),
    )
    out = gmm.em_step(x, w, far, floor)
    assert float(out.weight[2]) == 0.0
    assert float(out.mean[2]) == 1e4 and float(out.var[2]) == 1.0
    assert (
        np.all(np.isfinite(np.asarray(out))) and abs(float(out.weight.sum()) - 1) < 1e-6
    )
    # It stays out: weight 0 gives it no responsibility in the next step.
    again = gmm.em_step(x, w, out, floor)
    assert float(again.weight[2]) == 0.0

    # Degenerate sets, padded to one capacity with weight-0 junk (one compile).
    model = GMM(components=3, em_steps=5)
    ref = jnp.linspace(-4.0, 4.0, 9)

    @jax.jit
    def run(points, weight):
        pool = Pool(points[:, None], weight, jnp.sum(weight > 0), None)
        params = model.fit(_prng.key(0), pool)
        draws = model.sample(_prng.key(1), params, 50, 0.5, False).data
        return params, model.metrics(params, None, ref), draws

    for points in ([1.5] * 6, [1.5, 1.5, -2.0, -2.0], [0.0, 1e-30, 3.0, 3.0]):
        junk = [7.0e3] * (6 - len(points))
        weight = [1.0] * len(points) + [0.0] * len(junk)
        params, values, draws = run(
            jnp.asarray(points + junk, jnp.float32), jnp.asarray(weight, jnp.float32)
        )
        assert np.all(np.isfinite(np.asarray(params))), (points, params)
        assert np.all(np.asarray(params.var) > 0)
        assert all(np.isfinite(float(v)) for v in values.values()), values
        assert np.all(np.isfinite(np.asarray(draws)))
    # Identical points: every component sits on the point (the repeated seeds
    # are empty) at the floor's variance v, where
    # KL(q || P) = -log(2 pi e v) / 2 - log P(1.5) to O(v).
    np.testing.assert_allclose(np.sort(params.mean)[[0, -1]], [0.0, 3.0], atol=1e-6)
    params, values, _ = run(jnp.full(6, 1.5, jnp.float32), jnp.ones(6, jnp.float32))
    np.testing.assert_allclose(np.asarray(params.mean), 1.5)
    v = float(params.var[0])
    log_p = _np_logmix(1.5, [1 / 3] * 3, [-3.0, 0.0, 3.0], [1.0] * 3)
    want = -0.5 * math.log(2 * math.pi * math.e * v) - log_p
    assert float(values["kl"]) == pytest.approx(want, rel=1e-5)


def test_sampler_law_ks():
    params = GMMParams(
        jnp.array([0.3, 0.0, 0.7]),
        jnp.array([-1.0, 5.0, 2.0]),
        jnp.array([0.5, 1.0, 2.0]),
    )
    tau = 0.8
    draws = np.asarray(
        GMM(components=3).sample(_prng.key(5), params, 20000, tau, False).data[:, 0]
    )

    def cdf(x):
        sd = tau * np.sqrt([0.5, 2.0])
        return 0.3 * stats.norm.cdf(x, -1.0, sd[0]) + 0.7 * stats.norm.cdf(
            x, 2.0, sd[1]
        )

    result = stats.kstest(draws, cdf)
    assert result.pvalue > ALPHA_MODULE / NUM_COMPARISONS, result


def _kl_scipy(params, truth):
    w, m, v = (np.asarray(a, np.float64) for a in params)
    tw, tm, tv = (np.asarray(a, np.float64) for a in truth)

    def integrand(x):
        lq = _np_logmix(x, w, m, v)
        return np.exp(lq) * (lq - _np_logmix(x, tw, tm, tv))

    live = w > 0
    lo = np.min(m[live] - 40 * np.sqrt(v[live]))
    hi = np.max(m[live] + 40 * np.sqrt(v[live]))
    points = sorted(set(m[live].tolist()) | set(tm.tolist()) | {0.0})
    points = [p for p in points if lo < p < hi]
    value, _ = integrate.quad(
        integrand, lo, hi, points=points, limit=1000, epsabs=1e-12, epsrel=1e-10
    )
    return value


@pytest.mark.parametrize(
    "weight, mean, var",
    [
        ([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0]),
        ([0.4, 0.6], [-2.5, 3.2], [0.8, 1.3]),
        ([0.5, 0.5], [-0.2, 0.3], [1e-3, 2e-3]),
        ([1.0, 0.0], [0.0, 5.0], [4.0, 1.0]),
        ([0.3, 0.7], [0.0, 0.1], [9.0, 0.01]),
    ],
)
def test_kl_quadrature_matches_scipy(weight, mean, var):
    model = GMM(components=2)
    params = GMMParams(*(jnp.asarray(a, jnp.float32) for a in (weight, mean, var)))
    got = float(jax.jit(model.kl)(params))
    want = _kl_scipy(params, model._truth(jnp.float32))
    assert got == pytest.approx(want, rel=2e-5, abs=2e-6)


def test_log_densities_match_scipy():
    model = GMM(components=3)
    params = GMMParams(
        jnp.array([0.2, 0.5, 0.3]),
        jnp.array([-1.0, 0.0, 4.0]),
        jnp.array([0.3, 2.0, 1.0]),
    )
    x = np.linspace(-6, 8, 15, dtype=np.float32)
    pool = Pool.full(jnp.asarray(x)[:, None], None)
    want = np.log(
        sum(
            wi * stats.norm.pdf(x, mi, math.sqrt(vi))
            for wi, mi, vi in zip(
                [0.2, 0.5, 0.3], [-1, 0, 4], [0.3, 2.0, 1.0], strict=True
            )
        )
    )
    np.testing.assert_allclose(
        np.asarray(model.log_density(params, pool)), want, rtol=1e-5
    )
    truth = sum(stats.norm.pdf(x, m, 1.0) for m in (-3.0, 0.0, 3.0)) / 3
    np.testing.assert_allclose(
        np.asarray(model.truth_log_density(None, pool)), np.log(truth), rtol=1e-5
    )


def test_short_simulation_generation_zero():
    """Generation 0: E test_nll = H(P) + E KL(P || q_hat) >= H(P) exactly (the
    test set is independent of the fit); asymptotically E KL = d / (2n) with
    d = 3k - 1 parameters, so the mean must also lie below H(P) + 3 d / (2n)."""
    n, chains = 400, 128
    model = GMM(components=2)
    res = jc.simulate(
        model, "replace", num_samples=n, num_generations=2, num_chains=chains, seed=0
    )
    assert res.config["model"] == "gmm" and res.theory == {}
    for name in model.metric_names:
        assert np.all(res.metrics[name]["nonfinite"] == 0), name
    nll = res.metrics["test_nll"]
    entropy = integrate.quad(
        lambda x: (
            -np.exp(_np_logmix(x, [0.5, 0.5], [-3, 3], [1, 1]))
            * _np_logmix(x, [0.5, 0.5], [-3, 3], [1, 1])
        ),
        -15,
        15,
        points=[-3, 0, 3],
    )[0]
    z_low = (nll["mean"][0] - entropy) / nll["sem"][0]
    assert z_low > -Z, z_low
    z_high = (nll["mean"][0] - (entropy + 3 * 5 / (2 * n))) / nll["sem"][0]
    assert z_high < Z, z_high
    means = res.metrics["mean_1"]["mean"], res.metrics["mean_2"]["mean"]
    assert np.all(means[0] < -2) and np.all(means[1] > 2)
    weights = res.metrics["weight_1"]["mean"] + res.metrics["weight_2"]["mean"]
    np.testing.assert_allclose(weights, 1.0, rtol=1e-5)
    assert np.all(res.metrics["kl"]["mean"] >= 0)


def test_one_component_chain_matches_gaussian_theory():
    """With k = 1 the EM fit is the Gaussian MLE (divisor n), so a replace chain
    follows the Gaussian family's closed forms (ddof 0): E var_t = (tau^2 (n - 1)
    / n)^(t + 1), E mean_t = 0, and E KL."""
    from jaxcollapse.theory.gaussian import gaussian_theory

    n, tau, steps = 10, 0.9, ONE_COMPONENT_GENERATIONS - 1
    res = jc.simulate(
        GMM(components=1, em_steps=2),
        "replace",
        num_samples=n,
        num_generations=steps,
        num_chains=2000,
        seed=2,
        temperature=tau,
        num_test=20,
    )
    theory = gaussian_theory(
        workflow="replace",
        num_samples=n,
        num_generations=steps,
        num_real=n,
        dim=1,
        ddof=0,
        temperature=tau,
        real_weight=None,
    )
    for ours, theirs in ONE_COMPONENT:
        stat = res.metrics[ours]
        z = (stat["mean"] - theory[theirs]) / stat["sem"]
        assert np.all(np.abs(z) < Z), (ours, z)


def test_one_component_theory_stops_before_the_variance_floor():
    """The fit floors a variance at about 5.8e-11 (float32), so in deep collapse
    the Gaussian forms for var and kl no longer hold: theory/gmm.py gives them
    as NaN from the generation where a chain could be within reach of the
    floor. Where it still gives kl it matches the simulation; far past the cut
    the uncut Gaussian form is far off (the cut is needed)."""
    from jaxcollapse.theory.gaussian import gaussian_theory

    n, T = 10, 120
    res = jc.simulate(
        GMM(components=1, em_steps=1),
        "replace",
        num_samples=n,
        num_generations=T,
        num_chains=1000,
        seed=3,
        num_test=4,
    )
    kl = res.theory["kl"]
    cut = int(np.argmax(np.isnan(kl)))
    assert 5 < cut < T and np.isnan(kl[cut:]).all() and np.isfinite(kl[:cut]).all()
    assert np.isnan(res.theory["var_1"][cut:]).all()
    assert np.isfinite(res.theory["mean_1"]).all()
    stat = res.metrics["kl"]
    z = (stat["mean"][cut - 1] - kl[cut - 1]) / stat["sem"][cut - 1]
    assert abs(z) < Z, z
    uncut = gaussian_theory(
        workflow="replace", num_samples=n, num_generations=T, num_real=n
    )["kl"]
    assert (uncut[T] - stat["mean"][T]) / stat["sem"][T] > 20


def test_short_accumulate_run_is_finite():
    """Accumulate fits a pool whose empty slots have weight 0: no NaN. (The
    same bits on one device or all: tests/test_family_invariance.py, whose GMM
    case compiled in half the time of a second accumulate run here.)"""
    model = GMM(components=3, em_steps=5)
    kw = dict(num_samples=30, num_generations=3, num_chains=32, seed=1, num_test=100)
    res = jc.simulate(model, "accumulate", **kw)
    for name in model.metric_names:
        assert np.all(res.metrics[name]["nonfinite"] == 0), name


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(components=0), "components must be an integer >= 1"),
        (dict(components=2.5), "components must be an integer >= 1"),
        (dict(components=True), "components must be an integer >= 1"),
        (dict(em_steps=0), "em_steps must be an integer >= 1"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GMM(**kwargs)


def test_metric_names_and_min_samples():
    model = GMM(components=3)
    assert model.metric_names[:2] == ("test_nll", "kl")
    assert model.metric_names[2:5] == ("weight_1", "weight_2", "weight_3")
    assert model.metric_names[-1] == "var_3" and len(model.metric_names) == 11
    assert model.min_samples() == 4
    with pytest.raises(ValueError, match="num_samples must be an integer >= 3"):
        jc.simulate(GMM(), num_samples=2, num_generations=1, num_chains=2)
