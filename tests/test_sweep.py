"""Sweeps and the results store (SPEC §7): the grid, the tidy Parquet table,
skipping finished points, surviving interruption, sharing a store, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse import store
from jaxcollapse.cli import main
from jaxcollapse.sweep import expand, run_sweep

BASE = {"num_samples": 12, "generations": 4, "chains": 64, "seed": 3}
SPEC = {
    "base": {**BASE, "workflow": "fresh", "bandwidth": 0.2},
    "grid": {
        "model": ["gaussian", "kde"],
        "temperature": [0.8, 1.0],
        "real_weight": [0.25, 0.5],
    },
}
NUM_POINTS = 8  # two groups (one per model) of 2 x 2 settings


class Stop(Exception):
    pass


def _frame(folder):
    df = jc.load(folder)
    keys = ["point", "metric", "statistic", "generation"]
    return df.sort_values(keys).reset_index(drop=True)


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    counts = run_sweep(SPEC, folder)
    assert counts == {"points": NUM_POINTS, "skipped": 0, "computed": NUM_POINTS}
    return folder


def test_expand_drops_settings_that_do_not_apply():
    grid = {**SPEC["grid"], "workflow": ["replace", "fresh"]}
    base = {k: v for k, v in SPEC["base"].items() if k != "workflow"}
    points = expand(base, grid)
    # replace has no real_weight: 2 models x (2 + 2 x 2) distinct points.
    assert len(points) == 12 == len({p.id for p in points})
    for p in points:
        s = p.settings
        assert (s["real_weight"] is None) == (s["workflow"] == "replace")
        assert ("bandwidth" in s) == (s["model"] == "kde")


def test_expand_nulls_settings_the_truth_makes_moot():
    """factor only shapes circles and truth_noise only the named truths:
    elsewhere they are null, so a grid over them does not split a point."""
    base = {"model": "gmm", "chains": 16, "generations": 1, "num_samples": 10}
    grid = {"truth": ["mixture", "moons", "circles"], "factor": [0.5, 0.7]}
    points = expand(base, grid)
    got = sorted((p.settings["truth"], p.settings["factor"]) for p in points)
    assert got == [
        ("circles", 0.5),
        ("circles", 0.7),
        ("mixture", None),
        ("moons", None),
    ]
    noise = {p.settings["truth"]: p.settings["truth_noise"] for p in points}
    assert noise == {"mixture": None, "moons": 0.05, "circles": 0.05}


def test_a_moot_setting_is_null_in_the_point_json_too(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(
        "[base]\nmodel = 'gmm'\nchains = 8\ngenerations = 1\nnum_samples = 10\n"
        "num_test = 10\nem_steps = 2\n[grid]\ntruth = ['moons', 'circles']\n"
        "factor = [0.5, 0.7]\n"
    )
    out = tmp_path / "store"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    records = [json.loads(f.read_text()) for f in (out / "points").glob("*.json")]
    got = sorted((r["config"]["truth"], r["config"]["factor"]) for r in records)
    assert got == [("circles", 0.5), ("circles", 0.7), ("moons", None)]
    for r in records:
        assert r["config"]["factor"] == r["point"]["settings"]["factor"]


def test_store_is_one_tidy_table_equal_to_single_runs(finished_store):
    df = jc.load(finished_store)
    assert list(df.columns[-5:]) == [
        "point",
        "generation",
        "metric",
        "statistic",
        "value",
    ]
    assert df["point"].nunique() == NUM_POINTS
    # Every point: every metric x (SPEC §5 statistics [+ theory]) x generation.
    point = df[(df.model == "kde") & (df.workflow == "fresh")].iloc[0]["point"]
    rows = df[df.point == point]
    assert set(rows.generation) == set(range(5))
    assert {"mean", "sem", "q95", "nonfinite", "theory"} <= set(rows.statistic)
    # A point computed inside its group equals the same point run alone.
    sel = rows.iloc[0]
    alone = jc.simulate(
        jc.KDE(bandwidth=0.2),
        "fresh",
        num_samples=12,
        num_generations=4,
        num_chains=64,
        seed=3,
        temperature=float(sel.temperature),
        real_weight=float(sel.real_weight),
    )
    for metric in alone.metrics:
        got = rows[(rows.metric == metric) & (rows.statistic == "mean")]
        got = got.sort_values("generation")["value"].to_numpy()
        np.testing.assert_array_equal(got, alone.metrics[metric]["mean"])
    # The point's JSON is SPEC §6's.
    with open(store.json_path(finished_store, point)) as f:
        record = json.load(f)
    assert record["config"]["model"] == "kde"
    assert set(record) >= {"config", "generations", "metrics", "theory"}


def test_rerun_skips_finished_points(finished_store):
    before = {n: os.path.getmtime(finished_store / "table" / n)
              for n in os.listdir(finished_store / "table")}  # fmt: skip
    counts = run_sweep(SPEC, finished_store)
    assert counts == {"points": NUM_POINTS, "skipped": NUM_POINTS, "computed": 0}
    after = {n: os.path.getmtime(finished_store / "table" / n) for n in before}
    assert after == before


def test_interrupted_sweep_keeps_finished_points_and_resumes(tmp_path, finished_store):
    calls = [0]

    def stop_in_second_group(done, total):
        calls[0] += 1  # 1 + 4 segments (+ 1 at the end) per group
        if calls[0] == 9:
            raise Stop

    with pytest.raises(Stop):
        run_sweep(SPEC, tmp_path, progress=stop_in_second_group, checkpoint_interval=0)
    kept = len(os.listdir(tmp_path / "table"))
    assert 0 < kept < NUM_POINTS
    counts = run_sweep(SPEC, tmp_path)
    assert counts["skipped"] == kept and counts["computed"] == NUM_POINTS - kept
    assert _frame(tmp_path).equals(_frame(finished_store))


def test_two_sweeps_share_one_store(tmp_path, finished_store):
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        "[base]\nnum_samples = 12\ngenerations = 4\nchains = 64\nseed = 3\n"
        "workflow = 'fresh'\nbandwidth = 0.2\n"
        "[grid]\nmodel = ['gaussian', 'kde']\n"
        "temperature = [0.8, 1.0]\nreal_weight = [0.25, 0.5]\n"
    )
    out = tmp_path / "shared"
    command = [sys.executable, "-m", "jaxcollapse.cli", "sweep", str(spec),
               "--out", str(out), "--no-progress"]  # fmt: skip
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert _frame(out).equals(_frame(finished_store))
    assert not [n for n in os.listdir(out / "table") if ".tmp" in n]


BAD_SPECS = [
    ("[base]\nnum_sample = 10\n", "unknown setting 'num_sample'"),
    ("[bases]\nseed = 1\n", "unknown table 'bases'"),
    ("[base]\ntemperature = [1.0, 2.0]\n", "put lists in [grid]"),
    ("[base]\nseed = 1\n[grid]\nseed = [1, 2]\n", "both [base] and [grid]"),
    ("[grid]\nseed = []\n", "non-empty list"),
    ("[grid]\nseed = 3\n", "non-empty list"),
    ("[grid]\nmodel = ['gaussian', 'gpt']\n", "model must be one of"),
    ("[grid]\nnum_samples = [10, -1]\n", "num_samples"),
    ("[base]\ntemperature = nan\n", "temperature must be finite"),
    ("[base]\ntemperature = inf\n", "temperature must be finite"),
    ("[base]\nnum_samples = 1e400\n", "num_samples"),
    ("[base]\ndim = 1.5\n", "dim"),
    ("[base]\nmodel = 'gaussian'\nbandwidth = 0.1\n", "not a setting of any model"),
    ("[base]\nworkflow = 'mix'\n", "real_weight is required"),
    ("[base]\nworkflow = 'fresh'\nreal_weight = 1.5\n", "real_weight must be in"),
    ("[base]\nseed = 'zero'\n", "seed must be an integer"),
    ("[base\nseed = 1\n", "not valid TOML"),
    ("[grid]\nchunk_size = [64, 128]\n", "cannot be swept"),
    ("[grid]\nreal_weight = [0.2, 0.5]\n", "real_weight is set but no point"),
    ("[base]\nkeep_fraction = 0.5\n", "keep_fraction is set but no point"),
    (
        "[base]\nmodel = 'kde'\ndim = 2\nfactor = 0.5\n"
        "[grid]\ntruth = ['moons', 'blobs']\n",
        "factor is set but no point uses it (it needs truth circles)",
    ),
    ("[base]\nmodel = 'gmm'\ntruth_noise = 0.1\n", "truth_noise is set but no point"),
    (
        "[grid]\n"
        + "".join(
            f"{k} = {list(range(2, 102))}\n"
            for k in ("seed", "num_samples", "chains", "num_test")
        ),
        "the grid has 1e+08 combinations",
    ),
]


@pytest.mark.parametrize("text,message", BAD_SPECS)
def test_bad_sweep_file_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    out = tmp_path / "store"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (out / "table").exists()  # refused before anything was written


def test_missing_sweep_file_and_unusable_store(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path)]) == 2
    assert "cannot read sweep file" in capsys.readouterr().err
    spec = tmp_path / "ok.toml"
    spec.write_text("[base]\nchains = 10\ngenerations = 1\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    assert main(["sweep", str(spec), "--out", str(blocker), "--no-progress"]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_corrupt_store_file_is_refused_and_left_alone(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text("[base]\nchains = 16\ngenerations = 2\nnum_samples = 10\n")
    out = tmp_path / "store"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    (path,) = (out / "table").iterdir()
    path.write_bytes(path.read_bytes()[:100])
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unreadable" in err and path.name in err
    assert len(path.read_bytes()) == 100
    with pytest.raises(store.StoreError, match="unreadable"):
        jc.load(out)
    with pytest.raises(store.StoreError, match="not a jaxcollapse store"):
        jc.load(tmp_path / "nothing")


def test_sweep_point_that_cannot_fit_is_refused_before_any_runs(tmp_path, capsys):
    """The second point's accumulate-subsample pool needs about 1 TB a chunk."""
    spec = tmp_path / "big.toml"
    spec.write_text(
        "[base]\nworkflow = 'accumulate-subsample'\ngenerations = 1000\n"
        "chains = 100\n[grid]\nnum_samples = [10, 1000000]\n"
    )
    out = tmp_path / "store"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "GiB" in err, err
    assert not list((out / "table").iterdir())  # not even the small point ran


