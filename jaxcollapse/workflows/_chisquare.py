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

All proposals of one round come from ONE jax.random.uniform call on (-1, 1)
(2 x candidates values; one Threefry block per two float32 values): the first
half become normals as jax.random.normal makes them, sqrt(2) erfinv(w) (in
float32 with _fastmath.erfinv_f32, as the Gaussian family's draws), the second
half uniforms |w| on [0, 1). Threefry blocks are most of the cost of the exact fast
path, so they are counted here.

The result is exact (rejection sampling is exact however many proposals it
takes); only the order in which random numbers are consumed is ours.
"""

import math

import jax
import jax.numpy as jnp

from jaxcollapse._fastmath import erfinv


def candidates(a: float) -> int:
    """Proposals per round for Gamma(a), a >= 1: all fail with prob < 1e-4."""
    return max(1, math.ceil(math.log(1e-4) / math.log(rejection_bound(a)) - 1e-9))


def rejection_bound(a: float) -> float:
    """An upper bound on Marsaglia-Tsang's rejection probability, a >= 1."""
    return 0.03 / a + 0.02 / (a * a)


def _propose(key, d: float, c: float, count: int, dtype):
    """`count` Marsaglia-Tsang proposals; (any accepted, first accepted)."""
    lo = jnp.nextafter(jnp.asarray(-1.0, dtype), jnp.asarray(1.0, dtype))
    w = jax.random.uniform(key, (2 * count,), dtype, minval=lo, maxval=1.0)
    x = math.sqrt(2.0) * erfinv(w[:count])
    u = jnp.abs(w[count:])
    v = (1.0 + c * x) ** 3
    safe_v = jnp.where(v > 0, v, 1.0)
    ok = (v > 0) & (jnp.log(u) < 0.5 * x * x + d - d * safe_v + d * jnp.log(safe_v))
    if count == 1:
        return ok[0], d * safe_v[0]
    first = jnp.argmax(ok)
    return ok[first], d * safe_v[first]


def _gamma_at_least_one(key, a: float, dtype):
    """One Gamma(a) draw for a static a >= 1."""
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    count = candidates(a)
    done, value = _propose(jax.random.fold_in(key, 0), d, c, count, dtype)

    def more(state):
        attempt, done, value = state
        ok, proposal = _propose(jax.random.fold_in(key, attempt), d, c, count, dtype)
        return attempt + 1, ok, jnp.where(ok, proposal, value)

    _, _, value = jax.lax.while_loop(
        lambda s: ~s[1], more, (jnp.uint32(1), done, value)
    )
    return value


def log_chisquare(key, dof: float, dtype=None):
    """log of one chi^2_dof draw, for a static dof > 0; exact in law.

    The log is returned so that callers can keep scales in log space; for
    dof < 2 it is formed as log Gamma(a + 1) + log(U) / a without underflow.
    """
    dtype = dtype or jnp.zeros(()).dtype
    a = 0.5 * float(dof)
    if a >= 1.0:
        return math.log(2.0) + jnp.log(_gamma_at_least_one(key, a, dtype))
    g = _gamma_at_least_one(key, a + 1.0, dtype)
    # fold_in(key, 0), (key, 1), ... feed the gamma's rounds; the boost takes
    # the top of the uint32 range, out of their way.
    boost = jax.random.fold_in(key, 0xFFFFFFFF)
    u = jax.random.uniform(boost, (), dtype, minval=jnp.finfo(dtype).tiny)
    return math.log(2.0) + jnp.log(g) + jnp.log(u) / a


def chisquare(key, dof: float, dtype=None):
    """One chi^2_dof draw for a static dof > 0."""
    return jnp.exp(log_chisquare(key, dof, dtype))
