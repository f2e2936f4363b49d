"""The code users would otherwise run: NumPy (and scikit-learn) loops that
simulate the same chains as jaxcollapse, for the benchmarks' ratios.

Two structures:

- per chain: a Python loop over chains, then over generations, one default_rng
  per chain, float64 - the structure of the model-collapse papers' code
  (Shumailov et al. 2024; Gerstgrasser et al. 2024; Kazdan et al. 2024, whose
  KDE experiments call scikit-learn's KernelDensity per chain);
- vectorised: a loop over generations, vectorised across a block of chains, in
  float32 - what a careful NumPy user writes.

Each returns (mean, s.e.m.) over chains of one metric at generation T, so a
benchmark row can show that both sides simulate the same law.
"""

import math

import numpy as np


def mean_sem(values):
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


def gaussian_per_chain(num_chains, n, T, seed, workflow="replace"):
    """1-D Gaussian, ddof 0, truth N(0, 1); the fitted std at T.

    replace refits on the n newest points; accumulate on everything drawn so
    far, kept as the papers keep it (a growing concatenated array)."""
    children = np.random.SeedSequence(seed).spawn(num_chains)
    last = np.empty(num_chains)
    for c in range(num_chains):
        rng = np.random.default_rng(children[c])
        data = rng.normal(0.0, 1.0, n)  # generation 0: real data from N(0, 1)
        mu, sigma = data.mean(), data.std()
        for _ in range(T):
            new = rng.normal(mu, sigma, n)
            data = new if workflow == "replace" else np.concatenate([data, new])
            mu, sigma = data.mean(), data.std()
        last[c] = sigma
    return mean_sem(last)


def gaussian_vectorised(num_chains, n, T, seed, block, workflow="replace"):
    """The same chains, a block of them at a time, one generation at a time.

    The draws are standard normals z (float32); a fit of mu + sigma z is
    (mu + sigma mean(z), sigma std(z)), carried in float64 per chain: the same
    law as drawing N(mu, sigma^2) points, one pass over the data fewer.
    accumulate carries each chain's running sum and sum of squares."""
    rng = np.random.default_rng(seed)
    last = []
    for first in range(0, num_chains, block):
        size = min(block, num_chains - first)
        z = rng.standard_normal((size, n), dtype=np.float32)
        mu = z.mean(axis=1, dtype=np.float64)
        sigma = z.std(axis=1).astype(np.float64)
        total, squares, count = n * mu, n * (sigma**2 + mu**2), n
        for _ in range(T):
            z = rng.standard_normal((size, n), dtype=np.float32)
            z_mean = z.mean(axis=1, dtype=np.float64)
            if workflow == "replace":
                mu, sigma = mu + sigma * z_mean, sigma * z.std(axis=1)
                continue
            z_sq = np.einsum("ij,ij->i", z, z, dtype=np.float64) / n
            total = total + n * (mu + sigma * z_mean)
            squares = squares + n * (mu**2 + 2 * mu * sigma * z_mean + sigma**2 * z_sq)
            count += n
            mu = total / count
            sigma = np.sqrt(np.maximum(squares / count - mu**2, 0.0))
        last.append(sigma)
    return mean_sem(np.concatenate(last))


def _kde_log_density(test, points, h):
    """log of the mean of Gaussian kernels (bandwidth h) at each test point."""
    z = (test[:, None] - points[None, :]) / h
    logk = -0.5 * z * z
    top = logk.max(axis=1, keepdims=True)
    return (
        top[:, 0]
        + np.log(np.exp(logk - top).sum(axis=1))
        - math.log(points.size * h * math.sqrt(2 * math.pi))
    )


def kde_per_chain(chains, n, T, h, num_test, seed, workflow="replace"):
    """1-D KDE with fixed bandwidth h, truth N(0, 1): per generation test_nll on
    num_test held-out points, var, distinct_roots; sample = n uniform picks of
    the training points plus h N(0, 1). accumulate trains on every point so far.
    Returns test_nll at T."""
    finals = []
    for c in range(chains):
        rng = np.random.default_rng([seed, c])
        points = rng.standard_normal(n)
        roots = np.arange(n)
        test = rng.standard_normal(num_test)
        for t in range(T + 1):
            if t > 0:
                pick = rng.integers(0, points.size, n)
                new = points[pick] + h * rng.standard_normal(n)
                if workflow == "replace":
                    points, roots = new, roots[pick]
                else:
                    points = np.concatenate([points, new])
                    roots = np.concatenate([roots, roots[pick]])
            test_nll = -_kde_log_density(test, points, h).mean()
            _var = points.var() + h * h
            _distinct = np.unique(roots).size
        finals.append(test_nll)
    return mean_sem(finals)


def kde_sklearn_per_chain(chains, n, T, h, num_test, seed, workflow="replace"):
    """The papers' own structure ("Collapse or thrive?" used scikit-learn): per
    chain and generation, KernelDensity(bandwidth=h).fit(points), score_samples
    on the held-out set, .sample(n). It tracks no root labels (scikit-learn's
    sample does not return its picks), so it does a little less work than the
    NumPy loop. Returns test_nll at T."""
    from sklearn.neighbors import KernelDensity

    finals = []
    for c in range(chains):
        rng = np.random.default_rng([seed, c])
        points = rng.standard_normal((n, 1))
        test = rng.standard_normal((num_test, 1))
        state = np.random.RandomState(int(rng.integers(2**31)))
        kde = KernelDensity(kernel="gaussian", bandwidth=h).fit(points)
        for t in range(T + 1):
            if t > 0:
                new = kde.sample(n, random_state=state)
                points = new if workflow == "replace" else np.vstack([points, new])
                kde = KernelDensity(kernel="gaussian", bandwidth=h).fit(points)
            test_nll = -kde.score_samples(test).mean()
            _var = points.var() + h * h
        finals.append(test_nll)
    return mean_sem(finals)


def have_sklearn() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def categorical_per_chain(chains, n, T, K, zipf, seed):
    """K symbols, Zipf(zipf) truth, no smoothing, replace: fit = counts / n,
    sample = Multinomial(n, p_hat); metrics num_missing, entropy, kl,
    tail_mass, collapsed. Returns entropy at T."""
    truth = np.arange(1, K + 1, dtype=np.float64) ** -zipf
    truth /= truth.sum()
    rare = np.arange(K - K // 10, K)
    finals = []
    for c in range(chains):
        rng = np.random.default_rng([seed, c])
        p_hat = rng.multinomial(n, truth) / n
        for t in range(T + 1):
            if t > 0:
                p_hat = rng.multinomial(n, p_hat) / n
            positive = p_hat > 0
            entropy = -np.sum(p_hat[positive] * np.log(p_hat[positive]))
            _kl = np.sum(p_hat[positive] * np.log(p_hat[positive] / truth[positive]))
            _missing = K - positive.sum()
            _tail = p_hat[rare].sum()
            _collapsed = float(positive.sum() == 1)
        finals.append(entropy)
    return mean_sem(finals)
