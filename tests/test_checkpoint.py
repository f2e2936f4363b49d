"""Checkpoint and resume: a run stopped anywhere (an exception, SIGKILL, a kill
in the middle of writing) and resumed ends bit-identical to an uninterrupted
one; corrupt or foreign checkpoints are refused with one line."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxcollapse import KDE, Categorical, Gaussian, simulate
from jaxcollapse.checkpoint import FILENAME, CheckpointError
from jaxcollapse.cli import main


class Stop(Exception):
    pass


def _stop_after(calls: int):
    seen = [0]

    def progress(done, total):
        seen[0] += 1
        if seen[0] == calls:
            raise Stop

    return progress


def _same(a, b):
    assert a.metrics.keys() == b.metrics.keys()
    for name in a.metrics:
        for stat, values in a.metrics[name].items():
            np.testing.assert_array_equal(values, b.metrics[name][stat], err_msg=name)


CASES = [
    (Gaussian(), "accumulate", dict(exact_path="off")),
    (KDE(bandwidth=0.3), "fresh", dict(real_weight=[0.2, 0.5])),
    (Categorical(categories=12), "replace", dict(temperature=[0.8, 1.0])),
]


# Progress calls per chunk of 64 chains: 4 segments (generations 0..7, two a
# segment), each after its statistics are merged and before its checkpoint;
# stops in chunk 1, at chunk 2's first segment (the checkpoint is chunk 1's
# last, without a carry), late in chunk 2.
@pytest.mark.parametrize(
    "case,stop_at",
    [(0, 3), (0, 5), (1, 5), (2, 7)],
    ids=["gauss3", "gauss5", "kde5", "cat7"],
)
def test_resume_after_a_stop_is_bit_identical(tmp_path, case, stop_at):
    model, workflow, extra = CASES[case]
    args = dict(
        num_samples=12,
        num_generations=7,
        num_chains=90,
        seed=11,
        segment_length=2,
        chunk_size=64,
        keep_trajectories=3,
        **extra,
    )
    reference = simulate(model, workflow, **args)
    with pytest.raises(Stop):
        simulate(
            model,
            workflow,
            checkpoint=tmp_path,
            checkpoint_interval=0,
            progress=_stop_after(stop_at),
            **args,
        )
    assert (tmp_path / FILENAME).exists()
    resumed = simulate(model, workflow, checkpoint=tmp_path, **args)
    if isinstance(reference, list):
        for a, b in zip(reference, resumed, strict=True):
            _same(a, b)
            np.testing.assert_array_equal(
                a.trajectories[model.metric_names[0]],
                b.trajectories[model.metric_names[0]],
            )
    else:
        _same(reference, resumed)
    # A finished checkpoint gives the results back without computing.
    calls = []
    again = simulate(
        model,
        workflow,
        checkpoint=tmp_path,
        progress=lambda *a: calls.append(a),
        **args,
    )
    _same(
        resumed[0] if isinstance(resumed, list) else resumed,
        again[0] if isinstance(again, list) else again,
    )
    assert all(done == total for done, total in calls)


def test_checkpoint_of_another_run_is_refused_and_kept(tmp_path):
    args = dict(num_samples=10, num_generations=3, num_chains=40)
    simulate(Gaussian(), checkpoint=tmp_path, seed=1, **args)
    before = (tmp_path / FILENAME).read_bytes()
    with pytest.raises(CheckpointError, match="different run.*seed"):
        simulate(Gaussian(), checkpoint=tmp_path, seed=2, **args)
    assert (tmp_path / FILENAME).read_bytes() == before


def _rewritten(path, damage) -> bytes:
    """The checkpoint re-saved member by member with one member changed: a
    valid zip whose CRCs all pass, which only the digest can catch."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    if damage == "meta_list":
        arrays["__meta__"] = np.frombuffer(b"[1]", np.uint8)
    elif damage == "member_removed":
        del arrays["m2"]
    elif damage == "nan_filled":
        arrays["mean"] = np.full_like(arrays["mean"], np.nan)
    else:  # "shortened": fewer generations, which would broadcast into place
        arrays["count"] = arrays["count"][:, :1]
    np.savez(path, **arrays)
    return path.read_bytes()


