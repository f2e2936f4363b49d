"""The model-family protocol every family in jaxcollapse.models follows.

A family is a frozen, hashable dataclass of static settings, written for ONE chain
(vmap happens outside, in simulate). Its pure methods, key first:

    truth = model.init_truth(key)                      per-chain truth (or None)
    real  = model.sample_truth(key, truth, num, exact) D_0, fresh data (a set)
    ref   = model.reference(key, truth, num, exact)    fixed held-out real data
    params = model.fit(key, train, previous)           fit to a weighted set;
                                                       previous = model t-1's
                                                       params (None at t = 0),
                                                       for fine-tuning; most
                                                       families ignore it
    synth = model.sample(key, params, num, temperature, exact)
    metrics = model.metrics(params, truth, ref)        dict of scalars (SPEC §5)

A *set* is a `Pool` of points on the sample-level path or, where the family has
an exact fast path (`model.has_exact_path`), its own sufficient statistics
(`Moments` for the Gaussian) implementing the same set algebra (union, append,
with_total_weight, total_weight). The `exact` argument says which: False (a
Pool), True (statistics, drawn from their law where the family can), or
SUMMARY (below; only for a family with `summarises_points`).
`model.metric_names` fixes the order of the metrics. A Pool's `data` is
(capacity, *point_shape): a point may be a vector (Gaussian, KDE), a symbol,
a row (x, y), or a whole sequence; families whose scale cannot collapse below
float32's range use `frame=None` (absolute coordinates); `root` labels points
with their generation-0 ancestor where a family needs it (KDE).

Also required:

    model.min_samples() -> int          fewest points a fit accepts (validation)

Optional, for the memory estimate that sizes chunks (simulate):

    model.point_floats() -> int   floats per stored point (default: model.dim)
    model.fixed_floats() -> int   floats a chain carries besides its points
                                  (model parameters, a fixed design, counts)

Optional, read by the engine (chain.py):

    model.metrics_draw: bool         the metrics are Monte Carlo: the engine
                                     calls metrics(params, truth, ref, key)
                                     with a key of their own per generation

    model.params_keep_points: bool   the params hold the training set (KDE):
                                     every fit's set is padded to one capacity

Optional, read by the memory estimate (simulate._per_chain_bytes):

    model.exact_draws_points: bool   the exact path still draws a set's points
                                     before counting them (categorical)
    model.exact_draws_sets: bool     the exact path still draws some sets point
                                     by point and keeps rows (linreg's D_0,
                                     fresh sets and design): counted as SUMMARY

Optional, for the verify modifier (SPEC §4), per point of a Pool:

    model.log_density(params, pool) -> (capacity,)       self-curation reward
    model.truth_log_density(truth, pool) -> (capacity,)  verifier reward
    model.truth_reward(truth, pool) -> (capacity,)       optional: ranks as
                                  truth_log_density does, without its constants

A family's settings are the fields of its frozen dataclass; its __post_init__
raises ValueError naming the setting and the allowed values (SPEC §6).
"""

from typing import Any, Protocol

# The `exact` value of the sample-level path for workflows that only union and
# reweight sets (Replace, Accumulate, Augment, Fresh, Mix, without verify), for
# a family with `summarises_points`: every point is drawn, as on the Pool path,
# and each drawn set is reduced at once to its sufficient statistics, so that
# the draws feed one fused reduction and never reach memory (the Gaussian:
# 100 points a chain-generation cost about half as much). The numbers equal
# the Pool path's up to rounding (tests/test_summary.py).
SUMMARY = "summary"


class Model(Protocol):
    name: str
    has_exact_path: bool

    @property
    def metric_names(self) -> tuple[str, ...]: ...

    def init_truth(self, key) -> Any: ...

    def sample_truth(self, key, truth, num: int, exact: bool) -> Any: ...

    def reference(self, key, truth, num: int, exact: bool) -> Any: ...

    def fit(self, key, train, previous=None) -> Any: ...

    def sample(self, key, params, num: int, temperature, exact: bool) -> Any: ...

    def metrics(self, params, truth, ref) -> dict: ...

    def min_samples(self) -> int: ...