def test_points_record_precision_and_version(finished_store):
    """A point's id covers --x64 and the package version, which the numbers
    depend on: a store never serves a float32 point to a float64 sweep, or an
    old version's numbers; both are columns of the table."""
    df = jc.load(finished_store)
    assert set(df["x64"]) == {False}
    assert set(df["jaxcollapse_version"]) == {jc.__version__}
    point = expand(SPEC["base"], SPEC["grid"])[0]
    other = {**point.settings, "x64": True}
    assert store_id(other) != point.id


def store_id(settings):
    from jaxcollapse.sweep import point_id

    return point_id(settings)


def test_store_checkpoint_of_another_layout_is_restarted(tmp_path, finished_store):
    """A sweep killed inside a group and rerun with another chunk_size finds
    the store's checkpoint of that group in another layout: it starts the
    group afresh (the same numbers) instead of stopping the sweep."""
    calls = [0]

    def stop_in_first_group(done, total):
        calls[0] += 1
        if calls[0] == 3:
            raise Stop

    spec = {"base": {**SPEC["base"], "chunk_size": 32}, "grid": SPEC["grid"]}
    with pytest.raises(Stop):
        run_sweep(spec, tmp_path, progress=stop_in_first_group, checkpoint_interval=0)
    assert os.listdir(tmp_path / "checkpoints")
    counts = run_sweep(SPEC, tmp_path)
    assert counts["computed"] == NUM_POINTS
    assert _frame(tmp_path).equals(_frame(finished_store))