REWRITES = ["meta_list", "member_removed", "nan_filled", "shortened"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", *REWRITES])
def test_corrupt_checkpoint_is_one_line_and_exit_2(tmp_path, capsys, damage):
    folder = tmp_path / "ck"
    command = [
        "run",
        "--num-samples",
        "10",
        "--generations",
        "4",
        "--chains",
        "40",
        "--no-progress",
        "--checkpoint",
        str(folder),
    ]
    assert main(command) == 0
    path = folder / FILENAME
    data = path.read_bytes()
    if damage in REWRITES:
        data = _rewritten(path, damage)
    elif damage == "garbage":
        data = b"not a checkpoint"
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:  # one bit flipped inside an array: the zip CRC catches it
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]
    path.write_bytes(data)
    capsys.readouterr()
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    why = "damaged" if damage in REWRITES else "unreadable"
    assert err.startswith("jaxcollapse: error: checkpoint") and why in err, err
    assert path.read_bytes() == data  # nothing overwritten


def test_checkpoint_path_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    command = [
        "run",
        "--chains",
        "10",
        "--generations",
        "2",
        "--no-progress",
        "--checkpoint",
        str(path),
    ]
    assert main(command) == 2
    assert "not a folder" in capsys.readouterr().err


# About 4 s of work after start-up, saving a 40 MB carry every 5 generations.
# Long enough that a kill up to 1 s after the first save lands before the run
# ends (about 4 s left after it on the 2-core machine; 50 generations of 5000
# chains left 0.5 s once the sampler got faster, and some runs were not killed).
KILL_RUN = [
    "--workflow", "accumulate", "--exact-path", "off", "--num-samples", "20",
    "--generations", "400", "--chains", "10000", "--seed", "5", "--no-progress",
]  # fmt: skip


def _saving(folder):
    """Checkpoint flags: save at the end of every segment."""
    return ["--checkpoint", str(folder), "--checkpoint-interval", "0"]


def _cli(*args):
    return [sys.executable, "-m", "jaxcollapse.cli", "run", *args]


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    """SIGKILL the run at a random moment after its first save (with saves
    back to back, a kill may land in the middle of writing), resume, and
    compare the final JSON with an uninterrupted run's. (One kill: the
    mid-write case is also forced, deterministically, below.)"""
    # The three processes share an on-disk compilation cache of their own (the
    # CLI's, as users get it), so the second and third load the programs the
    # first compiled: the same programs, about a quarter of this test's time.
    env = dict(os.environ, JAXCOLLAPSE_CACHE_DIR=str(tmp_path / "xla"))
    reference = tmp_path / "reference.json"
    subprocess.run(_cli(*KILL_RUN, "--json", str(reference)), check=True,
                   capture_output=True, env=env)  # fmt: skip
    folder = tmp_path / "ck"
    out = tmp_path / "resumed.json"
    rng = np.random.default_rng()
    kills = 0
    proc = subprocess.Popen(
        _cli(*KILL_RUN, *_saving(folder), "--json", str(out)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.time() + 120
    while not (folder / FILENAME).exists() and time.time() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 1.0))
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        kills += 1
    proc.wait()
    finish = subprocess.run(
        _cli(*KILL_RUN, *_saving(folder), "--json", str(out)),
        capture_output=True,
        text=True,
        env=env,
    )
    assert finish.returncode == 0, finish.stderr
    a = json.loads(reference.read_text())
    b = json.loads(out.read_text())
    assert a["metrics"] == b["metrics"]
    assert kills == 1  # the run takes longer than the kill's deadline


def test_unfinished_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    """A save that dies before its rename (as under SIGKILL mid-write) leaves
    the last complete checkpoint in place, from which the run resumes exactly."""
    import jaxcollapse.checkpoint as ckpt

    args = dict(num_samples=10, num_generations=6, num_chains=40, seed=4,
                segment_length=1, exact_path="off")  # fmt: skip
    reference = simulate(Gaussian(), **args)
    real_replace = os.replace
    saves = [0]

    def dying_replace(src, dst):
        saves[0] += 1
        if saves[0] == 3:
            with open(src, "r+b") as f:  # a half-written temporary file
                f.truncate(os.path.getsize(src) // 2)
            raise Stop
        real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", dying_replace)
    with pytest.raises(Stop):
        simulate(Gaussian(), checkpoint=tmp_path, checkpoint_interval=0, **args)
    monkeypatch.setattr(ckpt.os, "replace", real_replace)
    assert any(p.name.startswith(FILENAME + ".tmp") for p in tmp_path.iterdir())
    _same(reference, simulate(Gaussian(), checkpoint=tmp_path, **args))
