"""The `gmm` family on the named 2-D truths (moons, circles, blobs): the 2-D EM
against NumPy, log densities against scipy, degenerate sets, the sampler's
moments, the Monte Carlo KL, and short engine runs. Budget: ALPHA_MODULE
(conftest) split by Bonferroni over the NUM_COMPARISONS statistical comparisons
below (z-scores)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import jaxcollapse as jc
from jaxcollapse import _prng
from jaxcollapse.models import gmm, kde
from jaxcollapse.models.gmm import GMM, GMM2Params
from jaxcollapse.workflows._pool import Pool
from tests.conftest import ALPHA_MODULE, z_limit

SAMPLER_MOMENTS = 5  # two means, three covariance entries
KL_CASES = 2
NUM_COMPARISONS = SAMPLER_MOMENTS + KL_CASES + 1  # + the replace drift
Z = z_limit(NUM_COMPARISONS, ALPHA_MODULE)
CENTRES = np.array([[-4.0, 1.0], [3.0, 2.5], [0.5, -5.0]])


def _data(seed, num):
    """Three clusters of different shapes, random positive weights (float32)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(3, size=num)
    shape = np.array(
        [[[0.8, 0.0], [0.5, 0.4]], [[0.3, 0.0], [0.0, 1.2]], [[1.0, 0.0], [-0.6, 0.5]]]
    )
    x = CENTRES[label] + np.einsum(
        "nij,nj->ni", shape[label], rng.normal(size=(num, 2))
    )
    w = rng.uniform(0.2, 2.0, size=num)
    return x.astype(np.float32), w.astype(np.float32)


def _pool(x, w):
    return Pool.full(jnp.asarray(x), None)._replace(weight=jnp.asarray(w))


def _np_chol(a, b, c, floor):
    a_f = a + floor
    l11 = np.sqrt(a_f)
    l21 = b / l11
    l22 = np.sqrt(np.maximum(c + floor - l21**2, floor * (1 + c / a_f)))
    return np.stack([l11, l21, l22], -1)


def _np_logcomp(x, weight, mean, chol):
    """(N, k) log pi_j N(x; mu_j, L L^T) in float64, by scipy."""
    out = []
    for j in range(len(weight)):
        cov = _cov(chol[j])
        with np.errstate(divide="ignore"):
            logw = np.log(weight[j])
        out.append(logw + stats.multivariate_normal(mean[j], cov).logpdf(x))
    return np.stack(out, -1)


def _cov(factor):
    l11, l21, l22 = factor
    return np.array([[l11**2, l11 * l21], [l11 * l21, l21**2 + l22**2]])


def _np_fit_from_seeds(x, w, seeds, steps):
    """The 2-D fit written directly in NumPy (float64): Lloyd steps, an M-step
    on the hard assignments, `steps` EM steps; the module docstring's rules."""
    k = len(seeds)
    total = w.sum()
    floor = (gmm.FLOOR_ULPS * np.finfo(np.float32).eps * max(1.0, np.abs(x).max())) ** 2

    def m_step(resp, prev_mean, prev_chol):
        wr = w[:, None] * resp
        mass = wr.sum(0)
        alive = mass > gmm.EMPTY_FRACTION * total
        safe = np.where(alive, mass, 1.0)
        mean = (wr[:, :, None] * x[:, None, :]).sum(0) / safe[:, None]
        mean = np.where(alive[:, None], mean, prev_mean)
        d = x[:, None, :] - mean[None]
        a = (wr * d[..., 0] ** 2).sum(0) / safe
        b = (wr * d[..., 0] * d[..., 1]).sum(0) / safe
        c = (wr * d[..., 1] ** 2).sum(0) / safe
        chol = np.where(alive[:, None], _np_chol(a, b, c, floor), prev_chol)
        kept = np.where(alive, mass, 0.0)
        return kept / kept.sum(), mean, chol

    def nearest(centres):
        gap = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        return np.eye(k)[np.argmin(gap, axis=1)]

    centres = np.array(seeds, np.float64)
    for _ in range(gmm.KMEANS_STEPS):
        hard = w[:, None] * nearest(centres)
        mass = hard.sum(0)
        moved = (hard[:, :, None] * x[:, None, :]).sum(0) / np.where(mass > 0, mass, 1)[
            :, None
        ]
        centres = np.where((mass > 0)[:, None], moved, centres)
    centre = (w[:, None] * x).sum(0) / total
    d = x - centre
    data = _np_chol(
        (w * d[:, 0] ** 2).sum() / total,
        (w * d[:, 0] * d[:, 1]).sum() / total,
        (w * d[:, 1] ** 2).sum() / total,
        floor,
    )
    params = m_step(nearest(centres), centres, np.broadcast_to(data, (k, 3)))
    for _ in range(steps):
        comp = _np_logcomp(x, *params)
        resp = np.exp(comp - special.logsumexp(comp, axis=1, keepdims=True))
        params = m_step(resp, params[1], params[2])
    return params


