"""jaxcollapse/_fastmath.py against float64 NumPy/SciPy: log and erfinv over
every argument the normal sampler gives them. Deterministic
(no statistical budget)."""

import jax
import numpy as np

from jaxcollapse import _fastmath

EPS = np.finfo(np.float32).eps


def _all_uniforms():
    """Every value normal()'s uniform on [nextafter(-1, 0), 1) can take in
    float32: the 2^23 mantissas, mapped as jax.random.normal maps them."""
    mantissa = np.arange(2**23, dtype=np.uint32)
    unit = (mantissa | np.float32(1.0).view(np.uint32)).view(np.float32) - 1
    lo = np.nextafter(np.float32(-1.0), np.float32(0.0))
    return np.maximum(lo, unit * (np.float32(1.0) - lo) + lo).astype(np.float32)


def test_log_f32_is_within_a_few_ulps():
    """Over every argument erfinv_f32 gives it ((1 - u)(1 + u), u as above) and
    over random floats down to 1e-30: |error| <= 4 eps max(1, |log x|)."""
    u = _all_uniforms()
    x = np.concatenate(
        [
            (np.float32(1.0) - u) * (np.float32(1.0) + u),
            np.exp(np.random.default_rng(0).uniform(-69, 0, 2**20)).astype(np.float32),
            np.float32([1.0, 0.5, 2**-24, np.sqrt(0.5), np.nextafter(1, 0)]),
        ]
    )
    got = np.asarray(jax.jit(_fastmath.log_f32)(x), np.float64)
    want = np.log(x.astype(np.float64))
    err = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    assert err.max() <= 4 * np.finfo(np.float32).eps, err.max()


def test_erfinv_f32_is_accurate_on_every_uniform():
    """Exhaustive: sqrt(2) erfinv_f32(u) against float64 erfinv on all 2^23
    uniforms, relative error (against max(|z|, 1e-3)) below 5e-7."""
    from scipy.special import erfinv

    u = _all_uniforms()
    got = np.asarray(jax.jit(_fastmath.erfinv_f32)(u), np.float64)
    want = erfinv(u.astype(np.float64))
    err = np.abs(got - want) / np.maximum(np.abs(want), 1e-3)
    assert err.max() < 5e-7, err.max()
    assert np.isfinite(got).all() and np.abs(got).max() < 4.0
