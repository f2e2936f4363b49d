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


# --- gmm: 1-D Gaussian mixture by EM (models/gmm.py's algorithm, float64) ---

_GMM_EMPTY = 1e-6  # a component with less of the total weight is empty
_GMM_FLOOR_ULPS = 64
_GMM_KMEANS_STEPS = 10
_KL_STEPS = np.arange(-8.0, 9.0)
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(6)


def _gmm_truth_means(k):
    return np.zeros(1) if k == 1 else np.linspace(-3.0, 3.0, k)


def _gmm_draw(rng, weight, mean, var, num):
    """num points: the component by the inverse CDF of one uniform (never an
    empty trailing one), then mean + sd N(0, 1)."""
    cum = np.cumsum(weight)
    u = rng.random(num) * cum[-1]
    last = np.flatnonzero(weight > 0)[-1]
    pick = np.minimum(np.searchsorted(cum[:-1], u, side="right"), last)
    return mean[pick] + np.sqrt(var[pick]) * rng.standard_normal(num)


def _gmm_log_components(x, weight, mean, var):
    """log pi_j + log N(x; mu_j, v_j), shape x.shape + (k,); -inf where pi_j = 0."""
    with np.errstate(divide="ignore"):
        logw = np.log(weight)
    x = x[..., None]
    return logw - 0.5 * (math.log(2 * math.pi) + np.log(var) + (x - mean) ** 2 / var)


def _logsumexp_last(a):
    top = a.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - top).sum(axis=-1)) + top[..., 0]


def _gmm_m_step(x, resp, mean, var, floor):
    """M-step from responsibilities (n, k); an empty component keeps its mean and
    variance and gets weight 0; variances at least `floor`."""
    mass = resp.sum(axis=0)
    alive = mass > _GMM_EMPTY * x.size
    safe = np.where(alive, mass, 1.0)
    mean = np.where(alive, resp.T @ x / safe, mean)
    spread = (resp * (x[:, None] - mean) ** 2).sum(axis=0) / safe
    var = np.maximum(np.where(alive, spread, var), floor)
    kept = np.where(alive, mass, 0.0)
    return kept / kept.sum(), mean, var


def _gmm_fit(rng, x, k, em_steps):
    """k-means++ seeds (unit weights: the first uniform, each next one ∝ D^2, or
    uniform when every point sits on a centre), 10 Lloyd steps, one M-step on the
    nearest-centre assignment (unassigned centres: empty, data variance), then
    em_steps EM steps."""
    n = x.size
    floor = (
        _GMM_FLOOR_ULPS * np.finfo(np.float64).eps * max(1.0, np.abs(x).max())
    ) ** 2
    gap = np.full(n, np.inf)
    centres = np.empty(k)
    for j in range(k):
        if j == 0 or not gap.sum() > 0:
            i = rng.integers(n)
        else:
            i = rng.choice(n, p=gap / gap.sum())
        centres[j] = x[i]
        gap = np.minimum(gap, (x - x[i]) ** 2)
    labels = np.arange(k)
    for _ in range(_GMM_KMEANS_STEPS):
        nearest = np.argmin((x[:, None] - centres) ** 2, axis=1)
        hard = (nearest[:, None] == labels).astype(np.float64)
        mass = hard.sum(axis=0)
        centres = np.where(mass > 0, x @ hard / np.maximum(mass, 1.0), centres)
    nearest = np.argmin((x[:, None] - centres) ** 2, axis=1)
    hard = (nearest[:, None] == labels).astype(np.float64)
    weight, mean, var = _gmm_m_step(x, hard, centres, np.full(k, x.var()), floor)
    for _ in range(em_steps):
        logc = _gmm_log_components(x, weight, mean, var)
        norm = _logsumexp_last(logc)
        some = np.isfinite(norm)
        resp = np.where(
            some[:, None], np.exp(logc - np.where(some, norm, 0.0)[:, None]), 0.0
        )
        weight, mean, var = _gmm_m_step(x, resp, mean, var, floor)
    return weight, mean, var


