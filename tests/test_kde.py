"""The `kde` family: fit, sampler and densities against NumPy/SciPy, the named
truths against a NumPy reading of SPEC §2, and simulation against theory/kde.py.

Budget: ALPHA_MODULE (conftest) split by Bonferroni over NUM_COMPARISONS, every
z-score and chi-square test in this module."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

import jaxcollapse as jc
from jaxcollapse.chain import Sizes, advance_chain, init_chain
from jaxcollapse.models import kde as kde_module
from jaxcollapse.models.kde import KDE, distinct_roots
from jaxcollapse.theory import kde as kde_theory
from jaxcollapse.workflows import Pool, get_workflow
from tests.conftest import ALPHA_MODULE, z_limit

# (workflow, bandwidth, dim, num_real, temperatures, real_weight, truth)
THEORY_CASES = [
    ("replace", 0.5, 1, None, [1.0, 0.7], None, "normal"),
    ("replace", "scott", 1, 30, [1.0], None, "normal"),
    ("accumulate", "scott", 2, None, [1.2], None, "normal"),
]
SLOW_THEORY_CASES = [
    ("fresh", 0.4, 1, None, [1.0], 0.6, "normal"),
    ("fresh", "scott", 2, 12, [0.9], None, "moons"),
    ("fresh", 0.3, 1, None, [1.0], 0.0, "normal"),
    ("mix", "scott", 1, None, [1.0], 0.3, "normal"),
    ("augment", 0.5, 2, 8, [1.1], None, "blobs"),
    ("accumulate-subsample", 0.5, 1, None, [1.0], None, "normal"),
    ("accumulate-subsample", "scott", 2, 30, [0.8], None, "circles"),
    ("accumulate", 0.2, 2, 10, [1.0], None, "moons"),
]
CHECK_GENERATIONS = (1, 4, 8)
NUM_THEORY = (
    sum(len(c[4]) for c in THEORY_CASES + SLOW_THEORY_CASES)
    * len(CHECK_GENERATIONS)
    * 2
)
NUM_SAMPLER = 1 + 2 + 1  # chi-square, noise mean per dim, noise variance
NUM_TRUTH_SHAPES = 2 * 3 + 3 + 2  # moons, circles, blobs residuals; centres
NUM_TRUTH_MOMENTS = 3 * 2
NUM_COMPARISONS = NUM_THEORY + NUM_SAMPLER + NUM_TRUTH_SHAPES + NUM_TRUTH_MOMENTS
Z = z_limit(NUM_COMPARISONS)
P_MIN = ALPHA_MODULE / NUM_COMPARISONS


def _z(mean, expected, sem):
    return (mean - expected) / sem


# -- settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, setting",
    [
        (dict(dim=0), "dim"),
        (dict(dim=1.5), "dim"),
        (dict(bandwidth=0.0), "bandwidth"),
        (dict(bandwidth=-1.0), "bandwidth"),
        (dict(bandwidth=True), "bandwidth"),
        (dict(bandwidth="silverman"), "bandwidth"),
        (dict(bandwidth=math.inf), "bandwidth"),
        (dict(truth="swiss-roll"), "truth"),
        (dict(truth="moons"), "dim"),
        (dict(truth="blobs", dim=3), "dim"),
        (dict(truth_noise=0.0), "truth_noise"),
        (dict(truth_noise="a"), "truth_noise"),
        (dict(dim=2, truth="circles", factor=1.0), "factor"),
        (dict(factor=-0.1), "factor"),
    ],
)
def test_bad_settings_raise(kwargs, setting):
    with pytest.raises(ValueError, match=setting) as info:
        KDE(**kwargs)
    assert "\n" not in str(info.value)


def test_too_few_points_raise():
    with pytest.raises(ValueError, match="num_samples"):
        jc.simulate(KDE(), "replace", num_samples=1, num_generations=1, num_chains=1)


# -- fit, density, sampler against NumPy -----------------------------------------


def _weighted_pool(rng, capacity, count, dim):
    data = np.zeros((capacity, dim), np.float32)
    weight = np.zeros(capacity, np.float32)
    data[:count] = rng.normal(size=(count, dim)) * [1.5, 0.5][:dim]
    weight[:count] = rng.uniform(0.5, 2.0, count)
    weight[[3, 10, 20]] = 0.0
    root = np.zeros(capacity, np.int32)
    root[:count] = rng.integers(-1, 15, count)
    pool = Pool(
        jnp.asarray(data),
        jnp.asarray(weight),
        jnp.int32(count),
        None,
        jnp.asarray(root),
    )
    return pool, data, weight, root


@pytest.mark.parametrize(
    "bandwidth, pool_block", [(0.3, None), ("scott", None), (0.3, 16)]
)
def test_fit_density_and_metrics_match_numpy(bandwidth, pool_block, monkeypatch):
    """Weighted pool with zero weights and empty slots; more query points than
    one block of the streaming log-sum-exp, and (pool_block 16) more slots than
    one pool block, so the running (max, sum) over pool blocks is checked too."""
    if pool_block is not None:
        monkeypatch.setattr(kde_module, "POOL_BLOCK", pool_block)
    rng = np.random.default_rng(0)
    dim, capacity, count = 2, 70, 50
    pool, data, weight, root = _weighted_pool(rng, capacity, count, dim)
    model = KDE(dim=dim, bandwidth=bandwidth)
    params = jax.jit(model.fit)(jax.random.key(0), pool)

    live = weight > 0
    w = weight[live].astype(np.float64)
    x = data[live].astype(np.float64)
    mean = (w[:, None] * x).sum(0) / w.sum()
    per_dim = (w[:, None] * (x - mean) ** 2).sum(0) / w.sum()
    spread = per_dim.sum()
    if bandwidth == "scott":
        h = math.sqrt(per_dim.mean()) * live.sum() ** -0.2
    else:
        h = bandwidth
    np.testing.assert_allclose(params.spread, spread, rtol=1e-5)
    np.testing.assert_allclose(params.bandwidth, h, rtol=1e-5)

    query = rng.normal(size=(300, dim)) * 1.5
    comp = stats.norm.logpdf(query[:, None, :], x[None, :, :], h).sum(-1)
    direct = special.logsumexp(comp + np.log(w / w.sum()), axis=1)
    ours = jax.jit(model.log_density)(params, Pool.full(jnp.asarray(query), None))
    np.testing.assert_allclose(ours, direct, rtol=1e-5, atol=1e-4)

    metrics = jax.jit(model.metrics)(params, None, jnp.asarray(query, jnp.float32))
    np.testing.assert_allclose(metrics["test_nll"], -direct.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["var"], spread + dim * h**2, rtol=1e-5)
    roots = set(root[live & (root >= 0)].tolist())
    assert metrics["distinct_roots"] == len(roots)


def test_distinct_roots_counts_labels_of_positive_weight():
    root = jnp.asarray([3, 3, 0, -1, 7, 7, 2, 5, 0], jnp.int32)
    weight = jnp.asarray([1, 1, 0.5, 1, 0, 2, 0, 1, 0], jnp.float32)
    assert int(distinct_roots(root, weight)) == 4  # labels 3, 0, 7, 5


def test_distinct_roots_matches_numpy_unique():
    rng = np.random.default_rng(3)
    count = jax.jit(distinct_roots)
    for capacity in (1, 7, 100, 1000):
        root = rng.integers(-1, capacity, capacity)
        weight = rng.random(capacity) * (rng.random(capacity) < 0.6)
        live = root[(weight > 0) & (root >= 0)]
        got = count(jnp.asarray(root, jnp.int32), jnp.asarray(weight, jnp.float32))
        assert int(got) == np.unique(live).size


@pytest.mark.parametrize("where", [0.25, 5.0, -40.0])
def test_collapsed_bandwidth_gives_inf_not_nan(where):
    """Scott's h on coinciding points is 0: a point mass, test_nll = +inf, also
    far from the origin (coordinates scaled by 1 / tiny must not overflow into
    inf - inf)."""
    model = KDE(bandwidth="scott")
    pool = Pool.full(jnp.full((5, 1), where), None, jnp.arange(5, dtype=jnp.int32))

    @jax.jit
    def fit_and_measure(pool):
        params = model.fit(jax.random.key(0), pool)
        query = jnp.asarray([[0.0], [1.0], [where + 0.1]])
        return params, model.metrics(params, None, query)

    params, out = fit_and_measure(pool)
    assert float(params.bandwidth) == 0.0
    assert out["test_nll"] == np.inf
    assert out["var"] == 0.0 and out["distinct_roots"] == 5


def test_small_bandwidth_far_from_the_origin_keeps_its_precision():
    """h = 1e-4 around centres near 10: the log density from differences of raw
    coordinates, as float64 SciPy computes it (scaling the coordinates first
    would lose about |x| / h float32 steps in each z)."""
    rng = np.random.default_rng(11)
    centres = (10.0 + 1e-3 * rng.normal(size=(40, 1))).astype(np.float32)
    query = (10.0 + 1e-3 * rng.normal(size=(30, 1))).astype(np.float32)
    h = np.float32(1e-4)
    log_w = np.full(40, -math.log(40.0), np.float32)
    ours = jax.jit(kde_module.mixture_log_density)(
        jnp.asarray(query), jnp.asarray(centres), jnp.asarray(log_w), jnp.asarray(h)
    )
    c, q = centres.astype(np.float64), query.astype(np.float64)
    comp = stats.norm.logpdf(q[:, None, 0], c[None, :, 0], float(h))
    direct = special.logsumexp(comp + log_w.astype(np.float64), axis=1)
    np.testing.assert_allclose(ours, direct, rtol=2e-4, atol=2e-3)


def test_sampler_picks_points_proportional_to_weight():
    """Inverse-CDF picks: counts per slot by chi-square; zero-weight and empty
    slots never picked; the added noise is h tau N(0, I)."""
    weight = np.array([0, 1, 2, 0, 3, 0.5, 4, 0, 1.5, 0, 0, 0], np.float32)
    capacity = weight.size
    rng = np.random.default_rng(1)
    data = rng.normal(size=(capacity, 2)).astype(np.float32) * (weight > 0)[:, None]
    pool = Pool(
        jnp.asarray(data),
        jnp.asarray(weight),
        jnp.int32(9),
        None,
        jnp.arange(capacity, dtype=jnp.int32),
    )
    model = KDE(dim=2, bandwidth=0.2)
    params = jax.jit(model.fit)(jax.random.key(0), pool)
    num, tau = 20_000, 0.5
    draw = jax.jit(model.sample, static_argnums=2)(
        jax.random.key(7), params, num, tau, False
    )
    picked = np.asarray(draw.root)
    counts = np.bincount(picked, minlength=capacity)
    assert counts[weight == 0].sum() == 0
    live = weight > 0
    expected = num * weight[live] / weight.sum(dtype=np.float64)
    assert stats.chisquare(counts[live], expected).pvalue > P_MIN
    noise = (np.asarray(draw.data) - data[picked]) / (0.2 * tau)
    for k in range(2):
        assert abs(_z(noise[:, k].mean(), 0.0, 1 / math.sqrt(num))) < Z
    flat = noise.ravel()
    assert abs(_z((flat**2).mean(), 1.0, math.sqrt(2 / flat.size))) < Z


# -- named truths ----------------------------------------------------------------


def _spec_positions(truth, m, factor):
    """SPEC §2 read directly: floor(m/2) points on the first arc, the rest on
    the second."""
    first, second = m // 2, m - m // 2
    if truth == "moons":
        a, b = np.linspace(0, np.pi, first), np.linspace(0, np.pi, second)
        return np.concatenate(
            [
                np.c_[np.cos(a), np.sin(a)],
                np.c_[1 - np.cos(b), 1 - np.sin(b) - 0.5],
            ]
        )
    a = 2 * np.pi * np.arange(first) / first
    b = 2 * np.pi * np.arange(second) / second
    return np.concatenate(
        [np.c_[np.cos(a), np.sin(a)], factor * np.c_[np.cos(b), np.sin(b)]]
    )


@pytest.mark.parametrize("truth", ["moons", "circles"])
def test_arc_truths_follow_the_spec(truth):
    """A draw is the SPEC positions plus N(0, s^2) noise: residual means and
    variance by z-score (an arc count off by one point shifts them by far more
    than the bound)."""
    m, noise = 2001, 0.05
    model = KDE(dim=2, truth=truth, truth_noise=noise, factor=0.6)
    real = model.sample_truth(jax.random.key(3), None, m, False)
    assert real.data.shape == (m, 2)
    np.testing.assert_array_equal(real.root, np.arange(m))
    fresh = real.unrooted()  # what workflow fresh does to its fresh draws
    assert (np.asarray(fresh.root) == -1).all()
    res = (np.asarray(real.data, np.float64) - _spec_positions(truth, m, 0.6)) / noise
    for k in range(2):
        assert abs(_z(res[:, k].mean(), 0.0, 1 / math.sqrt(m))) < Z
    flat = res.ravel()
    assert abs(_z((flat**2).mean(), 1.0, math.sqrt(2 / flat.size))) < Z


def test_blobs_follow_the_spec():
    """Centres uniform in [-10, 10]^2 (mean and second moment over chains); m
    points split as evenly as possible over the centres in order, spread
    sqrt(1 + s^2) around each."""
    model = KDE(dim=2, truth="blobs", truth_noise=0.5)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(5), i))(
        jnp.arange(2000)
    )
    centres = jax.jit(jax.vmap(model.init_truth))(keys)
    centres = np.asarray(centres, np.float64).ravel()
    assert (np.abs(centres) <= 10).all()
    assert abs(_z(centres.mean(), 0.0, math.sqrt(100 / 3 / centres.size))) < Z
    sd_square = math.sqrt(1e4 / 5 - (100 / 3) ** 2)
    sem = sd_square / math.sqrt(centres.size)
    assert abs(_z((centres**2).mean(), 100 / 3, sem)) < Z

    m = 2002
    truth = model.init_truth(jax.random.key(6))
    real = model.sample_truth(jax.random.key(7), truth, m, False)
    labels = np.repeat([0, 1, 2], [668, 667, 667])
    res = np.asarray(real.data, np.float64) - np.asarray(truth)[labels]
    res /= math.sqrt(1 + 0.5**2)
    for k in range(2):
        assert abs(_z(res[:, k].mean(), 0.0, 1 / math.sqrt(m))) < Z
    flat = res.ravel()
    assert abs(_z((flat**2).mean(), 1.0, math.sqrt(2 / flat.size))) < Z


@pytest.mark.parametrize("truth", ["moons", "circles", "blobs"])
def test_truth_moments_used_by_theory(truth):
    """E[variance of a draw] = e0 and E|mean - centre|^2 = v (theory/kde.py)."""
    r, chains, noise = 7, 4000, 0.2
    model = KDE(dim=2, truth=truth, truth_noise=noise, factor=0.5)
    e0, v = kde_theory._truth_moments(truth, 2, r, noise, 0.5)

    def one(key):
        truth_params = model.init_truth(jax.random.fold_in(key, 0))
        x = model.sample_truth(jax.random.fold_in(key, 1), truth_params, r, False)
        return x.data, truth_params

    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(9), i))(
        jnp.arange(chains)
    )
    x, centres = jax.jit(jax.vmap(one))(keys)
    x = np.asarray(x, np.float64)
    if truth == "blobs":
        share = np.array([3, 2, 2]) / r
        centre = np.einsum("k,ckd->cd", share, np.asarray(centres, np.float64))
    else:
        centre = np.broadcast_to(_spec_positions(truth, r, 0.5).mean(0), (chains, 2))
    var = x.var(axis=1).sum(-1)
    off = ((x.mean(axis=1) - centre) ** 2).sum(-1)
    for sample, expected in ((var, e0), (off, v)):
        sem = sample.std(ddof=1) / math.sqrt(chains)
        assert abs(_z(sample.mean(), expected, sem)) < Z


@pytest.mark.parametrize("truth", ["normal", "moons", "circles", "blobs"])
def test_truth_log_density(truth):
    """Exact for normal and blobs; for the arcs, against adaptive quadrature of
    the uniform-angle arc convolved with the noise."""
    dim = 1 if truth == "normal" else 2
    noise, factor = 0.1, 0.5
    model = KDE(dim=dim, truth=truth, truth_noise=noise, factor=factor)
    centres = model.init_truth(jax.random.key(1))
    rng = np.random.default_rng(2)
    if truth in ("moons", "circles"):
        base = _spec_positions(truth, 40, factor)
        x = base[rng.integers(0, 40, 6)] + rng.normal(size=(6, 2)) * 2 * noise
        x = np.concatenate([x, [[-1.0, 0.0], [1.0, 0.0], [2.0, -0.5]]])
    else:
        x = rng.normal(size=(8, dim)) * 2
    ours = np.asarray(
        model.truth_log_density(centres, Pool.full(jnp.asarray(x, jnp.float32), None))
    )
    if truth == "normal":
        expected = stats.norm.logpdf(x).sum(-1)
    elif truth == "blobs":
        c = np.asarray(centres, np.float64)
        sd = math.sqrt(1 + noise**2)
        comp = stats.norm.logpdf(x[:, None, :], c[None], sd).sum(-1)
        expected = special.logsumexp(comp, axis=1) - math.log(3)
    else:
        expected = []
        for point in x:
            total = 0.0
            for arc in (0, 1):

                def density(a, point=point, arc=arc):
                    if truth == "moons":
                        c = (
                            (math.cos(a), math.sin(a))
                            if arc == 0
                            else (1 - math.cos(a), 0.5 - math.sin(a))
                        )
                    else:
                        r = 1.0 if arc == 0 else factor
                        c = (r * math.cos(a), r * math.sin(a))
                    d2 = (point[0] - c[0]) ** 2 + (point[1] - c[1]) ** 2
                    return math.exp(-d2 / (2 * noise**2)) / (2 * math.pi * noise**2)

                span = math.pi if truth == "moons" else 2 * math.pi
                value, _ = integrate.quad(density, 0, span, limit=400, epsabs=0)
                total += 0.5 * value / span
            expected.append(math.log(total))
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=2e-3)


# -- the engine ------------------------------------------------------------------


def _run(case, **extra):
    workflow, bandwidth, dim, num_real, temps, lam, truth = case
    out = jc.simulate(
        KDE(dim=dim, bandwidth=bandwidth, truth=truth),
        workflow,
        num_samples=20,
        num_generations=8,
        num_chains=2000,
        seed=11,
        num_real=num_real,
        num_test=4,
        temperature=temps if len(temps) > 1 else temps[0],
        real_weight=lam,
        **extra,
    )
    return out if isinstance(out, list) else [out]


def _case_id(case):
    return f"{case[0]}-{case[1]}-d{case[2]}-{case[6]}"


@pytest.mark.parametrize("case", THEORY_CASES, ids=_case_id)
def test_simulation_matches_theory(case):
    _check_theory(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_THEORY_CASES, ids=_case_id)
def test_simulation_matches_theory_other_workflows(case):
    _check_theory(case)


def _check_theory(case):
    keep = 2000 if case[0] == "replace" else 0
    for res in _run(case, keep_trajectories=keep):
        theory = res.theory
        assert "var" in theory
        if case[0] in ("replace", "accumulate", "augment"):
            assert "distinct_roots" in theory
        for name, expected in theory.items():
            stat = res.metrics[name]
            assert expected.shape == (9,)
            assert (stat["nonfinite"] == 0).all()
            if stat["sem"][1] == 0:  # a constant, e.g. all of D_0 stays in
                np.testing.assert_array_equal(stat["mean"], expected)
                continue
            for t in CHECK_GENERATIONS:
                z = _z(stat["mean"][t], expected[t], stat["sem"][t])
                assert abs(z) < Z, f"{name} at generation {t}: z = {z:.2f}"
        if keep:  # structural: D_0's labels at t = 0, then never a new one
            roots = res.trajectories["distinct_roots"]
            num_real = case[3] or 20
            assert (roots[:, 0] == num_real).all()
            assert (np.diff(roots, axis=1) <= 0).all()


def test_theory_fixed_point_and_scott_growth():
    """Closed forms quoted in the docstring: (n-1) h^2 fixed point at tau = 1
    under replace; geometric growth by (n-1)/n (1 + n^(-2/5)) with Scott."""
    n, h = 10, 0.3
    base = dict(model="kde", workflow="replace", num_samples=n, num_real=n)
    long = kde_theory.theory(
        dict(base, num_generations=400, bandwidth=h, temperature=1.0)
    )
    np.testing.assert_allclose(long["var"][-1], (n - 1) * h**2 + h**2, rtol=1e-6)
    scott = kde_theory.theory(
        dict(base, num_generations=3, bandwidth="scott", temperature=1.0)
    )["var"]
    np.testing.assert_allclose(
        scott[1:] / scott[:-1], (n - 1) / n * (1 + n**-0.4), rtol=1e-12
    )
    assert kde_theory.theory(dict(base, num_generations=3, workflow="nope")) == {}


def test_accumulate_test_nll_matches_direct_evaluation():
    """One accumulate chain run by the engine's own functions: at generation 2
    its pool has 26 of 46 slots filled; test_nll equals a direct NumPy
    evaluation over the pool (two blocks of slots, two of test points)."""
    model = KDE(bandwidth=0.4)
    sizes = Sizes(num_samples=10, num_generations=4, num_real=6, num_test=300)
    flow = get_workflow("accumulate")

    @jax.jit
    def run(key):
        state = init_chain(key, model, flow, sizes, False)  # model 0
        steps = jnp.arange(0, 2, dtype=jnp.uint32)  # emit 0, 1; return model 2
        state, _ = advance_chain(key, state, steps, model, flow, sizes, 1.0, 0.0, False)
        return state, model.metrics(state.params, state.truth, state.ref)["test_nll"]

    state, nll = run(jax.random.key(4))
    weight = np.asarray(state.params.weight)
    assert weight.shape == (46,) and (weight > 0).sum() == 26
    points = np.asarray(state.params.data, np.float64)[weight > 0, 0]
    ref = np.asarray(state.ref, np.float64)[:, 0]
    comp = stats.norm.logpdf(ref[:, None], points[None, :], 0.4)
    direct = -(special.logsumexp(comp, axis=1) - math.log(26)).mean()
    np.testing.assert_allclose(nll, direct, rtol=1e-5)


FRESH_RUN = dict(num_samples=10, num_generations=3, num_chains=128, seed=3, num_test=4)


def test_fresh_real_points_are_new_roots_never_counted():
    """Under fresh, the workflow labels fresh real points -1 (Pool.unrooted):
    distinct_roots starts at num_real and never grows. (Had fresh points D_0's
    labels, all num_real labels would be present every generation: a chain
    keeps all 10 roots through generation 1 with probability 10!/10^10.)"""
    res = jc.simulate(KDE(bandwidth=0.3), "fresh", keep_trajectories=128, **FRESH_RUN)
    roots = res.trajectories["distinct_roots"]
    assert (roots[:, 0] == 10).all()
    assert (np.diff(roots, axis=1) <= 0).all()
    assert (roots[:, 1] < 10).any()


# Slow: test_family_invariance's KDE fresh and accumulate cases check the same
# bits on other chunk sizes and device counts in the default run.
@pytest.mark.slow
def test_identical_for_two_chunk_sizes():
    """The run above (compiled once already when the module runs in order),
    then in chunks of 64 chains: every statistic bit-identical."""
    model = KDE(bandwidth=0.3)
    a = jc.simulate(model, "fresh", keep_trajectories=128, **FRESH_RUN)
    b = jc.simulate(model, "fresh", keep_trajectories=128, chunk_size=64, **FRESH_RUN)
    assert a.config["chunk_size"] != b.config["chunk_size"]
    for name in a.metrics:
        for stat, values in a.metrics[name].items():
            np.testing.assert_array_equal(values, b.metrics[name][stat], name + stat)
        np.testing.assert_array_equal(a.trajectories[name], b.trajectories[name])
