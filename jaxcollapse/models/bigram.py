"""The `bigram` family: a softmax bigram model trained by optax Adam (SPEC §2).

Truth P: a fixed first-order Markov chain over V = `vocab` symbols, the same for
every chain and every run. Row i is a random permutation of the Zipf
probabilities p_r ∝ r^(-zipf), r = 1..V: column c gets p_{1 + rank_i(c)}, where
rank_i(c) is the rank of the c-th of V raw 64-bit words in row i of the first V^2
outputs of NumPy's PCG64 bit generator seeded with TRUTH_SEED = 0 (a bit stream
NumPy keeps stable across versions). zipf = 0 makes every row uniform. The first
symbol of a sequence is uniform over V, for the truth and every model alike, so
only the transitions are learned.

Data: a Pool of sequences, (capacity, L) int32 with L = `seq_len`, frame None.

Fit: weighted transition counts C_ij = sum over sequences s and positions t of
w_s [x_t = i, x_{t+1} = j] (empty slots have weight 0), then `train_steps` steps of
optax.adam(`learning_rate`) on the per-transition cross-entropy
    loss(theta) = -sum_ij C_ij log softmax(theta_i)_j / sum_ij C_ij,
from the previous generation's logits (`init="finetune"`; the engine passes them
as `previous`, zeros at generation 0) or from zeros (`init="scratch"`). Adam's
moments start at zero in every fit (a new training run from a checkpoint). The
optimum is the row-normalised counts (the MLE); a row never seen keeps its
start. If every weight is 0 the loss is 0 and the logits stay where they start.
Counts are summed in a fixed order whatever the batch or device: on CPU by a
float scatter-add, which XLA's CPU backend applies one update at a time in
index order (the categorical family relies on the same); elsewhere, where a
float scatter-add uses atomics, the transitions are sorted by pair (a stable
sort) and each run of equal pairs is summed by a segmented Hillis-Steele scan.
The sort costs about 60% of a chain-generation on CPU (V = 16, L = 32, n = 64:
2.95k -> 7.5k chain-gen/s with the scatter-add, 2-core benchmark machine).

Sample: n sequences of length L at temperature tau: the first symbol uniform,
each next one from softmax(theta[prev] / tau) by the inverse CDF of one uniform
draw (a lax.scan over positions, all sequences at once; position t's n
uniforms come from fold_in(fold_in(key, 1), t) inside the scan, which spares the
transpose that scanning over a drawn (L-1, n) block needs under vmap).

Metrics (in order), on num_test held-out real sequences drawn once per chain:
- `test_nll`: -log p_model(x_{t+1} | x_t) averaged over the held-out
  transitions (per symbol; the uniform first symbol, log V, is left out);
- `entropy`: the model's conditional entropy sum_i f_i H(softmax(theta_i)),
  f_i the frequency of context i among the held-out transitions;
- `num_missing_transitions`: the number of pairs (i, j) (all V^2 have positive
  probability under the truth) whose model probability is below 1 / (100 V),
  i.e. effectively missing.
"""

import functools
import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcollapse.config import (
    INT32_MAX,
    assign,
    check_choice,
    check_integer,
    check_number,
)
from jaxcollapse.workflows._linalg import prefix_sum, total, tree_max, tree_sum
from jaxcollapse.workflows._pool import Pool
from jaxcollapse.workflows._scatter import scatter_add

TRUTH_SEED = 0
MISSING_FACTOR = 100  # a transition is missing below probability 1 / (100 V)
INITS = ("finetune", "scratch")
MAX_VOCAB = 1 << 15  # pairs are keyed as i * V + j in int32


class BigramParams(NamedTuple):
    """Bigram logits: p(j | i) = softmax(logits[i])_j."""

    logits: jax.Array  # (V, V)


class HeldOutCounts(NamedTuple):
    """The held-out real sequences, kept as their transition counts."""

    counts: jax.Array  # (V, V) float, integer-valued


@functools.lru_cache(maxsize=16)
def truth_probs(vocab: int, zipf: float) -> np.ndarray:
    """The truth's transition matrix (V, V), float64, rows summing to 1."""
    zipf_probs = np.arange(1, vocab + 1, dtype=np.float64) ** (-float(zipf))
    zipf_probs /= zipf_probs.sum()
    words = np.random.PCG64(TRUTH_SEED).random_raw(vocab * vocab)
    words = words.reshape(vocab, vocab)
    rank = np.argsort(np.argsort(words, axis=1, kind="stable"), axis=1, kind="stable")
    probs = zipf_probs[rank]
    probs.setflags(write=False)
    return probs


