"""The host accumulator of per-generation moments (stats.Accumulator): the
merge of blocks is Chan et al.'s, exact against NumPy, and an empty block or a
cross term past float64's range never turns the statistics NaN."""

import numpy as np

from jaxcollapse.stats import Accumulator


def _add(acc, values):
    """One block of values as block_moments would give it (scale 1)."""
    values = np.asarray(values, np.float64)
    count = np.array([values.size])
    mean = np.array([values.mean() if values.size else np.nan])
    m2 = np.array([((values - values.mean()) ** 2).sum() if values.size else np.nan])
    acc.add_blocks(count, mean, m2, np.ones(1), np.zeros(1, np.int64))


def test_blocks_merge_to_numpy_moments():
    rng = np.random.default_rng(0)
    blocks = [rng.normal(3.0, 2.0, size) for size in (5, 1, 17, 8)]
    acc = Accumulator(())
    for b in blocks:
        _add(acc, b)
    every = np.concatenate(blocks)
    summary = acc.summary()
    np.testing.assert_allclose(summary["mean"], every.mean(), rtol=1e-12)
    np.testing.assert_allclose(summary["std"], every.std(ddof=1), rtol=1e-12)


def test_empty_block_and_overflow_are_never_nan():
    acc = Accumulator(())
    _add(acc, [])  # an empty block: its mean and m2 are NaN, and ignored
    _add(acc, [1.0, 2.0])
    _add(acc, [])
    assert acc.summary()["mean"] == 1.5
    big = Accumulator(())
    _add(big, [1e300])
    _add(big, [-1e300])  # the cross term overflows: m2 is inf, not NaN
    summary = big.summary()
    assert summary["mean"] == 0.0 and summary["std"] == np.inf