def _gmm_kl(weight, mean, var, truth):
    """KL(q || P) by composite 6-point Gauss-Legendre between the breakpoints
    mu_c + s sd_c, s = -8..8, of every model and truth component."""
    centre = np.concatenate([mean, truth[1]])
    sd = np.sqrt(np.concatenate([var, truth[2]]))
    edges = np.sort((centre[:, None] + sd[:, None] * _KL_STEPS).ravel())
    half = 0.5 * np.diff(edges)
    points = 0.5 * (edges[1:] + edges[:-1])[:, None] + half[:, None] * _GL_NODES
    log_q = _logsumexp_last(_gmm_log_components(points, weight, mean, var))
    log_p = _logsumexp_last(_gmm_log_components(points, *truth))
    q = np.exp(log_q)
    with np.errstate(invalid="ignore"):
        integrand = np.where(q > 0, q * (log_q - log_p), 0.0)
    return float((half[:, None] * _GL_WEIGHTS * integrand).sum())


def gmm_per_chain(chains, n, T, seed, components=2, em_steps=20, num_test=500):
    """1-D Gaussian mixture, replace: truth an equal mixture of `components` unit
    Gaussians at means evenly spaced over [-3, 3]; fit = models/gmm.py's EM
    (k-means++ seeding from the chain's rng, 10 Lloyd steps, one M-step on the
    hard assignment, em_steps EM steps in log space, empty components (mass <=
    1e-6 of the total) keep mean and variance with weight 0, variance floor
    (64 eps max(1, max |x|))^2 with float64's eps); sample = component by the
    weights, then N(mu_j, v_j). Per generation test_nll on num_test held-out
    truth points, kl (the same quadrature) and the components sorted by mean.
    Returns test_nll at T."""
    k = components
    truth = (np.full(k, 1.0 / k), _gmm_truth_means(k), np.ones(k))
    finals = []
    for c in range(chains):
        rng = np.random.default_rng([seed, c])
        data = _gmm_draw(rng, *truth, n)
        test = _gmm_draw(rng, *truth, num_test)
        weight, mean, var = _gmm_fit(rng, data, k, em_steps)
        for t in range(T + 1):
            if t > 0:
                data = _gmm_draw(rng, weight, mean, var, n)
                weight, mean, var = _gmm_fit(rng, data, k, em_steps)
            logq = _logsumexp_last(_gmm_log_components(test, weight, mean, var))
            test_nll = -logq.mean()
            _kl = _gmm_kl(weight, mean, var, truth)
            order = np.argsort(mean)
            _summary = (weight[order], mean[order], var[order])
        finals.append(test_nll)
    return mean_sem(finals)


# --- linreg: OLS on a fixed Gaussian design, accumulate ---


def linreg_per_chain(chains, n, T, seed, dim=10, noise=1.0, workflow="accumulate"):
    """y = x·w* + s eps, w* = (1, ..., 1) / sqrt(d), x ~ N(0, I_d): each chain
    draws its design X (n x d) once; D_0 = (X, X w* + s eps); generation t draws
    y = X w_hat + s eps on the same X; accumulate stacks every generation's rows
    (the papers' growing arrays), replace keeps the newest; OLS refit by the
    normal equations, np.linalg.solve(X^T X, X^T y) on the whole pool (4-10x
    faster here than np.linalg.lstsq's SVD, and immune to the 100x slowdown
    threaded OpenBLAS lstsq showed on a shared 2-core machine). Per generation
    test_error = param_sqerr = ||w_hat - w*||^2 (E over fresh isotropic x of
    (x·(w_hat - w*))^2). Returns test_error at T."""
    w_true = np.full(dim, 1.0 / math.sqrt(dim))
    finals = []
    for c in range(chains):
        rng = np.random.default_rng([seed, c])
        design = rng.standard_normal((n, dim))
        xs = design
        ys = design @ w_true + noise * rng.standard_normal(n)
        w_hat = np.linalg.solve(xs.T @ xs, xs.T @ ys)
        for t in range(T + 1):
            if t > 0:
                y = design @ w_hat + noise * rng.standard_normal(n)
                if workflow == "replace":
                    ys = y
                else:
                    xs = np.concatenate([xs, design])
                    ys = np.concatenate([ys, y])
                w_hat = np.linalg.solve(xs.T @ xs, xs.T @ ys)
            test_error = float(np.sum((w_hat - w_true) ** 2))
            _param_sqerr = test_error
        finals.append(test_error)
    return mean_sem(finals)