def test_weighted_em_2d_matches_numpy():
    x, w = _data(0, 120)
    k, steps = 3, 15
    key = _prng.key(7)
    seeds = np.asarray(gmm.seed_means(key, jnp.asarray(x), jnp.asarray(w), k))
    # Seeds are distinct training points.
    rows = {tuple(r) for r in x.tolist()}
    assert len({tuple(s) for s in seeds.tolist()}) == k
    assert {tuple(s) for s in seeds.tolist()} <= rows
    params = GMM(components=k, em_steps=steps, truth="blobs").fit(key, _pool(x, w))
    assert isinstance(params, GMM2Params)
    want = _np_fit_from_seeds(x.astype(np.float64), w.astype(np.float64), seeds, steps)
    for got, expected in zip(params, want, strict=True):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=5e-4, atol=5e-5)
    assert abs(float(np.sum(params.weight)) - 1.0) < 1e-6


def test_empty_slots_never_seed_and_do_not_change_the_fit():
    x, w = _data(1, 60)
    model = GMM(components=3, em_steps=10, truth="moons")
    key = _prng.key(3)
    plain = _pool(x, w)
    padded = Pool(
        jnp.concatenate([plain.data, jnp.full((20, 2), 1e4, jnp.float32)]),
        jnp.concatenate([plain.weight, jnp.zeros(20, jnp.float32)]),
        plain.count,
        None,
    )
    a, b = model.fit(key, plain), model.fit(key, padded)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5, atol=1e-6)


def test_log_densities_match_scipy():
    rng = np.random.default_rng(4)
    params = GMM2Params(
        jnp.array([0.5, 0.0, 0.3, 0.2], jnp.float32),
        jnp.asarray(rng.normal(size=(4, 2)) * 2, jnp.float32),
        jnp.asarray(
            np.c_[rng.uniform(0.3, 2, 4), rng.normal(size=4), rng.uniform(0.1, 1, 4)],
            jnp.float32,
        ),
    )
    x = rng.normal(size=(50, 2)) * 3
    got = np.asarray(gmm.mixture_logpdf_2d(jnp.asarray(x, jnp.float32), params))
    p64 = [np.asarray(p, np.float64) for p in params]
    want = special.logsumexp(_np_logcomp(x, *p64), axis=1)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    # The family's verifier reward is the named truth's density (kde's).
    model = GMM(truth="blobs")
    centres = jnp.asarray(CENTRES, jnp.float32)
    pool = Pool.full(jnp.asarray(x, jnp.float32), None)
    truth = np.asarray(model.truth_log_density(centres, pool))
    sd2 = 1 + model.truth_noise**2
    comps = [stats.multivariate_normal(c, sd2 * np.eye(2)).logpdf(x) for c in CENTRES]
    want = special.logsumexp(np.stack(comps, -1), axis=1) - np.log(3)
    np.testing.assert_allclose(truth, want, rtol=2e-5, atol=2e-5)


