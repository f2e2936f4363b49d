"""The `bigram` family: counts and Adam against NumPy, convergence to the count MLE,
the sampler's law, metrics, and short engine runs. Budget: ALPHA_MODULE (conftest)
split by Bonferroni over the NUM_COMPARISONS chi-square tests below."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import jaxcollapse as jc
from jaxcollapse import _prng
from jaxcollapse.models import bigram
from jaxcollapse.models.bigram import Bigram, BigramParams, HeldOutCounts
from jaxcollapse.workflows._pool import Pool
from tests.conftest import ALPHA_MODULE

NUM_COMPARISONS = 3  # model transitions, model first symbols, truth transitions
ALPHA = ALPHA_MODULE / NUM_COMPARISONS


def _weighted_pool(seed, num, vocab, length, empty):
    """Random sequences with random weights, then `empty` junk slots of weight 0."""
    rng = np.random.default_rng(seed)
    seqs = rng.integers(vocab, size=(num + empty, length)).astype(np.int32)
    weight = np.concatenate([rng.uniform(0.1, 3.0, num), np.zeros(empty)])
    pool = Pool(
        jnp.asarray(seqs),
        jnp.asarray(weight, jnp.float32),
        jnp.asarray(num, jnp.int32),
        None,
    )
    return pool, seqs, weight


def _np_counts(seqs, weight, vocab):
    counts = np.zeros((vocab, vocab))
    for s, w in zip(seqs, weight, strict=True):
        np.add.at(counts, (s[:-1], s[1:]), w)
    return counts


@pytest.mark.parametrize("backend", ["cpu", "sorted"])
def test_counts_match_numpy(backend):
    """Both ways of counting (CPU scatter-add; the accelerators' sort)."""
    pool, seqs, weight = _weighted_pool(0, 40, 5, 7, 9)
    count = jax.jit(bigram.transition_counts, static_argnums=(1, 2, 3))
    got = count(pool, 5, jnp.float32, backend)
    np.testing.assert_allclose(
        np.asarray(got), _np_counts(seqs, weight, 5), rtol=1e-6, atol=1e-6
    )
    ints = bigram.integer_counts(pool.data, 5)
    np.testing.assert_array_equal(
        np.asarray(ints), _np_counts(seqs, np.ones(len(seqs)), 5)
    )


def _np_adam(counts, start, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma & Ba 2015, optax's defaults) on the bigram cross-entropy with
    its analytic gradient (R_i softmax(theta_i)_j - C_ij) / sum C."""
    counts = counts / counts.sum()
    rows = counts.sum(1, keepdims=True)
    theta = start.astype(np.float64).copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t in range(1, steps + 1):
        probs = special.softmax(theta, axis=1)
        grad = rows * probs - counts
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad**2
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return theta


def test_written_out_gradient_is_the_gradient_of_the_loss():
    rng = np.random.default_rng(8)
    counts = rng.uniform(0, 3, size=(4, 4))
    counts /= counts.sum()
    theta = rng.normal(size=(4, 4))

    def loss(logits):
        return -jnp.sum(jnp.asarray(counts) * jax.nn.log_softmax(logits, axis=1))

    auto = jax.grad(loss)(jnp.asarray(theta, jnp.float32))
    written = counts.sum(1, keepdims=True) * special.softmax(theta, axis=1) - counts
    np.testing.assert_allclose(np.asarray(auto), written, rtol=1e-5, atol=1e-6)


def test_adam_matches_numpy_and_inits_differ_only_in_the_start():
    vocab, steps, lr = 4, 25, 0.1
    pool, seqs, weight = _weighted_pool(1, 30, vocab, 6, 5)
    counts = _np_counts(seqs, weight, vocab)
    previous = BigramParams(
        jnp.asarray(np.random.default_rng(2).normal(size=(vocab, vocab)), jnp.float32)
    )
    key = _prng.key(0)
    settings = dict(vocab=vocab, seq_len=6, train_steps=steps, learning_rate=lr)
    tune = Bigram(init="finetune", **settings)
    scratch = Bigram(init="scratch", **settings)
    fit_tune = jax.jit(tune.fit)
    fit_scratch = jax.jit(scratch.fit)

    got = fit_tune(key, pool, previous).logits
    want = _np_adam(counts, np.asarray(previous.logits), steps, lr)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)
    got = fit_scratch(key, pool).logits
    want = _np_adam(counts, np.zeros((vocab, vocab)), steps, lr)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)
    # Fine-tuning with no previous model (generation 0) is training from scratch,
    # and scratch ignores a previous model.
    np.testing.assert_array_equal(
        np.asarray(fit_tune(key, pool, None).logits), np.asarray(got)
    )
    np.testing.assert_array_equal(
        np.asarray(fit_scratch(key, pool, previous).logits), np.asarray(got)
    )


def test_long_training_reaches_the_count_mle():
    model = Bigram(
        vocab=3, seq_len=20, train_steps=500, learning_rate=0.1, init="scratch"
    )
    train = jax.jit(model.sample_truth, static_argnums=(2, 3))(
        _prng.key(0), None, 50, False
    )
    counts = np.asarray(bigram.transition_counts(train, 3, jnp.float32))
    assert np.all(counts > 0)
    probs = jax.nn.softmax(jax.jit(model.fit)(_prng.key(1), train).logits, axis=1)
    mle = counts / counts.sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(probs), mle, atol=1e-5)


def _chi_square(observed, expected):
    return float(np.sum((observed - expected) ** 2 / expected))


def test_sampler_transition_law():
    """Given the contexts, next symbols are independent draws from the rows, so
    sum over rows of Pearson's statistic is chi-square with V (V - 1) degrees of
    freedom (the Markov-chain goodness-of-fit test, Anderson & Goodman 1957)."""
    vocab, length, num, tau = 4, 8, 4000, 0.7
    model = Bigram(vocab=vocab, seq_len=length)
    logits = np.random.default_rng(3).normal(size=(vocab, vocab)) * 1.5
    logits[2, 1] = -40.0  # effectively impossible at tau = 0.7
    params = BigramParams(jnp.asarray(logits, jnp.float32))
    seqs = np.asarray(
        jax.jit(model.sample, static_argnums=(2, 4))(
            _prng.key(4), params, num, tau, False
        ).data
    )
    assert seqs.shape == (num, length) and seqs.dtype == np.int32
    counts = _np_counts(seqs, np.ones(num), vocab)
    assert counts[2, 1] == 0
    probs = special.softmax(logits / tau, axis=1)
    expected = counts.sum(1, keepdims=True) * probs
    keep = expected > 1e-9
    stat = _chi_square(counts[keep], expected[keep])
    assert stats.chi2.sf(stat, vocab * (vocab - 1) - 1) > ALPHA, stat
    first = np.bincount(seqs[:, 0], minlength=vocab)
    stat = _chi_square(first, np.full(vocab, num / vocab))
    assert stats.chi2.sf(stat, vocab - 1) > ALPHA, stat


def test_truth_is_fixed_zipf_rows_and_its_sampler_follows_it():
    vocab = 5
    probs = bigram.truth_probs(vocab, 1.1)
    zipf = np.arange(1, vocab + 1) ** -1.1
    zipf /= zipf.sum()
    for row in probs:
        np.testing.assert_allclose(np.sort(row)[::-1], zipf, rtol=1e-12)
    # Not the same permutation in every row, and rebuilt identically.
    assert len({tuple(np.argsort(row)) for row in probs}) > 1
    np.testing.assert_array_equal(bigram.truth_probs.__wrapped__(vocab, 1.1), probs)
    np.testing.assert_allclose(bigram.truth_probs(vocab, 0.0), 1.0 / vocab)

    model = Bigram(vocab=vocab, seq_len=6)
    seqs = np.asarray(model.sample_truth(_prng.key(9), None, 3000, False).data)
    counts = _np_counts(seqs, np.ones(len(seqs)), vocab)
    expected = counts.sum(1, keepdims=True) * probs
    stat = _chi_square(counts, expected)
    assert stats.chi2.sf(stat, vocab * (vocab - 1)) > ALPHA, stat


def test_log_densities_and_metrics_match_numpy():
    vocab, length = 4, 5
    model = Bigram(vocab=vocab, seq_len=length)
    logits = np.random.default_rng(5).normal(size=(vocab, vocab)) * 2
    logits[0, 3] = -12.0  # probability below 1 / (100 V)
    params = BigramParams(jnp.asarray(logits, jnp.float32))
    seqs = np.random.default_rng(6).integers(vocab, size=(7, length)).astype(np.int32)
    pool = Pool(jnp.asarray(seqs), jnp.ones(7), jnp.asarray(7), None)
    log_p = np.log(special.softmax(logits, axis=1))
    log_t = np.log(bigram.truth_probs(vocab, model.zipf))
    for got, table in (
        (model.log_density(params, pool), log_p),
        (model.truth_log_density(None, pool), log_t),
    ):
        want = table[seqs[:, :-1], seqs[:, 1:]].sum(1) - math.log(vocab)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)

    ref_counts = _np_counts(seqs, np.ones(7), vocab)
    values = model.metrics(params, None, HeldOutCounts(jnp.asarray(ref_counts)))
    assert list(values) == list(model.metric_names)
    nll = -(ref_counts * log_p).sum() / ref_counts.sum()
    freq = ref_counts.sum(1) / ref_counts.sum()
    entropy = np.sum(freq * -(np.exp(log_p) * log_p).sum(1))
    missing = np.sum(np.exp(log_p) < 1 / (100 * vocab))
    assert missing >= 1
    assert float(values["test_nll"]) == pytest.approx(nll, rel=1e-5)
    assert float(values["entropy"]) == pytest.approx(entropy, rel=1e-5)
    assert float(values["num_missing_transitions"]) == missing


def test_short_simulations_finetune_and_scratch():
    """Both inits share generation 0 (the same keys, a fit from zeros) and then
    differ; every metric stays finite; the engine passes previous logits."""
    kw = dict(num_samples=8, num_generations=3, num_chains=256, seed=0, num_test=50)
    runs = {
        init: jc.simulate(Bigram(vocab=4, seq_len=8, init=init), "replace", **kw)
        for init in ("finetune", "scratch")
    }
    for res in runs.values():
        assert res.config["model"] == "bigram" and res.theory == {}
        for name in ("test_nll", "entropy", "num_missing_transitions"):
            assert np.all(res.metrics[name]["nonfinite"] == 0), name
        missing = res.metrics["num_missing_transitions"]
        assert np.all((missing["q05"] >= 0) & (missing["q95"] <= 16))
        entropy = res.metrics["entropy"]["mean"]
        assert np.all((entropy > 0) & (entropy < math.log(4)))
    tune, scratch = (runs[i].metrics["test_nll"]["mean"] for i in runs)
    assert tune[0] == scratch[0]
    assert np.all(tune[1:] != scratch[1:])
    # Bit-identical per chain in chunks of 64 (another compiled program).
    kw.update(keep_trajectories=64)
    model = Bigram(vocab=4, seq_len=8, init="finetune")
    chunked = jc.simulate(model, "replace", chunk_size=64, **kw)
    assert chunked.config["chunk_size"] == 64
    for name, stat in chunked.metrics.items():
        np.testing.assert_array_equal(
            stat["mean"], runs["finetune"].metrics[name]["mean"]
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(vocab=1), "vocab must be an integer in"),
        (dict(vocab=4.0), "vocab must be an integer"),
        (dict(seq_len=1), "seq_len must be an integer >= 2"),
        (dict(train_steps=0), "train_steps must be an integer >= 1"),
        (dict(learning_rate=0.0), "learning_rate must be a finite number > 0"),
        (dict(learning_rate=float("nan")), "learning_rate must be a finite number"),
        (dict(init="warm"), "init must be one of finetune, scratch"),
        (dict(zipf=-0.5), "zipf must be a finite number >= 0"),
        (dict(zipf="1"), "zipf must be a finite number >= 0"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Bigram(**kwargs)


def test_diverged_model_has_no_count_of_missing_transitions():
    """Non-finite logits (a learning rate far too large) make every metric NaN,
    counted as non-finite, rather than a count of 0 from NaN comparisons."""
    vocab = 4
    model = Bigram(vocab=vocab, seq_len=4)
    logits = np.zeros((vocab, vocab), np.float32)
    logits[1, 2] = np.nan
    ref = HeldOutCounts(jnp.ones((vocab, vocab), jnp.float32))
    values = model.metrics(BigramParams(jnp.asarray(logits)), None, ref)
    for name, value in values.items():
        assert np.isnan(float(value)), name