# --- bigram: softmax bigram logits trained by Adam, replace ---


def _markov_sequences(rng, probs, num, length):
    """num sequences: the first symbol uniform, each next by the inverse CDF of
    one uniform on its row of probs (rows may be unnormalised)."""
    vocab = probs.shape[0]
    cum = np.cumsum(probs, axis=1)
    last = vocab - 1 - np.argmax((probs > 0)[:, ::-1], axis=1)
    seqs = np.empty((num, length), np.int64)
    seqs[:, 0] = rng.integers(0, vocab, num)
    for pos in range(1, length):
        prev = seqs[:, pos - 1]
        row = cum[prev]
        u = rng.random(num) * row[:, -1]
        below = (row[:, :-1] <= u[:, None]).sum(axis=1)
        seqs[:, pos] = np.minimum(below, last[prev])
    return seqs


def _transition_counts(seqs, vocab):
    pairs = (seqs[:, :-1] * vocab + seqs[:, 1:]).ravel()
    return np.bincount(pairs, minlength=vocab * vocab).reshape(vocab, vocab)


def _log_softmax_rows(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def bigram_per_chain(
    chains,
    n,
    T,
    seed,
    vocab=16,
    seq_len=32,
    train_steps=50,
    learning_rate=0.1,
    zipf=1.1,
    num_test=500,
    finetune=True,
):
    """Softmax bigram over V = vocab symbols, replace: truth the model's own table
    (models/bigram.py's truth_probs, NumPy), first symbols uniform; fit =
    train_steps steps of Adam (b1 0.9, b2 0.999, eps 1e-8, bias-corrected, moments
    zeroed each fit: optax.adam's defaults) at learning_rate on the per-transition
    cross-entropy of the n training sequences, gradient R_i softmax(theta_i) - C_ij
    (C the counts over their total, R_i its row sums), from the previous logits
    (finetune) or zeros; sample = n sequences of seq_len by the inverse CDF of
    softmax(theta[prev]). Per generation test_nll on num_test held-out truth
    sequences (per transition), entropy, num_missing_transitions. Returns test_nll
    at T."""
    from jaxcollapse.models.bigram import truth_probs

    truth = truth_probs(vocab, zipf)
    b1, b2, eps = 0.9, 0.999, 1e-8
    finals = []
    for c in range(chains):
        rng = np.random.default_rng([seed, c])
        seqs = _markov_sequences(rng, truth, n, seq_len)
        ref = _transition_counts(
            _markov_sequences(rng, truth, num_test, seq_len), vocab
        )
        context = ref.sum(axis=1) / ref.sum()
        logits = np.zeros((vocab, vocab))
        for t in range(T + 1):
            if t > 0:
                unnorm = np.exp(logits - logits.max(axis=1, keepdims=True))
                seqs = _markov_sequences(rng, unnorm, n, seq_len)
            counts = _transition_counts(seqs, vocab) / (n * (seq_len - 1))
            rows = counts.sum(axis=1, keepdims=True)
            if not finetune:
                logits = np.zeros((vocab, vocab))
            m = np.zeros((vocab, vocab))
            v = np.zeros((vocab, vocab))
            for step in range(1, train_steps + 1):
                shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
                grad = rows * shifted / shifted.sum(axis=1, keepdims=True) - counts
                m = b1 * m + (1 - b1) * grad
                v = b2 * v + (1 - b2) * grad * grad
                m_hat = m / (1 - b1**step)
                v_hat = v / (1 - b2**step)
                logits = logits - learning_rate * m_hat / (np.sqrt(v_hat) + eps)
            log_probs = _log_softmax_rows(logits)
            probs = np.exp(log_probs)
            test_nll = -np.sum(ref * log_probs) / ref.sum()
            _entropy = np.sum(context * -np.sum(probs * log_probs, axis=1))
            _missing = np.sum(probs < 1.0 / (100 * vocab))
        finals.append(test_nll)
    return mean_sem(finals)
