"""Structural guarantees of the engine: invariance, batching, jit, compile-once."""

import importlib
import json

import jax
import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse import _prng
from jaxcollapse.chain import Sizes, run_chain
from jaxcollapse.config import representation
from jaxcollapse.workflows import get_workflow
from tests.conftest import assert_same_on_1_2_and_8_devices

sim_module = importlib.import_module("jaxcollapse.simulate")

SMALL = dict(num_samples=6, num_generations=5, num_chains=600, seed=3)


def _assert_same(a, b):
    assert a.metrics.keys() == b.metrics.keys()
    for name in a.metrics:
        for stat, values in a.metrics[name].items():
            np.testing.assert_array_equal(
                values, b.metrics[name][stat], err_msg=name + stat
            )


@pytest.mark.parametrize(
    "workflow, exact", [("accumulate", "off"), ("mix", "on"), ("fresh", "off")]
)
def test_identical_for_any_chunk_size(workflow, exact):
    """Bit-identical statistics for one chunk or many (the segment length, fixed
    by num_generations, is part of the compiled program and is held fixed)."""
    weight = 0.3 if workflow == "mix" else None
    kw = dict(SMALL, real_weight=weight, exact_path=exact, segment_length=2)
    # d = 2 on the sample-level runs, the exact one in 1-D: its d = 2 programs
    # took twice as long to compile (about 20 s of this test on a slow 2-core
    # machine), and chunking is the engine's, the same for any per-chain code.
    model = jc.Gaussian(dim=2 if exact == "off" else 1)
    base = jc.simulate(model, workflow, **kw)
    assert base.config["chunk_size"] >= 600  # one chunk
    _assert_same(base, jc.simulate(model, workflow, chunk_size=256, **kw))


def test_identical_on_1_2_and_8_cpu_devices():
    """Same seed, same numbers on 1, 2 and 8 devices (XLA host-platform devices),
    and the same as this process with its default devices: the points path
    (accumulate-subsample) and the sample-level sufficient statistics
    (fresh, SUMMARY; see test_summary.py), in one subprocess."""
    assert_same_on_1_2_and_8_devices(
        (
            "accumulate-subsample",
            dict(num_samples=6, num_generations=5, num_chains=1500, seed=11),
        ),
        (
            "fresh",
            dict(
                num_samples=20,
                num_real=10,
                num_generations=5,
                num_chains=1500,
                seed=4,
                exact_path="off",
            ),
        ),
    )


def test_batched_equals_looped_and_jit_equals_nojit():
    model, flow = jc.Gaussian(), get_workflow("accumulate")
    sizes = Sizes(num_samples=5, num_generations=4, num_real=5, num_test=7)
    res = jc.simulate(
        model,
        flow,
        num_samples=5,
        num_generations=4,
        num_chains=3,
        num_test=7,
        seed=5,
        exact_path="off",
        keep_trajectories=3,
    )
    root = _prng.key(5)
    exact = representation(model, flow, False, None)  # what simulate runs
    args = (model, flow, sizes, 1.0, 0.0, exact)
    for i in range(3):
        key = jax.random.fold_in(root, i)
        jitted = jax.jit(run_chain, static_argnums=(1, 2, 3, 6))(key, *args)
        for name in model.metric_names:
            np.testing.assert_allclose(
                res.trajectories[name][i], jitted[name], rtol=2e-5, atol=1e-6
            )
    # Eagerly (op by op, seconds a chain) for the last chain only.
    with jax.disable_jit():
        eager = run_chain(key, *args)
    for name in model.metric_names:
        np.testing.assert_allclose(jitted[name], eager[name], rtol=2e-5, atol=1e-6)


def test_compiles_once_across_chunks_segments_and_seeds():
    before = sim_module._advance_chunk._cache_size()
    kw = dict(
        num_samples=4,
        num_generations=7,
        num_chains=700,
        chunk_size=256,
        segment_length=3,
    )
    jc.simulate(jc.Gaussian(), "replace", seed=1, **kw)
    after_first = sim_module._advance_chunk._cache_size()
    jc.simulate(jc.Gaussian(), "replace", seed=2, temperature=0.9, **kw)
    assert after_first - before <= 1
    assert sim_module._advance_chunk._cache_size() == after_first