def test_degenerate_sets_stay_finite():
    model = GMM(components=3, em_steps=5, truth="circles")
    ref = jnp.asarray(np.random.default_rng(0).normal(size=(40, 2)), jnp.float32)

    @jax.jit
    def run(points, weight, key):
        pool = Pool(points, weight, jnp.sum(weight > 0), None)
        params = model.fit(_prng.key(0), pool)
        draws = model.sample(_prng.key(1), params, 50, 0.5, False).data
        return params, model.metrics(params, None, ref, key), draws

    line = [[t, 2.0 * t - 1.0] for t in (-1.0, 0.0, 0.5, 2.0)]
    for points in ([[1.5, -0.5]] * 6, [[1.5, 1.0]] * 3 + [[-2.0, 0.0]] * 3, line):
        junk = [[7.0e3, -7.0e3]] * (8 - len(points))
        weight = [1.0] * len(points) + [0.0] * len(junk)
        params, values, draws = run(
            jnp.asarray(points + junk, jnp.float32),
            jnp.asarray(weight, jnp.float32),
            _prng.key(2),
        )
        assert np.all(np.isfinite(np.asarray(params.chol))), (points, params)
        assert np.all(np.asarray(params.chol)[:, [0, 2]] > 0)
        assert all(np.isfinite(float(v)) for v in values.values()), (points, values)
        assert np.all(np.isfinite(np.asarray(draws)))
        assert np.all(np.abs(np.asarray(params.mean)) < 10)
        live = np.asarray(params.weight) > 0
        # every live component's smallest eigenvalue is at least the floor
        floor = float(
            gmm.variance_floor(
                jnp.asarray(points, jnp.float32), jnp.ones(len(points), jnp.float32)
            )
        )
        for factor in np.asarray(params.chol, np.float64)[live]:
            assert np.linalg.eigvalsh(_cov(factor)).min() >= 0.99 * floor, points
    # identical points: covariance f I (the floor alone), as scikit-learn's
    # reg_covar gives
    params, _, _ = run(
        jnp.asarray([[1.5, -0.5]] * 6 + [[7e3, -7e3]] * 2, jnp.float32),
        jnp.asarray([1.0] * 6 + [0.0] * 2, jnp.float32),
        _prng.key(2),
    )
    cov = _cov(np.asarray(params.chol, np.float64)[0])
    floor = float(gmm.variance_floor(jnp.full((6, 2), 1.5), jnp.ones(6)))
    np.testing.assert_allclose(cov, floor * np.eye(2), rtol=1e-5, atol=1e-3 * floor)


def test_sampler_moments():
    """Draws at tau = 0.6 have the mixture's mean and tau^2-scaled covariance
    (within covariance: the tau^2 L L^T; between: the means' spread)."""
    weight = np.array([0.3, 0.0, 0.7])
    mean = np.array([[-1.0, 2.0], [50.0, 50.0], [2.0, -0.5]])
    chol = np.array([[1.0, 0.5, 0.4], [1.0, 0.0, 1.0], [0.3, -0.2, 0.8]])
    tau = 0.6
    params = GMM2Params(*(jnp.asarray(a, jnp.float32) for a in (weight, mean, chol)))
    num = 200_000
    x = np.asarray(
        GMM(components=3, truth="moons")
        .sample(_prng.key(5), params, num, tau, False)
        .data,
        np.float64,
    )
    mu = weight @ mean
    cov = sum(
        weight[j] * (tau**2 * _cov(chol[j]) + np.outer(mean[j] - mu, mean[j] - mu))
        for j in range(3)
    )
    d = x - mu
    for values, want in (
        (x[:, 0], mu[0]),
        (x[:, 1], mu[1]),
        (d[:, 0] ** 2, cov[0, 0]),
        (d[:, 0] * d[:, 1], cov[0, 1]),
        (d[:, 1] ** 2, cov[1, 1]),
    ):
        z = (values.mean() - want) / (values.std(ddof=1) / np.sqrt(num))
        assert abs(z) < Z, (want, values.mean(), z)