def log_softmax(logits):
    """log softmax over the last axis, with a fixed-tree sum."""
    shifted = logits - tree_max(logits)[..., None]
    return shifted - jnp.log(tree_sum(jnp.exp(shifted), -1))[..., None]


def softmax(logits, axis: int = -1):
    """softmax over `axis`, with a fixed-tree sum (one exp an entry)."""
    top = jnp.expand_dims(tree_max(logits, axis), axis)
    e = jnp.exp(logits - top)
    return e / jnp.expand_dims(tree_sum(e, axis), axis)


def transition_counts(pool: Pool, vocab: int, dtype, backend=None) -> jax.Array:
    """Weighted transition counts (V, V), in a fixed order on every backend
    (module docstring; workflows/_scatter.scatter_add): on CPU a scatter-add
    in index order; elsewhere sort the transitions by pair, sum each run of
    equal pairs by a segmented Hillis-Steele scan and read off its end. The
    transitions are listed position-major (position t of every sequence, then
    t + 1), the order the sampler's scan makes them in: keyed sequence-major,
    the (L-1, n) -> (n, L-1) transpose fused into the keys cost about 10% of
    a V = 16, L = 32, n = 64 replace chain-generation (2-core AMD EPYC)."""
    seqs = pool.data
    num, length = seqs.shape
    by_position = seqs.T
    keys = (by_position[:-1] * vocab + by_position[1:]).reshape(-1)
    weight = jnp.broadcast_to(
        pool.weight.astype(dtype)[None, :], (length - 1, num)
    ).reshape(-1)
    counts = scatter_add(vocab * vocab, keys, weight, backend)
    return counts.reshape(vocab, vocab)


def integer_counts(seqs, vocab: int) -> jax.Array:
    """Unweighted transition counts (V, V) as int32 (exact in any order)."""
    by_position = seqs.T
    keys = (by_position[:-1] * vocab + by_position[1:]).reshape(-1)
    return scatter_add(vocab * vocab, keys, jnp.int32(1)).reshape(vocab, vocab)


def sample_sequences(key, cum, num: int, length: int):
    """num sequences of `length`: uniform first symbol, then inverse-CDF draws from
    the rows of `cum` (V, V), the rows' cumulative (unnormalised) probabilities."""
    vocab = cum.shape[0]
    dtype = cum.dtype
    top = cum[:, -1]
    # The last symbol of positive probability per row: u * total may round up to
    # the total, which must not select a trailing symbol of probability 0.
    positive = jnp.concatenate([cum[:, :1] > 0, cum[:, 1:] > cum[:, :-1]], axis=1)
    last = vocab - 1 - jnp.argmax(positive[:, ::-1], axis=1)
    first = jax.random.randint(jax.random.fold_in(key, 0), (num,), 0, vocab)
    key_u = jax.random.fold_in(key, 1)

    def step(prev, t):
        u_t = jax.random.uniform(jax.random.fold_in(key_u, t), (num,), dtype)
        row = cum[prev]  # (num, V)
        below = row[:, :-1] <= (u_t * top[prev])[:, None]
        nxt = jnp.minimum(jnp.sum(below, axis=1, dtype=jnp.int32), last[prev])
        return nxt, nxt

    _, rest = jax.lax.scan(step, first, jnp.arange(length - 1, dtype=jnp.uint32))
    by_position = jnp.concatenate([first[None, :], rest], axis=0)
    return by_position.T.astype(jnp.int32)