def test_temperature_grid_runs_as_one_program_and_matches_scalar_runs():
    # Sample-level: the grid is the engine's vmap, the same on either path, and
    # the sample-level programs compile in less than half the time.
    kw = dict(num_samples=8, num_generations=6, num_chains=300, seed=4)
    kw["exact_path"] = "off"
    grid = jc.simulate(
        jc.Gaussian(), "fresh", temperature=[0.7, 1.2], real_weight=[0.2, 0.8], **kw
    )
    assert [(r.config["temperature"], r.config["real_weight"]) for r in grid] == [
        (0.7, 0.2),
        (0.7, 0.8),
        (1.2, 0.2),
        (1.2, 0.8),
    ]
    for r in (grid[1], grid[2]):
        single = jc.simulate(
            jc.Gaussian(),
            "fresh",
            temperature=r.config["temperature"],
            real_weight=r.config["real_weight"],
            **kw,
        )
        for name in single.metrics:
            np.testing.assert_allclose(
                r.metrics[name]["mean"], single.metrics[name]["mean"], rtol=1e-5
            )


def test_statistics_match_numpy_on_trajectories(tmp_path):
    res = jc.simulate(
        jc.Gaussian(),
        "replace",
        num_samples=5,
        num_generations=3,
        num_chains=300,
        seed=0,
        keep_trajectories=300,
        exact_path="off",
    )
    for name, paths in res.trajectories.items():
        stat = res.metrics[name]
        np.testing.assert_allclose(stat["mean"], paths.mean(0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(stat["std"], paths.std(0, ddof=1), rtol=1e-4)
        np.testing.assert_allclose(
            stat["sem"], paths.std(0, ddof=1) / np.sqrt(300), rtol=1e-4
        )
        np.testing.assert_allclose(
            stat["q25"], np.quantile(paths, 0.25, axis=0), rtol=1e-6
        )
        assert not stat["nonfinite"].any()
    path = tmp_path / "r.json"
    res.write_json(path)
    data = json.loads(path.read_text())
    assert set(data) >= {"config", "generations", "metrics", "theory"}
    assert data["generations"] == [0, 1, 2, 3]
    assert set(data["metrics"]["std"]) == {
        "mean",
        "sem",
        "std",
        "q05",
        "q25",
        "q50",
        "q75",
        "q95",
        "nonfinite",
    }
    assert data["config"]["jax_version"] == jax.__version__
    back = jc.Results.read_json(path)
    np.testing.assert_array_equal(
        back.metrics["var"]["mean"], res.metrics["var"]["mean"]
    )


def test_nonfinite_values_are_counted_not_averaged():
    """In float32 a deeply collapsed model's test NLL overflows; the overflowed
    chains are counted and the finite ones still averaged exactly."""
    res = jc.simulate(
        jc.Gaussian(),
        "replace",
        num_samples=4,
        num_generations=400,
        num_chains=64,
        seed=0,
        keep_trajectories=64,
    )
    nll = res.trajectories["test_nll"][:, -1]
    stat = res.metrics["test_nll"]
    assert stat["nonfinite"][-1] == np.sum(~np.isfinite(nll)) > 0
    assert not np.isnan(nll).any()
    finite = nll[np.isfinite(nll)]
    if finite.size:
        np.testing.assert_allclose(stat["mean"][-1], finite.mean(), rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(num_samples=1), "num_samples"),
        (dict(num_chains=0), "num_chains"),
        (dict(num_generations=-1), "num_generations"),
        (dict(num_samples=2.5), "num_samples"),
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=float("nan")), "temperature"),
        (dict(workflow="mix"), "real_weight"),
        (dict(workflow="mix", real_weight=1.5), "real_weight"),
        (dict(real_weight=0.5), "real_weight"),
        (dict(workflow="nope"), "workflow"),
        (dict(exact_path="maybe"), "exact_path"),
        (dict(workflow="accumulate-subsample", exact_path="on"), "exact_path"),
        (dict(seed=-1), "seed"),
        (dict(keep_trajectories=10**6), "keep_trajectories"),
        (dict(segment_length=0), "segment_length"),
        (dict(quantile_chains=0), "quantile_chains"),
    ],
)
def test_bad_settings_raise_one_clear_error(kwargs, word):
    kw = dict(num_samples=5, num_generations=2, num_chains=10, workflow="replace")
    kw.update(kwargs)
    flow = kw.pop("workflow")
    with pytest.raises(ValueError, match=word):
        jc.simulate(jc.Gaussian(), flow, **kw)


def test_model_settings_are_validated():
    with pytest.raises(ValueError, match="ddof"):
        jc.Gaussian(ddof=2)
    with pytest.raises(ValueError, match="dim"):
        jc.Gaussian(dim=0)
