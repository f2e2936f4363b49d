"""Closed-form Gaussian-chain theory against an independent NumPy simulator.

The simulator below literally draws every generation's points and refits by the
weighted formula of SPEC §2/§4, vectorised over chains, in float64. Statistical
checks are z-tests of the across-chain mean against the theory with the standard
error sd / sqrt(chains).

False-failure budget: ALPHA = 1e-3 for the whole file, split by Bonferroni over
every z-test in it (NUM_ZTESTS, counted below from the configurations), so each
two-sided test uses |z| < norm.isf(ALPHA / (2 NUM_ZTESTS)) (about 4.8). Seeds are
fixed (config index) and were never tuned.
"""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from jaxcollapse.theory.gaussian import (
    fixed_point,
    fresh_fixed_point,
    gaussian_theory,
    golden_ratio_weight,
)

CHAINS = 20_000
GENERATIONS = 5

# (workflow, dim, ddof, temperature, num_samples, num_real, real_weight)
CONFIGS = []
for _wf in ("replace", "accumulate", "accumulate-subsample", "augment", "fresh", "mix"):
    for _i, (_d, _ddof, _tau, _n, _nr) in enumerate(
        [(1, 0, 0.9, 6, 8), (1, 1, 1.1, 8, 5), (3, 0, 1.0, 7, 7), (3, 1, 0.8, 6, 9)]
    ):
        _lam = {"mix": (0.6, 0.3, 0.8, 0.5)[_i]}.get(_wf)
        CONFIGS.append((_wf, _d, _ddof, _tau, _n, _nr, _lam))
CONFIGS += [
    ("fresh", 1, 1, 1.0, 5, 5, 0.618),
    ("fresh", 3, 0, 1.2, 6, 4, 0.3),
    ("fresh", 1, 1, 0.7, 5, 6, 1.0),  # real data only: generation 0's law throughout
    ("mix", 3, 0, 0.9, 6, 5, 0.0),  # D_0 weightless: the replace chain
    # lopsided weights, where the divisor 1 - ddof sum w^2 is far from 1 - ddof/N
    ("mix", 1, 1, 1.0, 20, 2, 0.9),
    ("fresh", 3, 1, 1.0, 12, 3, 0.85),
]
WISHART_CASES = [(1, 3), (3, 4), (3, 10)]  # (dim, degrees of freedom)


def _theory(cfg, generations=GENERATIONS):
    wf, d, ddof, tau, n, nr, lam = cfg
    return gaussian_theory(
        workflow=wf,
        num_samples=n,
        num_generations=generations,
        num_real=nr,
        dim=d,
        ddof=ddof,
        temperature=tau,
        real_weight=lam,
    )


ALPHA = 1e-3
NUM_ZTESTS = sum(v.size for cfg in CONFIGS for v in _theory(cfg).values()) + len(
    WISHART_CASES
)
Z_MAX = stats.norm.isf(ALPHA / (2 * NUM_ZTESTS))


def _assert_z(samples, expected, label):
    samples = np.asarray(samples, dtype=np.float64)
    sem = samples.std(ddof=1) / math.sqrt(samples.size)
    z = (samples.mean() - expected) / sem
    assert abs(z) < Z_MAX, (
        f"{label}: mean {samples.mean():.6g} vs theory {expected:.6g} (z={z:.2f})"
    )


# ----------------------------------------------------------------- reference simulator
def _fit(x, w, ddof):
    """Weighted mean / covariance of x (C, N, d) with weights w (N,), SPEC's divisor."""
    w = w / w.sum()
    mu = np.einsum("n,cnd->cd", w, x)
    dev = x - mu[:, None, :]
    cov = np.einsum("n,cni,cnj->cij", w, dev, dev) / (1.0 - ddof * np.sum(w**2))
    return mu, cov


def _draw(rng, mu, cov, k, tau):
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]  # root @ root.T = cov
    z = rng.standard_normal((mu.shape[0], k, mu.shape[1]))
    return mu[:, None, :] + tau * z @ np.swapaxes(root, 1, 2)


def _metrics(mu, cov):
    d = mu.shape[1]
    trace = np.trace(cov, axis1=1, axis2=2)
    sqerr = np.sum(mu**2, axis=1)
    sign, logdet = np.linalg.slogdet(cov)
    logdet = np.where(sign > 0, logdet, -np.inf)
    kl = 0.5 * (trace + sqerr - d - logdet)
    if d == 1:
        return {
            "mean": mu[:, 0],
            "mean_sqerr": sqerr,
            "var": trace,
            "std": np.sqrt(trace),
            "log_var": logdet,
            "kl": kl,
        }
    return {"mean_sqerr": sqerr, "trace_cov": trace, "log_det_cov": logdet, "kl": kl}


