"""float32 log and erfinv as straight-line arithmetic, for the normal sampler.

Inside one of XLA's CPU loop fusions (the Threefry hash, the uniform, erfinv and
the reduction of the draws, all fused), XLA's own log and erf_inv cost more than
plain polynomial arithmetic that it vectorises with the rest: on the CPU
benchmark machine, per-chain normal draws reduced at once went from about 240M
to 300M values a second with these (2 devices, 256-bit vectors; see
benchmarks/README.md). Alone, in a fusion XLA hands to its YNNPACK kernels, XLA's
log is faster than log_f32, so this is not a general replacement: it is used
for the Gaussian family's float32 normal draws and the exact path's normal
proposals only. Tested against float64 NumPy/SciPy (tests/test_fastmath.py).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# float32 inverse error function: M. Giles (2012), "Approximating the erfinv
# function", GPU Computing Gems Jade Edition, ch. 10 (the single-precision
# version): with w = -log((1 - x)(1 + x)), erfinv(x) = x p(w - 2.5) for w < 5
# and x q(sqrt(w) - 3) otherwise, p and q of degree 8 (coefficients from the
# paper, highest degree first).
_GILES_CENTRAL = (
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
    0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
)  # fmt: skip
_GILES_TAIL = (
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
    0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
)  # fmt: skip

# log(1 + f) = f - f^2/2 + f^3 r(f) on f in [sqrt(1/2) - 1, sqrt(2) - 1]: r of
# degree 5 by least squares on 4000 Chebyshev nodes of that interval (numpy
# polyfit in float64; highest degree first). tests/test_fastmath.py holds log_f32
# to 4 float32 epsilons of max(1, |log x|) on every argument erfinv_f32 gives it.
_LOG1P_TAIL = (
    -0.10743682169520029, 0.15903149608577385, -0.16973305829888305,
    0.19940134924885092, -0.24992541278328487, 0.3333369940305883,
)  # fmt: skip
_SQRT_HALF_BITS = np.float32(np.sqrt(0.5)).view(np.int32)


def _horner(coefficients, x):
    out = jnp.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        out = out * x + np.float32(c)
    return out


@jax.jit
def log_f32(x):
    """log x for positive, normal float32 x, in straight-line arithmetic that
    XLA fuses and vectorises with its neighbours: x = 2^e m with m in
    [sqrt(1/2), sqrt(2)) read from the bits, then e log 2 + log1p(m - 1) by
    the polynomial above."""
    bits = lax.bitcast_convert_type(x, jnp.int32) - _SQRT_HALF_BITS
    e = lax.shift_right_arithmetic(bits, np.int32(23))
    m = lax.bitcast_convert_type((bits & np.int32(0x7FFFFF)) + _SQRT_HALF_BITS, x.dtype)
    f = m - np.float32(1.0)
    f2 = f * f
    tail = f2 * f * _horner(_LOG1P_TAIL, f)
    return e.astype(x.dtype) * np.float32(math.log(2.0)) + (f - 0.5 * f2 + tail)


@jax.jit
def erfinv_f32(x):
    """erfinv(x) for float32 x in (-1, 1), Giles' single-precision formula (see
    _GILES_CENTRAL) with log_f32. Over all 2^23 uniforms that normal() maps to
    (-1, 1) it is within 3e-7 (relative) of erfinv in float64; XLA's erf_inv,
    which jax.random.normal uses, is within 6e-6 (tests/test_fastmath.py)."""
    w = -log_f32((np.float32(1.0) - x) * (np.float32(1.0) + x))
    central = _horner(_GILES_CENTRAL, w - np.float32(2.5))
    tail = _horner(_GILES_TAIL, jnp.sqrt(w) - np.float32(3.0))
    return jnp.where(w < np.float32(5.0), central, tail) * x


def erfinv(x):
    """erfinv_f32 for float32 x, XLA's erf_inv for other dtypes (the one
    place that choice is made: the normal sampler and the exact path's
    chi-square proposals both call this)."""
    return erfinv_f32(x) if x.dtype == jnp.float32 else lax.erf_inv(x)
