"""One self-consuming chain (SPEC §1): a lax.scan over generations.

Generation 0 fits D_0 (num_real draws from the truth); generation t >= 1 samples
from model t-1 at temperature tau, builds D_t by the workflow and refits. The
chain emits the model's metrics at t = 0..T (observables, never the samples).

Randomness: the chain key is fold_in(root, chain_index); generation t uses
fold_in(chain_key, t) alone, and its four consumers (sample, fresh draw,
workflow, fit) get fold_in(that, 0..3), and a family whose metrics are Monte
Carlo (`model.metrics_draw`) gets fold_in(that, 4) for model t's metrics: a
consumer that draws nothing costs nothing, where a split would hash all the
keys every generation. So a chain's
path does not depend on the number of chains, the chunk size, the device count,
or on the generations being run in several segments (progress reporting,
resume).
"""

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxcollapse.workflows._pool import Pool


@dataclass(frozen=True)
class Sizes:
    """Static sizes of a run (they fix array shapes, hence the compiled program)."""

    num_samples: int
    num_generations: int
    num_real: int
    num_test: int = 500
    verify: Any = None  # a workflows.Verify modifier, or None


def draw_synthetic(key, state, model, sizes: Sizes, temperature, exact: bool):
    """Model t-1's n synthetic points, curated when sizes.verify is set (SPEC §4:
    ceil(n / rho) candidates, the n with the highest reward kept)."""
    verify = sizes.verify
    if verify is None:
        return model.sample(key, state.params, sizes.num_samples, temperature, exact)
    num = verify.num_candidates(sizes.num_samples)
    candidates = model.sample(key, state.params, num, temperature, False)
    if verify.reward == "truth":
        # A family may rank by a constant-free form of the same order (the
        # Gaussian: -|x|^2), which keeps its resolution once the points sit
        # within float32's rounding of the constant (deep collapse).
        reward = getattr(model, "truth_reward", model.truth_log_density)
        score = reward(state.truth, candidates)
    else:
        score = model.log_density(state.params, candidates)
    return candidates.best(score, sizes.num_samples)


def _subkeys(key, num: int):
    """fold_in(key, i) for i < num; XLA drops the ones nobody uses."""
    return [jax.random.fold_in(key, i) for i in range(num)]


def _keeps_points(model) -> bool:
    return bool(getattr(model, "params_keep_points", False))


def _padded(train, capacity: int):
    """train with empty slots added up to `capacity` (weight 0: same fit)."""
    if train.weight.shape[0] >= capacity:
        return train
    return Pool.empty(capacity, train).append(train)


def _fit_capacity(key, workflow, sizes: Sizes, real, flow) -> int:
    """Slots of every fit's training set for families whose params keep the
    training points (model.params_keep_points): max(num_real, slots of D_t),
    so that model 0 and model t >= 1 have one shape in the scan's carry. Only
    the shapes of a generation's update are traced (jax.eval_shape)."""

    def update():
        synthetic = real.take(jnp.zeros((sizes.num_samples,), jnp.int32))
        fresh = real if workflow.needs_fresh else None
        return workflow.update(key, flow, synthetic, fresh, jnp.zeros(()))

    train, _ = jax.eval_shape(update)
    return max(sizes.num_real, train.weight.shape[0])


class ChainState(NamedTuple):
    """Everything a chain carries from one generation to the next."""

    params: Any  # the current model
    flow: Any  # the workflow's state (e.g. the accumulated pool)
    truth: Any  # per-chain truth settings (None for most families)
    ref: Any  # the fixed held-out real set


def init_chain(key, model, workflow, sizes: Sizes, exact: bool):
    """The state of the chain with key `key` at generation 0: its truth,
    held-out set, workflow state and model 0 (the fit to D_0). Generation 0's
    metrics come from advance_chain's step 0, so that a run compiles the
    metrics (and their statistics) once, in the scan body."""
    k_truth, k_real, k_test, k_fit = _subkeys(jax.random.fold_in(key, 0), 4)
    truth = model.init_truth(k_truth)
    real = model.sample_truth(k_real, truth, sizes.num_real, exact)
    ref = model.reference(k_test, truth, sizes.num_test, exact)
    flow = workflow.init(
        real, num_samples=sizes.num_samples, num_generations=sizes.num_generations
    )
    first = real
    if _keeps_points(model):
        first = _padded(real, _fit_capacity(k_fit, workflow, sizes, real, flow))
    params = model.fit(k_fit, first)
    return ChainState(params, flow, truth, ref)


def advance_chain(
    key,
    state: ChainState,
    steps,
    model,
    workflow,
    sizes: Sizes,
    temperature,
    real_weight,
    exact: bool,
):
    """Emit the metrics of generations `steps` (uint32 array, consecutive),
    starting from `state`, model steps[0]: each step emits its model's metrics,
    then computes the next model. Returns (state, {name: (steps,)}), the state
    being model steps[-1] + 1, the next segment's start (the last segment of a
    run computes one model past what it emits, and any steps past T, and drops
    them). Generation 0's metrics come from here too, so that a run compiles
    the metrics, and their statistics, once."""

    def next_model(state, t):
        k_sample, k_fresh, k_flow, k_fit = _subkeys(jax.random.fold_in(key, t), 4)
        synthetic = draw_synthetic(k_sample, state, model, sizes, temperature, exact)
        fresh = None
        if workflow.needs_fresh:
            fresh = model.sample_truth(k_fresh, state.truth, sizes.num_real, exact)
        train, flow = workflow.update(k_flow, state.flow, synthetic, fresh, real_weight)
        if _keeps_points(model):
            train = _padded(train, max(sizes.num_real, train.weight.shape[0]))
        params = model.fit(k_fit, train, previous=state.params)
        return state._replace(params=params, flow=flow)

    def generation(state, t):
        if getattr(model, "metrics_draw", False):
            # a family whose metrics are Monte Carlo (a named truth's gmm KL)
            k_metrics = jax.random.fold_in(jax.random.fold_in(key, t), 4)
            metrics = model.metrics(state.params, state.truth, state.ref, k_metrics)
        else:
            metrics = model.metrics(state.params, state.truth, state.ref)
        return next_model(state, t + 1), metrics

    return jax.lax.scan(generation, state, steps)


def run_chain(key, model, workflow, sizes: Sizes, temperature, real_weight, exact):
    """All metrics of one chain, {name: array (T+1,)}."""
    state = init_chain(key, model, workflow, sizes, exact)
    steps = jnp.arange(sizes.num_generations + 1, dtype=jnp.uint32)
    _, metrics = advance_chain(
        key, state, steps, model, workflow, sizes, temperature, real_weight, exact
    )
    return metrics
