"""The model-family protocol every family in jaxcollapse.models follows.

A family is a frozen, hashable dataclass of static settings, written for ONE chain
(vmap happens outside, in simulate). Its pure methods, key first:

    truth = model.init_truth(key)                      per-chain truth (or None)
    real  = model.sample_truth(key, truth, num, exact) D_0, fresh data (a set)
    ref   = model.reference(key, truth, num, exact)    fixed held-out real data
    params = model.fit(key, train)                     fit to a weighted set
    synth = model.sample(key, params, num, temperature, exact)
    metrics = model.metrics(params, truth, ref)        dict of scalars (SPEC §5)

A *set* is a `Pool` of points on the sample-level path or, where the family has
an exact fast path (`model.has_exact_path`), `Moments` of sufficient statistics.
`model.metric_names` fixes the order of the metrics.
"""

from typing import Any, Protocol


class Model(Protocol):
    name: str
    has_exact_path: bool

    @property
    def metric_names(self) -> tuple[str, ...]: ...

    def init_truth(self, key) -> Any: ...

    def sample_truth(self, key, truth, num: int, exact: bool) -> Any: ...

    def reference(self, key, truth, num: int, exact: bool) -> Any: ...

    def fit(self, key, train) -> Any: ...

    def sample(self, key, params, num: int, temperature, exact: bool) -> Any: ...

    def metrics(self, params, truth, ref) -> dict: ...
