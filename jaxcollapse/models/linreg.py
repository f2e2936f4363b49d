"""The `linreg` family: least squares on a fixed design, resample y, refit.

Truth (SPEC §2): y = x·w* + s·eps, x ~ N(0, I_d), eps ~ N(0, 1), with the fixed
w* = (1, ..., 1) / sqrt(d) (unit norm). A point is the row (x, y), shape (d+1,),
in absolute coordinates (frame None).

Fixed design. Each chain has one design stream: rows x_0, x_1, ... drawn once
from a per-chain design key (the truth; `init_truth` returns the key's data).
- D_0 is rows 0..n_r-1 of the stream with y = x·w* + s eps (n_r = num_real);
  fresh real data (workflow fresh) is the same rows with new noise.
- Model t draws a synthetic set of `num` rows at design rows 0..num-1 with
  y = x·w_hat + tau s eps (synthetic noise has the truth's scale s, times tau);
  rows past n_r (when num > n_r, e.g. the verify modifier's candidates) come
  from a second per-chain stream drawn once at generation 0.
So when num_real = num_samples, D_0, every fresh set and every synthetic set
share the same n design rows, generation after generation (Dohmatob et al.
2024, "Model collapse demystified"; Gerstgrasser et al. 2024, "Is model
collapse inevitable?"). The model carries its design (D_0's rows and the
second stream's key) from fit to fit (fit's `previous`), because sampling
sees only the model.

Exact fast path (exact_path auto/on, on the workflows that only union and
reweight sets): sets are Grams (below), and a synthetic set on the whole
design X draws its statistics instead of its n noise values. The fit sees the
set only through G = X^T X, fixed, and X^T y = G w_hat + tau s X^T eps, and
X^T eps ~ N(0, G) exactly given X; so X^T eps is drawn as L z, z ~ N(0, I_d),
with L L^T = G the design's Cholesky factor, computed once at generation 0
(Jacobi-scaled, as the fit's; with the fit's ridge fallback should the scaled
G not be numerically positive definite, a probability-zero event for n >= d + 2
Gaussian rows). d normals and a d x d product instead of n normals and an
n x d one: the same law. D_0, fresh real sets and sets of other rows are drawn
point by point as on the sample-level path. With exact_path off, sets on these
workflows are still Grams (SUMMARY), of drawn points.

Fit: weighted least squares w_hat = G^{-1} b, G = sum_i w_i x_i x_i^T,
b = sum_i w_i x_i y_i (fixed-tree sums; zero-weight slots contribute nothing),
solved by Cholesky (elementwise code, workflows/_linalg.py) after symmetric
Jacobi scaling (unit diagonal), with one step of iterative refinement on the
residual b - G w_hat. If the scaled Gram matrix is not numerically positive
definite (fewer than d independent weighted rows,
which the engine's n >= d + 2 Gaussian rows make a probability-zero event) the
fit solves (G_scaled + 1e-5 I) instead, so it is never NaN.
"""

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from jaxcollapse import _prng
from jaxcollapse.config import assign, check_integer, check_number
from jaxcollapse.workflows._linalg import (
    cholesky_lower,
    matvec,
    solve_lower,
    tree_sum,
    weighted_mean,
    weighted_scatter,
)
from jaxcollapse.workflows._pool import Pool

RIDGE = 1e-5


class Gram(NamedTuple):
    """A weighted row set kept as what least squares needs (the SUMMARY
    representation, models/_base.py): on workflows that only union and reweight
    sets the fit depends on them through G = sum w x x^T and b = sum w x y
    alone, so an accumulated pool of n (T + 1) rows costs O(d^2) numbers and
    one O(n d^2) update a generation instead of an O(n T d^2) refit."""

    weight: jax.Array  # () total weight W
    gram: jax.Array  # (d, d) sum_i w_i x_i x_i^T
    rhs: jax.Array  # (d,) sum_i w_i x_i y_i
    design: jax.Array  # (m, d) the rows of the first set (D_0's, for the model)

    def total_weight(self) -> jax.Array:
        return self.weight

    def with_total_weight(self, total) -> "Gram":
        ratio = jnp.where(self.weight > 0, total / self.weight, 0.0)
        return self._replace(
            weight=self.weight * ratio, gram=self.gram * ratio, rhs=self.rhs * ratio
        )

    def union(self, other: "Gram") -> "Gram":
        return Gram(
            self.weight + other.weight,
            self.gram + other.gram,
            self.rhs + other.rhs,
            self.design,
        )

    append = union