def test_quantiles_do_not_depend_on_the_group(tmp_path, monkeypatch):
    """The chains a point's quantiles come from are those it would keep alone,
    however many settings share its group: a point swept with others equals
    the same point swept alone, quantiles included (the head bound is made
    small so that the group's width would otherwise change them)."""
    import importlib

    sim_module = importlib.import_module("jaxcollapse.simulate")

    # room for two settings' 400 chains x 5 generations x 8 metrics: three
    # in one run would keep 266 chains each (simulate's default), one alone 400
    small = 400 * 5 * 8 * 2
    monkeypatch.setattr(sim_module, "HEAD_VALUES", small)
    base = {**BASE, "workflow": "replace", "chains": 400}
    wide = {"base": base, "grid": {"temperature": [0.8, 0.9, 1.0]}}
    alone = {"base": {**base, "temperature": 1.0}, "grid": {}}
    run_sweep(wide, tmp_path / "wide")
    run_sweep(alone, tmp_path / "alone")
    a, b = _frame(tmp_path / "wide"), _frame(tmp_path / "alone")
    a = a[a.temperature == 1.0].reset_index(drop=True)
    assert set(b.statistic) >= {"q05", "q50", "q95"}
    assert a.equals(b)


def test_sweep_file_that_is_not_utf8_is_named(tmp_path, capsys):
    spec = tmp_path / "latin1.toml"
    spec.write_bytes(b"[base]\nseed = 1 # caf\xe9\n")
    assert (
        main(["sweep", str(spec), "--out", str(tmp_path / "s"), "--no-progress"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "latin1.toml is not UTF-8 text" in err, err


def test_load_refuses_a_foreign_file_in_the_table(finished_store, tmp_path):
    """table/ holds only the store's own <point id>.parquet files: another
    Parquet file there is refused by name, not merged in with null settings."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "copy"
    shutil.copytree(finished_store, folder)
    table = pa.table({"metric": ["var"], "statistic": ["mean"], "value": [1.0]})
    pq.write_table(table, folder / "table" / "foreign.parquet")
    with pytest.raises(store.StoreError, match="foreign.parquet is not a point"):
        jc.load(folder)
    (folder / "table" / "foreign.parquet").unlink()
    assert jc.load(folder)["point"].nunique() == NUM_POINTS