def simulate(cfg, chains, generations, rng):
    """Per-generation metric arrays (chains,) of a chain run point by point."""
    wf, d, ddof, tau, n, nr, lam = cfg
    real0 = rng.standard_normal((chains, nr, d))
    mu, cov = _fit(real0, np.ones(nr), ddof)
    pool = real0
    history = [_metrics(mu, cov)]
    for _ in range(generations):
        syn = _draw(rng, mu, cov, n, tau)
        if wf == "replace":
            x, w = syn, np.ones(n)
        elif wf in ("accumulate", "accumulate-subsample"):
            pool = np.concatenate([pool, syn], axis=1)
            x, w = pool, np.ones(pool.shape[1])
            if wf == "accumulate-subsample":
                keep = np.argsort(rng.random(pool.shape[:2]), axis=1)[:, :n]
                x, w = np.take_along_axis(pool, keep[:, :, None], axis=1), np.ones(n)
        else:
            real = rng.standard_normal((chains, nr, d)) if wf == "fresh" else real0
            x = np.concatenate([real, syn], axis=1)
            if lam is None:
                w = np.ones(nr + n)
            else:
                w = np.concatenate([np.full(nr, lam / nr), np.full(n, (1 - lam) / n)])
        mu, cov = _fit(x, w, ddof)
        history.append(_metrics(mu, cov))
    return history


@pytest.mark.parametrize(
    "index", range(len(CONFIGS)), ids=["-".join(map(str, c)) for c in CONFIGS]
)
def test_theory_matches_simulation(index):
    cfg = CONFIGS[index]
    theory = _theory(cfg)
    history = simulate(cfg, CHAINS, GENERATIONS, np.random.default_rng(1000 + index))
    for name, values in theory.items():
        assert values.shape == (GENERATIONS + 1,) and values.dtype == np.float64
        for t, expected in enumerate(values):
            _assert_z(history[t][name], expected, f"{cfg} {name} generation {t}")


def test_metric_sets():
    base = dict(num_samples=10, num_generations=3)
    full1 = {"mean", "mean_sqerr", "var", "std", "log_var", "kl"}
    fulld = {"mean_sqerr", "trace_cov", "log_det_cov", "kl"}
    assert set(gaussian_theory(workflow="replace", **base)) == full1
    assert set(gaussian_theory(workflow="replace", dim=2, **base)) == fulld
    for wf in ("accumulate", "accumulate-subsample", "augment", "fresh"):
        assert set(gaussian_theory(workflow=wf, **base)) == {
            "mean",
            "mean_sqerr",
            "var",
        }
        assert set(gaussian_theory(workflow=wf, dim=4, **base)) == {
            "mean_sqerr",
            "trace_cov",
        }
        assert (
            set(gaussian_theory(workflow=wf, num_samples=10, num_generations=0))
            == full1
        )
    assert set(gaussian_theory(workflow="mix", real_weight=0.4, **base)) == {
        "mean",
        "mean_sqerr",
        "var",
    }


# ------------------------------------------------------- special-function identities
@pytest.mark.parametrize("k", [1, 2, 3, 7, 30, 200])
def test_generation0_chi_moments(k):
    th = gaussian_theory(
        workflow="replace", num_samples=5, num_real=k + 1, num_generations=0, ddof=1
    )
    # E sigma_0 = E sqrt(chi2_k / k) and E log sigma_0^2 = E log chi2_k - log k
    assert th["std"][0] == pytest.approx(stats.chi(k).mean() / math.sqrt(k), rel=1e-12)

    # E log X by quadrature over u = log X; the density of u is negligible (< e^-30)
    # outside [-90, log(k + 30 sqrt(k) + 100)]
    def integrand(u):
        return u * math.exp(stats.chi2(k).logpdf(math.exp(u)) + u)

    e_log, _ = integrate.quad(
        integrand,
        -90.0,
        math.log(k + 30 * math.sqrt(k) + 100),
        points=[math.log(k)],
        epsabs=1e-11,
        epsrel=1e-11,
        limit=500,
    )
    assert th["log_var"][0] == pytest.approx(e_log - math.log(k), abs=1e-8)