class LinRegParams(NamedTuple):
    """A fitted linear model and the chain's fixed design."""

    weights: jax.Array  # (d,) w_hat
    design: jax.Array  # (n_r, d) design rows 0..n_r-1 (D_0's x)
    design_key: jax.Array  # (2,) uint32 key data of the rows past n_r
    # sum over the design rows of x x^T, computed once at generation 0: a
    # synthetic set on the whole design has this Gram every generation
    design_gram: jax.Array  # (d, d)
    # L with L L^T = design_gram (exact path: X^T eps is drawn as L z)
    design_chol: jax.Array  # (d, d) lower triangular


def _scaled_factor(gram, rhs):
    """Symmetric Jacobi scaling and Cholesky: (G_s, rhs_s, scale, L_s) with
    G_s = G / (scale scale^T) of unit diagonal, rhs_s = rhs / scale (None stays
    None) and L_s L_s^T = G_s, or G_s + RIDGE I where G_s is not numerically
    positive definite. So L = diag(scale) L_s factors G itself."""
    d = gram.shape[-1]
    diag = jnp.diagonal(gram)
    scale = jnp.sqrt(jnp.where(diag > 0, diag, 1.0))
    gram = gram / (scale[:, None] * scale[None, :])
    if rhs is not None:
        rhs = rhs / scale
    chol = cholesky_lower(gram)
    ridge = cholesky_lower(gram + RIDGE * jnp.eye(d, dtype=gram.dtype))
    chol = jnp.where(jnp.all(jnp.isfinite(chol)), chol, ridge)
    return gram, rhs, scale, chol


