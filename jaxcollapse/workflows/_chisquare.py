"""Exact chi-square variates, fast under vmap.

chi^2_k = 2 Gamma(k/2). Gamma(a), a >= 1, by Marsaglia & Tsang (2000), "A simple
method for generating gamma variables", ACM TOMS 26(3): with d = a - 1/3,
c = 1/sqrt(9d), x ~ N(0, 1), v = (1 + c x)^3 and U ~ U(0, 1), accept d v when
v > 0 and log U < x^2/2 + d - d v + d log v. For a < 1, Gamma(a) =
Gamma(a + 1) U^(1/a) (the same paper).

The rejection probability is below 0.03 / a + 0.02 / a^2 for every a >= 1 (by
quadrature, tested: 0.048 at a = 1, 0.0029 at a = 10, 5.6e-5 at a = 499.5,
about 0.028 / a for large a). Each draw makes
`candidates(a)` proposals at once, as few as keep the chance that all of them
fail below 1e-4, and keeps the first one accepted; only where all failed does a
while loop propose more. Under vmap that loop runs for the whole batch only
while some lane still needs it, which is rare; jax.random.gamma instead loops
for every draw and costs several times more per chain-generation here.

k draws share one key (log_chisquares; k = 1 for one draw): proposal j of
draw i in round r (r = 0 first, then the while loop's rounds) is Threefry
block T_key((r k + i) * candidates + j, 0) of the key, read directly (no
fold_in per round, no jax.random.uniform): in float32 its first word becomes
the normal x as jax.random.normal makes it, sqrt(2) erfinv(w) (with
_fastmath.erfinv_f32, as the Gaussian family's draws), its second word the
uniform U = 1 - (top 23 bits) / 2^23 on (0, 1]; in float64 (x64) both come
from two blocks, twice that block number and the next, their words joined. One
block per proposal halves the hashing of the earlier two uniforms per
proposal, and the leaner program compiles faster: a vmapped chi^2_999 draw
0.91 s -> 0.58 s of XLA compilation and 72 -> 38 ns a draw on the 2-core AMD
EPYC of benchmarks/README.md. Threefry blocks are most of the cost of the
exact fast path, so they are counted here.

The result is exact (rejection sampling is exact however many proposals it
takes); only the order in which random numbers are consumed is ours.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcollapse import _prng


def candidates(a: float) -> int:
    """Proposals per round for Gamma(a), a >= 1: all fail with prob < 1e-4."""
    return max(1, math.ceil(math.log(1e-4) / math.log(rejection_bound(a)) - 1e-9))


def rejection_bound(a: float) -> float:
    """An upper bound on Marsaglia-Tsang's rejection probability, a >= 1."""
    return 0.03 / a + 0.02 / (a * a)


def _proposal_bits(words, index, dtype):
    """(normal bits, uniform bits) of the proposals numbered `index` (uint32):
    the words of block T_key(index, 0) in float32, uint64 words joined from
    blocks 2 index and 2 index + 1 in float64."""
    if jnp.dtype(dtype).itemsize == 4:
        return _prng._hash(words, index, 0)
    a0, a1 = _prng._hash(words, 2 * index, 0)
    b0, b1 = _prng._hash(words, 2 * index + np.uint32(1), 0)
    return _prng.join_words(a0, a1), _prng.join_words(b0, b1)


def _unit_open(bits, dtype):
    """A uniform on (0, 1] from the top mantissa bits of `bits`."""
    return np.array(1.0, dtype) - _prng.unit_interval(bits, dtype)