def _np_kl_blobs(weight, mean, chol, noise, draws, seed):
    """KL(q || blobs) by plain Monte Carlo in float64 with scipy densities:
    (estimate, standard error)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(weight), size=draws, p=weight)
    z = rng.normal(size=(draws, 2))
    f = chol[pick]
    y = mean[pick] + np.c_[f[:, 0] * z[:, 0], f[:, 1] * z[:, 0] + f[:, 2] * z[:, 1]]
    log_q = special.logsumexp(_np_logcomp(y, weight, mean, chol), axis=1)
    sd2 = 1 + noise**2
    comps = [stats.multivariate_normal(c, sd2 * np.eye(2)).logpdf(y) for c in CENTRES]
    log_p = special.logsumexp(np.stack(comps, -1), axis=1) - np.log(3)
    f = log_q - log_p
    return f.mean(), f.std(ddof=1) / np.sqrt(draws)


@pytest.mark.parametrize(
    "weight, mean, chol",
    [
        ([0.5, 0.5], [[-3.5, 1.0], [2.0, -1.0]], [[1.2, 0.3, 0.9], [2.0, -0.5, 1.5]]),
        (
            [0.2, 0.3, 0.5],
            CENTRES + 0.3,
            [[1.0, 0.0, 1.0], [0.7, 0.2, 1.1], [1.3, 0.0, 0.6]],
        ),
    ],
)
def test_monte_carlo_kl_is_unbiased(weight, mean, chol):
    weight, mean, chol = (np.asarray(a, np.float64) for a in (weight, mean, chol))
    model = GMM(components=len(weight), truth="blobs")
    params = GMM2Params(*(jnp.asarray(a, jnp.float32) for a in (weight, mean, chol)))
    centres = jnp.asarray(CENTRES, jnp.float32)
    keys = jax.vmap(lambda i: jax.random.fold_in(_prng.key(11), i))(jnp.arange(400))
    ours = np.asarray(
        jax.vmap(lambda k: model.kl_2d(params, centres, k))(keys), np.float64
    )
    want, want_se = _np_kl_blobs(weight, mean, chol, model.truth_noise, 400_000, 3)
    z = (ours.mean() - want) / np.hypot(ours.std(ddof=1) / np.sqrt(len(ours)), want_se)
    assert abs(z) < Z, (ours.mean(), want, z)


def test_kl_of_the_truth_itself_is_zero():
    """q = P (blobs, k = 3): log q - log P is rounding at every draw."""
    model = GMM(components=3, truth="blobs")
    sd = np.sqrt(1 + model.truth_noise**2)
    params = GMM2Params(
        jnp.full(3, 1 / 3, jnp.float32),
        jnp.asarray(CENTRES, jnp.float32),
        jnp.asarray([[sd, 0.0, sd]] * 3, jnp.float32),
    )
    kl = float(model.kl_2d(params, jnp.asarray(CENTRES, jnp.float32), _prng.key(0)))
    assert abs(kl) < 1e-5


def test_metrics_need_a_key_and_name_their_columns():
    model = GMM(components=2, truth="moons")
    assert model.metric_names == (
        "test_nll", "kl", "weight_1", "weight_2", "mean_x_1", "mean_x_2",
        "mean_y_1", "mean_y_2", "var_1", "var_2",
    )  # fmt: skip
    assert model.dim == 2 and model.metrics_draw and not GMM().metrics_draw
    x, w = _data(2, 30)
    params = model.fit(_prng.key(0), _pool(x, w))
    with pytest.raises(ValueError, match="key"):
        model.metrics(params, None, jnp.asarray(x))


@pytest.mark.parametrize("truth", ["moons", "circles", "blobs"])
def test_truth_draws_are_the_kde_familys(truth):
    g, k = GMM(truth=truth, factor=0.6), kde.KDE(dim=2, truth=truth, factor=0.6)
    key = _prng.key(9)
    centres = g.init_truth(key)
    if truth == "blobs":
        np.testing.assert_array_equal(
            np.asarray(centres), np.asarray(k.init_truth(key))
        )
    a = g.sample_truth(key, centres, 31, False).data
    np.testing.assert_array_equal(
        np.asarray(a), np.asarray(k.sample_truth(key, centres, 31, False).data)
    )
    np.testing.assert_array_equal(
        np.asarray(g.reference(key, centres, 31, False)), np.asarray(a)
    )


@pytest.mark.parametrize("truth", ["moons", "circles", "blobs"])
@pytest.mark.parametrize("workflow", ["replace", "accumulate", "fresh"])
def test_short_runs_are_finite_and_sorted(truth, workflow):
    r = jc.simulate(
        GMM(components=3, em_steps=8, truth=truth),
        workflow,
        num_samples=20,
        num_generations=3,
        num_chains=64,
        num_test=30,
        seed=2,
        keep_trajectories=64,
    )
    assert all(int(np.sum(v["nonfinite"])) == 0 for v in r.metrics.values())
    assert r.theory == {}
    weights = sum(r.trajectories[f"weight_{i}"] for i in (1, 2, 3))
    np.testing.assert_allclose(weights, 1.0, atol=1e-5)
    mx = np.stack([r.trajectories[f"mean_x_{i}"] for i in (1, 2, 3)])
    assert np.all(np.diff(mx, axis=0) >= 0)
    assert np.all(r.trajectories["kl"] > -0.5)  # Monte Carlo noise, not a sign error
    assert np.all(np.asarray([r.trajectories[f"var_{i}"] for i in (1, 2, 3)]) > 0)


def test_replace_drifts_away_from_blobs():
    """Under replace the test NLL grows (collapse): more chains rise from
    generation 0 to 8 than fall, by a sign test (the rises are heavy-tailed:
    a chain whose components merge jumps, so a z-score of their mean is weak)."""
    r = jc.simulate(
        GMM(components=3, em_steps=10, truth="blobs"),
        "replace",
        num_samples=30,
        num_generations=8,
        num_chains=200,
        num_test=100,
        seed=4,
        keep_trajectories=200,
    )
    rise = r.trajectories["test_nll"][:, -1] - r.trajectories["test_nll"][:, 0]
    num = len(rise)
    z = (np.sum(rise > 0) - num / 2) / np.sqrt(num / 4)
    assert z > Z, (np.sum(rise > 0), z)


def test_same_numbers_in_segments_and_chunks():
    """The Monte Carlo KL's draws come from the engine's per-generation metrics
    key and are computed once: a run in segments of 2 generations and chunks
    of 64 chains gives the same bits as one segment and one chunk."""
    model = GMM(components=3, em_steps=5, truth="moons")
    kw = dict(num_samples=20, num_generations=4, num_chains=100, num_test=50, seed=3)
    whole = jc.simulate(model, "replace", **kw)
    parts = jc.simulate(model, "replace", segment_length=2, chunk_size=64, **kw)
    assert parts.to_dict()["metrics"] == whole.to_dict()["metrics"]


def test_metric_values_on_known_params():
    """The reported columns are the params' own, sorted by mean_x: weights,
    both mean coordinates, the covariance trace (l11^2 + l21^2 + l22^2)."""
    model = GMM(components=3, truth="blobs")
    weight = np.array([0.5, 0.2, 0.3])
    mean = np.array([[2.0, -1.0], [-3.0, 4.0], [0.5, 0.25]])
    chol = np.array([[1.0, 0.5, 0.3], [0.2, -0.1, 0.4], [2.0, 1.5, 0.7]])
    params = GMM2Params(*(jnp.asarray(a, jnp.float32) for a in (weight, mean, chol)))
    ref = jnp.asarray(CENTRES, jnp.float32)
    got = model.metrics(params, jnp.asarray(CENTRES, jnp.float32), ref, _prng.key(0))
    order = np.argsort(mean[:, 0])
    for i, j in enumerate(order, 1):
        assert got[f"weight_{i}"] == pytest.approx(weight[j])
        assert got[f"mean_x_{i}"] == pytest.approx(mean[j, 0])
        assert got[f"mean_y_{i}"] == pytest.approx(mean[j, 1])
        assert got[f"var_{i}"] == pytest.approx(np.trace(_cov(chol[j])), rel=1e-6)
    log_q = special.logsumexp(_np_logcomp(CENTRES, weight, mean, chol), axis=1)
    assert float(got["test_nll"]) == pytest.approx(-log_q.mean(), rel=1e-5)


def test_seeding_measures_distance_in_both_coordinates():
    """Two tight clusters that differ only in y: k-means++'s second seed is in
    the other cluster unless D^2 ignores y (then it falls back to the weights,
    the same cluster half the time). With spread 0.01 against a gap of 20, the
    chance of a same-cluster pair is about 1e-7 a draw."""
    rng = np.random.default_rng(0)
    y = np.repeat([-10.0, 10.0], 20)
    x = np.c_[np.zeros(40), y] + 0.01 * rng.normal(size=(40, 2))
    x, w = jnp.asarray(x, jnp.float32), jnp.ones(40, jnp.float32)
    for seed in range(20):
        seeds = np.asarray(gmm.seed_means(_prng.key(seed), x, w, 2))
        assert np.sign(seeds[0, 1]) != np.sign(seeds[1, 1]), seeds


def test_truth_noise_the_truth_density_cannot_resolve_is_refused():
    from jaxcollapse.models.kde import KDE, min_truth_noise

    assert min_truth_noise("moons") == pytest.approx(np.pi / 8192)
    with pytest.raises(ValueError, match="truth_noise must be at least"):
        GMM(truth="moons", truth_noise=1e-4)
    GMM(truth="blobs", truth_noise=1e-4)  # blobs' density is exact
    thin = KDE(dim=2, truth="circles", truth_noise=1e-4)  # no density needed
    kw = dict(num_samples=10, num_generations=1, num_chains=8, num_test=10)
    with pytest.raises(ValueError, match="truth_noise must be at least"):
        jc.simulate(thin, "replace", verify="truth", keep_fraction=0.5, **kw)
    r = jc.simulate(thin, "replace", **kw)
    assert all(int(np.sum(v["nonfinite"])) == 0 for v in r.metrics.values())