@dataclass(frozen=True)
class LinReg:
    """Linear regression on a fixed Gaussian design (SPEC §2); `dim` d >= 1
    features, `noise` s > 0."""

    dim: int = 10
    noise: float = 1.0
    name: ClassVar[str] = "linreg"
    has_exact_path: ClassVar[bool] = True
    summarises_points: ClassVar[bool] = True
    # On the exact path D_0 and fresh sets are still drawn row by row, and
    # every chain keeps its design: the memory estimate counts them (simulate).
    exact_draws_sets: ClassVar[bool] = True

    def __post_init__(self):
        assign(
            self,
            dim=check_integer("dim", self.dim, 1),
            noise=check_number("noise", self.noise, 0.0, strict_min=True),
        )

    def min_samples(self) -> int:
        """n >= d + 2: OLS needs n >= d, and E tr (X^T X)^{-1} = d / (n - d - 1)."""
        return self.dim + 2

    def point_floats(self) -> int:
        return self.dim + 1

    def fixed_floats(self) -> int:
        return 4 * (self.dim + 1) ** 2

    @property
    def metric_names(self) -> tuple[str, ...]:
        return ("test_error", "param_sqerr")

    def true_weights(self, dtype=None) -> jax.Array:
        """w* = (1, ..., 1) / sqrt(d)."""
        dtype = dtype or jnp.zeros(()).dtype
        return jnp.full((self.dim,), 1.0 / math.sqrt(self.dim), dtype)

    def _rows(self, x, w, scale, key, exact=False, gram=None, chol=None):
        """The rows (x, x·w + scale eps): a Pool, or their Gram (exact path or
        SUMMARY). `gram`, when given, is sum x x^T of these rows, already
        computed: then sum x y = G w + scale X^T eps, which skips forming y
        (the same draws, the same numbers up to rounding); with `chol` too, on
        the exact path, X^T eps is drawn as chol z (module text)."""
        weight = jnp.asarray(x.shape[0], x.dtype)
        if exact is True and gram is not None and chol is not None:
            z = _prng.normal(key, (self.dim,), x.dtype, materialise=True)
            rhs = matvec(gram, w) + scale * matvec(chol, z)
            return Gram(weight, gram, rhs, x)
        eps = jax.random.normal(key, (x.shape[0],), x.dtype)
        if exact and gram is not None:
            rhs = matvec(gram, w) + scale * weighted_mean(eps, x)
            return Gram(weight, gram, rhs, x)
        y = tree_sum(x * w, 1) + scale * eps
        if exact:  # True or SUMMARY: a Gram of the drawn rows
            ones = jnp.ones(x.shape[:1], x.dtype)
            rhs = weighted_mean(ones, x * y[:, None])
            return Gram(weight, weighted_scatter(ones, x), rhs, x)
        return Pool.full(jnp.concatenate([x, y[:, None]], axis=1), None)

    def init_truth(self, key):
        """The chain's design key, as key data (uint32)."""
        return jax.random.key_data(key)

    def sample_truth(self, key, truth, num, exact):
        """Design rows 0..num-1 with y = x·w* + s eps (noise from `key`)."""
        dtype = jnp.zeros(()).dtype
        design_key = jax.random.wrap_key_data(truth, impl=jax.random.key_impl(key))
        x = jax.random.normal(design_key, (num, self.dim), dtype)
        return self._rows(x, self.true_weights(dtype), self.noise, key, exact)

    def reference(self, key, truth, num, exact):
        """No held-out set: test_error is a closed form in w_hat."""
        return None

    def sample(self, key, params: LinRegParams, num, temperature, exact):
        """Design rows 0..num-1 with y = x·w_hat + tau s eps."""
        design = params.design
        have = design.shape[0]
        whole = num == have  # the whole design: its Gram and factor are known
        gram = params.design_gram if whole else None
        chol = params.design_chol if whole else None
        if num <= have:
            x = design[:num]
        else:
            extra_key = jax.random.wrap_key_data(
                params.design_key, impl=jax.random.key_impl(key)
            )
            extra = jax.random.normal(extra_key, (num - have, self.dim), design.dtype)
            x = jnp.concatenate([design, extra])
        scale = temperature * self.noise
        return self._rows(x, params.weights, scale, key, exact, gram, chol)

    def fit(self, key, train, previous: LinRegParams | None = None):
        """Weighted least squares (module docstring) on a Pool or a Gram.
        Generation 0 (no previous model) takes the design from its training
        set, D_0; later fits keep the previous model's."""
        d = self.dim
        if isinstance(train, Gram):
            gram, rhs, x = train.gram, train.rhs, train.design
        else:
            x, y, w = train.data[:, :d], train.data[:, d], train.weight
            gram = weighted_scatter(w, x)
            rhs = weighted_mean(w, x * y[:, None])
        gram, rhs, scale, chol = _scaled_factor(gram, rhs)

        def solve(b):
            return solve_lower(chol, solve_lower(chol, b), transpose=True)

        z = solve(rhs)
        z = z + solve(rhs - matvec(gram, z))
        weights = z / scale
        if previous is not None:
            return previous._replace(weights=weights)
        design_key = jax.random.key_data(jax.random.fold_in(key, 1))
        design_gram = weighted_scatter(jnp.ones(x.shape[:1], x.dtype), x)
        _, _, design_scale, design_chol = _scaled_factor(design_gram, None)
        design_chol = design_scale[:, None] * design_chol
        return LinRegParams(weights, x, design_key, design_gram, design_chol)

    def _log_density(self, w, pool: Pool) -> jax.Array:
        d = self.dim
        x, y = pool.data[:, :d], pool.data[:, d]
        z = (y - tree_sum(x * w, 1)) / self.noise
        return -0.5 * z * z - math.log(self.noise) - 0.5 * math.log(2.0 * math.pi)

    def log_density(self, params: LinRegParams, pool: Pool) -> jax.Array:
        """log N(y; x·w_hat, s^2) per row (the self-curation reward)."""
        return self._log_density(params.weights, pool)

    def truth_log_density(self, truth, pool: Pool) -> jax.Array:
        """log N(y; x·w*, s^2) per row (the verifier's reward)."""
        return self._log_density(self.true_weights(pool.data.dtype), pool)

    def metrics(self, params: LinRegParams, truth, ref) -> dict:
        """test_error = E_x (x·(w_hat - w*))^2 over fresh x ~ N(0, I_d), which is
        ||w_hat - w*||^2 in closed form (isotropic x; the noise s^2 is left
        out); param_sqerr = ||w_hat - w*||^2. Equal here, as SPEC §5 lists both."""
        err = params.weights - self.true_weights(params.weights.dtype)
        sqerr = tree_sum(err * err, 0)
        return {"test_error": sqerr, "param_sqerr": sqerr}
