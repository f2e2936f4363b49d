"""Shared test settings.

Statistical tests compare simulation with theory by z-scores built from the
across-chain standard error (chains are independent, so sem = sd / sqrt(C)).
False-failure budget: each statistical module gets ALPHA_MODULE = 1e-4, split
by Bonferroni over that module's comparisons; with fewer than ten such modules
the whole suite fails falsely with probability below 1e-3. Seeds are fixed for
reproducibility and were never tuned to make a test pass.
"""

from scipy import stats

ALPHA_MODULE = 1e-4


def z_limit(num_comparisons: int, alpha: float = ALPHA_MODULE) -> float:
    """Two-sided |z| bound for one of num_comparisons tests sharing alpha."""
    return float(stats.norm.isf(alpha / (2 * num_comparisons)))
