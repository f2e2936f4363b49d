"""Data workflows (SPEC §4): how generation t's training set D_t is built.

Each workflow is a frozen dataclass with an optax-style pair of pure functions,
written for one chain and for either set representation (a point `Pool` on the
sample-level path, `Moments` on the exact fast path):

    state = workflow.init(real, num_samples=n, num_generations=T)
    train, state = workflow.update(key, state, synthetic, fresh, real_weight)

`real` is D_0 (num_real draws from the truth), `synthetic` the n points model t-1
drew, `fresh` num_real new draws from the truth (only when `needs_fresh`), and
`real_weight` the sweepable lambda as a traced scalar.
"""

import math
from dataclasses import dataclass
from typing import ClassVar

from jaxcollapse.workflows._frame import Frame
from jaxcollapse.workflows._moments import Moments
from jaxcollapse.workflows._pool import Pool

__all__ = [
    "WORKFLOWS",
    "Accumulate",
    "AccumulateSubsample",
    "Augment",
    "Frame",
    "Fresh",
    "Mix",
    "Moments",
    "Pool",
    "Replace",
    "Verify",
    "get_workflow",
]


@dataclass(frozen=True)
class Replace:
    """D_t = n synthetic points ("fully synthetic loop"; Shumailov et al. 2024)."""

    name: ClassVar[str] = "replace"
    needs_fresh: ClassVar[bool] = False
    exact: ClassVar[bool] = True

    def init(self, real, *, num_samples, num_generations):
        return ()

    def update(self, key, state, synthetic, fresh, real_weight):
        return synthetic, state


@dataclass(frozen=True)
class Accumulate:
    """D_t = D_{t-1} ∪ n synthetic; D_0 stays in (Gerstgrasser et al. 2024)."""

    name: ClassVar[str] = "accumulate"
    needs_fresh: ClassVar[bool] = False
    exact: ClassVar[bool] = True

    def init(self, real, *, num_samples, num_generations):
        if not isinstance(real, Pool):  # sufficient statistics grow by union
            return real
        capacity = real.data.shape[0] + num_samples * num_generations
        return Pool.empty(capacity, real).append(real)

    def update(self, key, state, synthetic, fresh, real_weight):
        pool = state.append(synthetic)
        return pool, pool


@dataclass(frozen=True)
class AccumulateSubsample(Accumulate):
    """D_t = n points drawn without replacement from D_0 ∪ all synthetic so far.

    Kazdan et al. 2024 ("Collapse or thrive?"). Sample-level only: a uniform
    subset of a pool has no exact law in terms of the pool's moments.
    """

    name: ClassVar[str] = "accumulate-subsample"
    exact: ClassVar[bool] = False

    def update(self, key, state, synthetic, fresh, real_weight):
        pool = state.append(synthetic)
        num = synthetic.data.shape[0]
        return pool.subsample(key, num), pool


@dataclass(frozen=True)
class Augment:
    """D_t = D_0 ∪ n synthetic ("synthetic augmentation loop"; Alemohammad et al.
    2024)."""

    name: ClassVar[str] = "augment"
    needs_fresh: ClassVar[bool] = False
    exact: ClassVar[bool] = True

    def init(self, real, *, num_samples, num_generations):
        return real

    def update(self, key, state, synthetic, fresh, real_weight):
        return state.union(synthetic), state


@dataclass(frozen=True)
class Fresh:
    """D_t = num_real fresh real draws ∪ n synthetic ("fresh data loop").

    With `weighted`, the fresh points carry total weight lambda and the synthetic
    points 1 - lambda; at equal sizes the lambda that minimises the mean's error at
    the fixed point is the golden ratio 0.618 (He, Xu & Cheng 2025).
    """

    weighted: bool = False
    name: ClassVar[str] = "fresh"
    needs_fresh: ClassVar[bool] = True
    exact: ClassVar[bool] = True

    def init(self, real, *, num_samples, num_generations):
        return ()

    def update(self, key, state, synthetic, fresh, real_weight):
        if isinstance(fresh, Pool):
            fresh = fresh.unrooted()  # new real data: no generation-0 ancestor
        if self.weighted:
            fresh = fresh.with_total_weight(real_weight)
            synthetic = synthetic.with_total_weight(1.0 - real_weight)
        return fresh.union(synthetic), state


@dataclass(frozen=True)
class Mix:
    """D_0 with total weight lambda ∪ n synthetic with total weight 1 - lambda.

    Iterative retraining with a real-data fraction (Bertrand et al. 2024).
    """

    name: ClassVar[str] = "mix"
    needs_fresh: ClassVar[bool] = False
    exact: ClassVar[bool] = True

    def init(self, real, *, num_samples, num_generations):
        return real

    def update(self, key, state, synthetic, fresh, real_weight):
        real = state.with_total_weight(real_weight)
        return real.union(synthetic.with_total_weight(1.0 - real_weight)), state


@dataclass(frozen=True)
class Verify:
    """The verify modifier (SPEC §4): each generation draws ceil(n / rho)
    candidates and keeps the n with the highest reward, the log-density under
    the truth (`reward="truth"`, a verifier; Feng et al. 2024, "Beyond model
    collapse: scaling up with synthesized data requires verification") or under
    the current model (`reward="model"`, self-curation). Candidates are points,
    so a verified run takes the sample-level path.
    """

    keep_fraction: float
    reward: str = "truth"

    REWARDS: ClassVar[tuple[str, ...]] = ("truth", "model")

    def __post_init__(self):
        from jaxcollapse.config import assign, check_choice, check_number

        try:
            rho = check_number("keep_fraction", self.keep_fraction)
        except ValueError:
            raise ValueError(
                f"keep_fraction must be a number in (0, 1]; got {self.keep_fraction!r}"
            ) from None
        if not 0.0 < rho <= 1.0:
            raise ValueError(f"keep_fraction must be in (0, 1]; got {rho!r}")
        check_choice("verify reward", self.reward, self.REWARDS)
        assign(self, keep_fraction=rho)

    def num_candidates(self, num_samples: int) -> int:
        # The small tolerance keeps 100 / 0.1 at 1000, not 1001.
        return max(num_samples, math.ceil(num_samples / self.keep_fraction - 1e-9))


WORKFLOWS = {
    cls.name: cls
    for cls in (Replace, Accumulate, AccumulateSubsample, Augment, Fresh, Mix)
}


def get_workflow(name: str, *, real_weight=None):
    """The workflow called `name`; `fresh` is weighted when real_weight is given."""
    if name not in WORKFLOWS:
        raise ValueError(
            f"workflow must be one of {', '.join(WORKFLOWS)}; got {name!r}"
        )
    if name == "fresh":
        return Fresh(weighted=real_weight is not None)
    return WORKFLOWS[name]()