@pytest.mark.parametrize("dim, k", WISHART_CASES)
def test_generation0_wishart_log_det(dim, k):
    th = gaussian_theory(
        workflow="replace", num_samples=5, num_real=k + 1, num_generations=0, dim=dim
    )
    draws = stats.wishart(df=k, scale=np.eye(dim)).rvs(
        size=CHAINS, random_state=np.random.default_rng(7)
    )
    logdet = np.linalg.slogdet(draws.reshape(CHAINS, dim, dim))[1]
    key = "log_var" if dim == 1 else "log_det_cov"
    _assert_z(logdet, th[key][0] + dim * math.log(k + 1), f"Wishart {dim} {k}")


def test_singular_fit_has_infinite_log_det():
    th = gaussian_theory(
        workflow="replace", num_samples=3, num_real=10, num_generations=2, dim=3
    )
    assert np.isfinite(th["log_det_cov"][0]) and np.all(
        th["log_det_cov"][1:] == -np.inf
    )
    assert np.all(th["kl"][1:] == np.inf)
    one = gaussian_theory(workflow="replace", num_samples=1, num_generations=2)
    assert np.all(one["var"][1:] == 0) and np.all(one["std"][1:] == 0)


# --------------------------------------------------------------------- exact identities
def test_replace_closed_form():
    n, nr, tau, ddof, T = 12, 9, 0.95, 1, 6
    th = gaussian_theory(
        workflow="replace",
        num_samples=n,
        num_real=nr,
        ddof=ddof,
        temperature=tau,
        num_generations=T,
    )
    c = tau**2 * (n - 1) / (n - ddof)
    var = (nr - 1) / (nr - ddof) * c ** np.arange(T + 1)
    np.testing.assert_allclose(th["var"], var, rtol=1e-13)
    msq = 1 / nr + tau**2 / n * np.concatenate([[0], np.cumsum(var[:-1])])
    np.testing.assert_allclose(th["mean_sqerr"], msq, rtol=1e-13)
    np.testing.assert_allclose(
        th["kl"], 0.5 * (var + msq - 1 - th["log_var"]), rtol=1e-13
    )


def test_degenerate_weights_reduce_to_other_workflows():
    kw = dict(
        num_samples=6, num_real=4, num_generations=8, dim=2, ddof=1, temperature=1.1
    )
    replace = gaussian_theory(workflow="replace", **kw)
    augment = gaussian_theory(workflow="augment", **kw)
    for wf in ("fresh", "mix"):
        zero = gaussian_theory(workflow=wf, real_weight=0.0, **kw)
        assert zero.keys() == replace.keys()
        for k in replace:
            np.testing.assert_allclose(zero[k], replace[k], rtol=1e-13)
        one = gaussian_theory(workflow=wf, real_weight=1.0, **kw)
        for v in one.values():
            np.testing.assert_allclose(v, v[0], rtol=1e-13)
    mix = gaussian_theory(workflow="mix", real_weight=4 / 10, **kw)
    for k in augment:
        np.testing.assert_allclose(mix[k], augment[k], rtol=1e-12)
    fresh = gaussian_theory(workflow="fresh", real_weight=4 / 10, **kw)
    fresh_eq = gaussian_theory(workflow="fresh", **kw)
    for k in fresh_eq:
        np.testing.assert_allclose(fresh[k], fresh_eq[k], rtol=1e-12)


def test_accumulate_pi_squared_over_six():
    """tau = 1, n_r = n, ddof = 1: E var_t = prod (1 - n/(N_k (N_k - 1))), and
    n E mu_t^2 lies between E var_inf and 1 times sum_{k<=t+1} 1/k^2 -> pi^2/6."""
    n, T = 1000, 100_000
    th = gaussian_theory(
        workflow="accumulate", num_samples=n, num_generations=T, ddof=1
    )
    N = n * np.arange(2, T + 2)
    np.testing.assert_allclose(
        th["var"][1:], np.cumprod(1 - n / (N * (N - 1.0))), rtol=1e-10
    )
    zeta = np.sum(1.0 / np.arange(1, T + 2) ** 2.0)
    assert th["var"][-1] * zeta <= n * th["mean_sqerr"][-1] <= zeta
    assert n * th["mean_sqerr"][-1] == pytest.approx(math.pi**2 / 6, rel=2e-4)
    assert th["var"][-1] == pytest.approx(1.0, abs=1e-3)