def _propose(words, attempt, d, c, count: int, dtype):
    """Round `attempt` of Marsaglia-Tsang proposals for k draws at once, the
    draws' d and c given as (k,) constants: `count` proposals each, draw i's
    proposal j numbered (attempt k + i) count + j. Returns (any accepted,
    first accepted), each (k,).

    Each proposal becomes one number, d v where accepted and -1 where not,
    computed once (_prng.computed_once): read by several consumers (the
    acceptance flag, the choice of the first accepted, the while loop's
    update), the hash and erfinv would otherwise be copied into each of them
    by XLA's fusion (the 1-D exact path's generation-0 program: 4.1 -> 2.4 s
    of XLA compilation on the 2-core AMD EPYC)."""
    k = d.shape[0]
    index = (attempt * np.uint32(k) + lax.iota(jnp.uint32, k)[:, None]) * np.uint32(
        count
    ) + lax.iota(jnp.uint32, count)[None, :]
    normal_bits, uniform_bits = _proposal_bits(words, index, dtype)
    x = _prng.bits_to_normal(normal_bits, dtype)
    log_u = jnp.log(_unit_open(uniform_bits, dtype))
    d, c = d[:, None], c[:, None]
    v = (1.0 + c * x) ** 3
    safe_v = jnp.where(v > 0, v, 1.0)
    ok = (v > 0) & (log_u < 0.5 * x * x + d - d * safe_v + d * jnp.log(safe_v))
    value = _prng.computed_once(jnp.where(ok, d * safe_v, -1.0), words)
    first = value[:, count - 1]
    for j in range(count - 2, -1, -1):
        first = jnp.where(value[:, j] >= 0, value[:, j], first)
    return first >= 0, first


def _gamma_at_least_one(words, shapes: np.ndarray, dtype):
    """Gamma(a_i) draws for static shapes a_i >= 1, (k,), from key words
    `words`: one round of proposals for all, then one while loop for those
    whose proposals all failed."""
    d = shapes - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    d, c = jnp.asarray(d, dtype), jnp.asarray(c, dtype)
    count = max(candidates(float(a)) for a in shapes)
    done, value = _propose(words, np.uint32(0), d, c, count, dtype)

    def more(state):
        attempt, done, value = state
        ok, proposal = _propose(words, attempt, d, c, count, dtype)
        return attempt + 1, done | ok, jnp.where(done, value, proposal)

    _, _, value = jax.lax.while_loop(
        lambda s: ~jnp.all(s[1]), more, (jnp.uint32(1), done, value)
    )
    return value


def log_chisquares(key, dofs, dtype=None):
    """logs of independent chi^2_{dof_i} draws for static dofs > 0, (k,); exact
    in law. All k share one key, one round of proposals and one while loop,
    so the program's size does not grow with k (d chi-squares of a Bartlett
    decomposition). For k = 1 the same draws as log_chisquare.

    Logs are returned so that callers can keep scales in log space; for
    dof < 2 a draw is formed as log Gamma(a + 1) + log(U) / a without
    underflow."""
    dtype = jnp.dtype(dtype or jnp.zeros(()).dtype)
    words = jax.random.key_data(key)
    halves = 0.5 * np.asarray(dofs, np.float64).reshape(-1)
    if not np.all(halves > 0):
        raise ValueError(f"chi-square degrees of freedom must be > 0; got {dofs}")
    boost = halves < 1.0
    g = _gamma_at_least_one(words, np.where(boost, halves + 1.0, halves), dtype)
    out = math.log(2.0) + jnp.log(g)
    if not boost.any():
        return out
    # Proposals use blocks 0, 1, ... of the key; the boosts' uniforms take the
    # last blocks, out of their way.
    top = np.uint32(0xFFFFFFFF) if dtype.itemsize == 4 else np.uint32(0x7FFFFFFF)
    index = top - lax.iota(jnp.uint32, halves.size)
    u = _unit_open(_proposal_bits(words, index, dtype)[0], dtype)
    scale = jnp.asarray(np.where(boost, 1.0 / halves, 0.0), dtype)
    return out + jnp.log(u) * scale


def log_chisquare(key, dof: float, dtype=None):
    """log of one chi^2_dof draw, for a static dof > 0; exact in law (see
    log_chisquares)."""
    return log_chisquares(key, (dof,), dtype)[0]


def chisquare(key, dof: float, dtype=None):
    """One chi^2_dof draw for a static dof > 0."""
    return jnp.exp(log_chisquare(key, dof, dtype))
