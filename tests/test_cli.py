"""The command line: SPEC §6 output, JSON, and one-line exit-2 errors."""

import json
import os
import subprocess
import sys

import pytest

from jaxcollapse.cli import main

SMALL = [
    "run",
    "--num-samples",
    "20",
    "--generations",
    "30",
    "--chains",
    "200",
    "--no-progress",
]


@pytest.mark.parametrize(
    "family",
    [
        ["--model", "kde", "--bandwidth", "scott"],
        [
            "--model",
            "categorical",
            "--categories",
            "10",
            "--verify",
            "truth",
            "--keep-fraction",
            "0.5",
        ],
        ["--model", "linreg", "--dim", "2"],
        ["--model", "gmm", "--components", "1", "--em-steps", "5"],
        ["--model", "gmm", "--truth", "circles", "--factor", "0.5", "--em-steps", "5"],
        ["--model", "bigram", "--vocab", "4", "--seq-len", "4", "--init", "scratch"],
    ],
)
def test_every_family_runs_from_the_command_line(capsys, family):
    small = ["run", "--num-samples", "10", "--generations", "3", "--chains", "64"]
    assert main(small + family + ["--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(family[1]) and "± " in out


def test_run_prints_simulation_beside_theory(capsys, tmp_path):
    out_path = tmp_path / "r.json"
    assert main(SMALL + ["--json", str(out_path)]) == 0
    out = capsys.readouterr().out
    assert "theory" in out and "± " in out
    assert "std at generation 30: simulated" in out
    data = json.loads(out_path.read_text())
    assert data["generations"] == list(range(31))
    assert data["config"]["workflow"] == "replace"
    assert data["config"]["num_chains"] == 200
    assert len(data["metrics"]["std"]["q50"]) == 31
    assert len(data["theory"]["std"]) == 31


@pytest.mark.parametrize(
    "extra, word",
    [
        (["--model", "bogus"], "model"),
        (["--workflow", "bogus"], "workflow"),
        (["--num-samples", "1"], "--num-samples must"),
        (["--ddof", "1", "--num-samples", "1"], "--num-samples"),
        (["--chains", "-5"], "--chains must"),
        (["--generations", "-1"], "--generations must"),
        (["--trajectories", "1000"], "--trajectories must"),
        (["--workflow", "mix", "--real-weight", "1.5"], "--real-weight"),
        (["--workflow", "mix"], "--real-weight"),
        (["--num-samples", "abc"], "num-samples"),
        (["--temperature", "nan"], "--temperature"),
        (["--temperature", "1e300"], "--temperature = 1e+300 cannot be held"),
        (["--temperature", "1e-40"], "float32"),
        (["--ddof", "3"], "ddof"),
        (["--json", "/nonexistent-dir/r.json"], "json"),
        (["--json", ""], "--json"),
        (["--checkpoint-interval", "5"], "--checkpoint DIR"),
        (["--metrics", "std,bogus"], "metrics"),
        (["--exact-path", "on", "--workflow", "accumulate-subsample"], "--exact-path"),
        (["--bandwidth", "0.1"], "--bandwidth"),
        (["--model", "kde", "--bandwidth", "wide"], "bandwidth"),
        (["--model", "kde", "--bandwidth", "-1"], "bandwidth"),
        (["--model", "kde", "--bandwidth", "1e300"], "--bandwidth = 1e+300"),
        (
            ["--model", "kde", "--factor", "0.5"],
            "--factor is a setting of --truth circles",
        ),
        (["--model", "kde", "--truth-noise", "0.1"], "--truth-noise"),
        (["--model", "linreg", "--noise", "1e39"], "--noise = 1e+39"),
        (["--model", "kde", "--truth", "moons"], "dim"),
        (["--model", "categorical", "--categories", "1"], "categories"),
        (["--model", "categorical", "--zipf", "-1"], "zipf"),
        (["--model", "gmm", "--components", "0"], "components"),
        (["--model", "gmm", "--truth", "normal"], "--truth must be one of mixture"),
        (
            ["--model", "gmm", "--truth", "moons", "--factor", "0.5"],
            "--factor is a setting of --truth circles, not moons",
        ),
        (["--model", "gmm", "--truth-noise", "0.1"], "not mixture"),
        (["--model", "gmm", "--truth", "blobs", "--truth-noise", "0"], "truth-noise"),
        (["--model", "linreg", "--noise", "0"], "noise"),
        (["--model", "bigram", "--init", "warm"], "init"),
        (["--keep-fraction", "0.5"], "verify"),
        (["--verify", "truth", "--keep-fraction", "0"], "--keep-fraction"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, extra, word):
    assert main(SMALL + extra) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("jaxcollapse: error:")
    assert word in lines[0]
    assert "Traceback" not in captured.err


def test_real_process_exit_code_and_help():
    bad = subprocess.run(
        [sys.executable, "-m", "jaxcollapse.cli", "run", "--chains", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "jaxcollapse.cli", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert helped.returncode == 0
    for word in (
        "gaussian",
        "replace",
        "accumulate-subsample",
        "fresh",
        "mix",
        "--x64",
    ):
        assert word in helped.stdout


def test_compilation_cache_is_reused_across_processes_with_the_same_numbers(tmp_path):
    """The second identical command loads its programs from the on-disk cache
    (JAX reports the compile time it saved) and prints the same numbers."""
    cache = tmp_path / "xla"
    out = [tmp_path / "a.json", tmp_path / "b.json"]
    env = dict(os.environ, JAXCOLLAPSE_CACHE_DIR=str(cache))
    probe = (
        "import sys, jax\n"
        "saved = []\n"
        "jax.monitoring.register_event_duration_secs_listener(\n"
        "    lambda e, d, **k: saved.append(d)\n"
        "    if e == '/jax/compilation_cache/compile_time_saved_sec' else None)\n"
        "from jaxcollapse.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print('SAVED', sum(saved))\n"
        "sys.exit(code)\n"
    )
    saved = []
    for path in out:
        done = subprocess.run(
            [sys.executable, "-c", probe, *SMALL, "--json", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        saved.append(float(done.stdout.rsplit("SAVED", 1)[1]))
    assert any(cache.iterdir())
    assert saved[0] == 0.0 and saved[1] > 0.0
    first, second = (json.loads(p.read_text())["metrics"] for p in out)
    assert first == second


def test_one_chain_says_why_there_is_no_z(capsys):
    """One chain has no standard error: the summary says so rather than "no
    spread across chains"."""
    assert main([*SMALL[:5], "--chains", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "no z: a standard error needs 2 or more finite chains" in out
    assert "no spread" not in out