def test_fixed_points_match_long_recursions():
    for wf, lam, d in (
        ("fresh", 0.3, 1),
        ("fresh", None, 3),
        ("mix", 0.6, 2),
        ("augment", None, 1),
    ):
        kw = dict(
            num_samples=7, num_real=5, dim=d, ddof=1, temperature=1.05, real_weight=lam
        )
        fp = fixed_point(workflow=wf, **kw)
        th = gaussian_theory(workflow=wf, num_generations=3000, **kw)
        for k, v in fp.items():
            assert th[k][-1] == pytest.approx(v, rel=1e-10)
    assert fresh_fixed_point(num_samples=7, real_weight=0.3) == fixed_point(
        workflow="fresh", num_samples=7, real_weight=0.3
    )
    # large synthetic weight and tau > 1: the affine map is unstable, the limit is inf
    assert fresh_fixed_point(num_samples=50, temperature=3.0, real_weight=0.05) == {
        "var": math.inf,
        "mean_sqerr": math.inf,
    }
    # real_weight 0: the replace chain, whose variance dies at tau < 1
    fp = fresh_fixed_point(num_samples=10, temperature=0.9, real_weight=0.0)
    c = 0.81 * 9 / 10
    assert fp["var"] == 0 and fp["mean_sqerr"] == pytest.approx(
        0.1 + 0.81 * 0.9 / 10 / (1 - c)
    )


def test_golden_ratio():
    golden = (math.sqrt(5) - 1) / 2
    assert golden_ratio_weight(num_samples=10_000) == pytest.approx(golden, abs=1e-4)
    assert golden_ratio_weight(num_samples=10_000, ddof=1) == pytest.approx(
        golden, abs=1e-4
    )
    errors = [abs(golden_ratio_weight(num_samples=n) - golden) for n in (10, 100, 1000)]
    assert errors[0] > errors[1] > errors[2] and errors[0] < 0.02
    lam = golden_ratio_weight(num_samples=20, num_real=30, temperature=0.8)
    best = fresh_fixed_point(
        num_samples=20, num_real=30, temperature=0.8, real_weight=lam
    )
    for other in (lam - 1e-3, lam + 1e-3):
        worse = fresh_fixed_point(
            num_samples=20, num_real=30, temperature=0.8, real_weight=other
        )
        assert worse["mean_sqerr"] > best["mean_sqerr"]


# -------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(workflow="nope"), "workflow must be one of"),
        (dict(workflow="replace", num_samples=1, ddof=1), "num_samples must be > ddof"),
        (dict(workflow="replace", num_real=1, ddof=1), "num_real must be > ddof"),
        (
            dict(workflow="replace", num_samples=0),
            "num_samples must be an integer >= 1",
        ),
        (dict(workflow="replace", num_samples=2.5), "num_samples must be an integer"),
        (dict(workflow="replace", num_generations=-1), "num_generations"),
        (dict(workflow="replace", dim=0), "dim"),
        (dict(workflow="replace", ddof=2), "ddof must be 0 or 1"),
        (dict(workflow="replace", temperature=0.0), "temperature must be"),
        (dict(workflow="replace", temperature=math.nan), "temperature must be"),
        (dict(workflow="mix"), "needs real_weight"),
        (
            dict(workflow="mix", real_weight=1.5),
            r"real_weight must be a number in \[0, 1\]",
        ),
        (
            dict(workflow="fresh", real_weight=-0.1),
            r"real_weight must be a number in \[0, 1\]",
        ),
        (dict(workflow="augment", real_weight=0.5), "applies only to workflows"),
    ],
)
def test_bad_arguments(kwargs, match):
    full = dict(num_samples=5, num_generations=3) | kwargs
    with pytest.raises(ValueError, match=match):
        gaussian_theory(**full)


def test_bad_fixed_point_arguments():
    with pytest.raises(ValueError, match="workflow must be one of 'fresh'"):
        fixed_point(workflow="replace", num_samples=5)
    with pytest.raises(ValueError, match="temperature"):
        golden_ratio_weight(num_samples=5, temperature=-1.0)


def test_own_special_functions_match_scipy():
    """The theory's scipy-free digamma equals scipy's to 1e-13 relative over the
    half-integers and large arguments used; E sqrt(chi2_k) (math.lgamma) to
    1e-10, the conditioning of a difference of two lgammas near 5e5 (k = 1e5)
    in float64, whichever library computes them."""
    from scipy import special

    from jaxcollapse.theory.gaussian import _digamma, _e_sqrt_chi2

    xs = np.concatenate([np.arange(0.5, 60.0, 0.5), [100.5, 1e3, 1e4 + 0.5, 1e6]])
    for x in xs:
        want = special.digamma(x)
        assert abs(_digamma(float(x)) - want) <= 1e-13 * max(1.0, abs(want))
    for k in [1, 2, 3, 10, 99, 999, 10**5]:
        want = math.sqrt(2) * math.exp(
            special.gammaln((k + 1) / 2) - special.gammaln(k / 2)
        )
        assert abs(_e_sqrt_chi2(k) - want) <= 1e-10 * want