@dataclass(frozen=True)
class Bigram:
    """Softmax bigram family trained by Adam (SPEC §2); see the module docstring.

    vocab V in [2, 32768]; seq_len L >= 2; train_steps >= 1; learning_rate > 0;
    init "finetune" or "scratch"; zipf >= 0 (the truth's row shape).
    """

    vocab: int = 16
    seq_len: int = 32
    train_steps: int = 50
    learning_rate: float = 0.1
    init: str = "finetune"
    zipf: float = 1.1
    name: ClassVar[str] = "bigram"
    has_exact_path: ClassVar[bool] = False

    def __post_init__(self):
        rate = check_number("learning_rate", self.learning_rate, 0.0, strict_min=True)
        assign(
            self,
            vocab=check_integer("vocab", self.vocab, 2, MAX_VOCAB),
            seq_len=check_integer("seq_len", self.seq_len, 2),
            train_steps=check_integer(
                "train_steps", self.train_steps, 1, limit=INT32_MAX
            ),
            learning_rate=rate,
            init=check_choice("init", self.init, INITS),
            zipf=check_number("zipf", self.zipf, 0.0),
        )

    def min_samples(self) -> int:
        return 1

    def point_floats(self) -> int:
        """A sequence, plus its transitions' sort keys and weights in the fit."""
        return 3 * self.seq_len

    def fixed_floats(self) -> int:
        """Logits, Adam's two moments, the counts and the truth: 5 V^2."""
        return 5 * self.vocab * self.vocab

    @property
    def metric_names(self) -> tuple[str, ...]:
        return ("test_nll", "entropy", "num_missing_transitions")

    def _truth_log(self, dtype):
        return jnp.log(jnp.asarray(truth_probs(self.vocab, self.zipf), dtype))

    def init_truth(self, key):
        return None  # the truth is one constant table for every chain

    def sample_truth(self, key, truth, num, exact):
        dtype = jnp.result_type(float)
        probs = truth_probs(self.vocab, self.zipf)
        cum = jnp.asarray(np.cumsum(probs, axis=1), dtype)
        return Pool.full(sample_sequences(key, cum, num, self.seq_len), None)

    def reference(self, key, truth, num, exact) -> HeldOutCounts:
        seqs = self.sample_truth(key, truth, num, exact).data
        counts = integer_counts(seqs, self.vocab)
        return HeldOutCounts(counts.astype(jnp.result_type(float)))

    def fit(self, key, train: Pool, previous: BigramParams | None = None):
        """Adam on the weighted cross-entropy (module docstring); key unused.

        The gradient is written out, d loss / d theta_ij = R_i softmax(theta_i)_j
        - C_ij (C normalised, R_i its row sums): autodiff of the loss would add
        reductions (the transposes of broadcasts) whose float order XLA picks
        per program, and the logits would differ in the last bits with the
        chunk size."""
        dtype = jnp.result_type(float)
        counts = transition_counts(train, self.vocab, dtype)
        mass = total(counts)
        counts = counts / jnp.where(mass > 0, mass, 1.0)
        if self.init == "finetune" and previous is not None:
            start = previous.logits
        else:
            start = jnp.zeros((self.vocab, self.vocab), dtype)

        rows = tree_sum(counts, 1)[None, :]
        import optax  # here, not at the top: `import jaxcollapse` stays light

        opt = optax.adam(self.learning_rate)
        # Trained transposed, next symbol j major and context i minor: the
        # softmax's max and sum over j are then elementwise trees across rows
        # that XLA's CPU backend fuses into full vectors, not reductions
        # within 16-wide rows. The same arithmetic in the same order as on
        # the (i, j) layout: the same numbers.
        counts = counts.T

        def step(_, carry):
            logits, state = carry
            grad = rows * softmax(logits, axis=0) - counts
            updates, state = opt.update(grad, state, logits)
            return optax.apply_updates(logits, updates), state

        logits, _ = jax.lax.fori_loop(
            0, self.train_steps, step, (start.T, opt.init(start.T))
        )
        return BigramParams(logits.T)

    def sample(self, key, params: BigramParams, num, temperature, exact):
        scaled = params.logits / temperature
        unnorm = jnp.exp(scaled - tree_max(scaled)[..., None])
        seqs = sample_sequences(key, prefix_sum(unnorm), num, self.seq_len)
        return Pool.full(seqs, None)

    def _sequence_log_density(self, log_probs, seqs):
        steps = log_probs[seqs[:, :-1], seqs[:, 1:]]  # (num, L - 1)
        return tree_sum(steps, 1) - math.log(self.vocab)

    def log_density(self, params: BigramParams, pool: Pool) -> jax.Array:
        """log p_model(sequence) per sequence (the self-curation reward)."""
        return self._sequence_log_density(log_softmax(params.logits), pool.data)

    def truth_log_density(self, truth, pool: Pool) -> jax.Array:
        """log P(sequence) per sequence (the verifier's reward)."""
        dtype = jnp.result_type(float)
        return self._sequence_log_density(self._truth_log(dtype), pool.data)

    def metrics(self, params: BigramParams, truth, ref: HeldOutCounts) -> dict:
        log_probs = log_softmax(params.logits)
        probs = jnp.exp(log_probs)
        counts = ref.counts
        num = total(counts)
        context = tree_sum(counts, 1) / num  # f_i
        row_entropy = -tree_sum(probs * log_probs, 1)
        missing = jnp.sum(probs < 1.0 / (MISSING_FACTOR * self.vocab))
        # A diverged model (non-finite logits: a learning rate far too large)
        # has no count of missing transitions; NaN, counted as non-finite, not
        # a number computed from NaN probabilities (all compare false).
        diverged = ~jnp.all(jnp.isfinite(params.logits))
        missing = jnp.where(diverged, jnp.nan, missing.astype(log_probs.dtype))
        return {
            "test_nll": -total(counts * log_probs) / num,
            "entropy": tree_sum(context * row_entropy, 0),
            "num_missing_transitions": missing,
        }
