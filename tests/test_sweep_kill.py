"""Issue 4's acceptance run: a 64-point sweep, SIGKILLed twice and resumed, ends
with the same table as an uninterrupted one (slow: about a minute on 2 cores)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import jaxcollapse as jc

SWEEP = """
[base]
model = "gaussian"
generations = 60
chains = 2000
exact_path = "off"

[grid]
workflow = ["fresh", "mix"]
real_weight = [0.2, 0.4, 0.6, 0.8]
temperature = [0.9, 1.0]
num_samples = [20, 50]
seed = [0, 1]
"""


def _sweep(spec, out):
    command = [sys.executable, "-m", "jaxcollapse.cli", "sweep", str(spec)]
    return command + ["--out", str(out), "--no-progress", "--checkpoint-interval", "0"]


def _frame(folder):
    keys = ["point", "metric", "statistic", "generation"]
    return jc.load(folder).sort_values(keys).reset_index(drop=True)


@pytest.mark.slow
def test_64_point_sweep_killed_twice_equals_uninterrupted(tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text(SWEEP)
    subprocess.run(_sweep(spec, tmp_path / "a"), check=True, capture_output=True)
    out = tmp_path / "b"
    rng = np.random.default_rng()
    stored_at_kill = []
    for _ in range(2):
        proc = subprocess.Popen(_sweep(spec, out), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        table = out / "table"
        before = len(os.listdir(table)) if table.exists() else 0
        while proc.poll() is None:  # kill once this run has stored some points
            if table.exists() and len(os.listdir(table)) > before:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.0))
        assert proc.poll() is None, "the sweep finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stored_at_kill.append(len(os.listdir(table)))
    done = subprocess.run(_sweep(spec, out), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 0 < stored_at_kill[0] <= stored_at_kill[1] < 64, stored_at_kill
    a, b = _frame(tmp_path / "a"), _frame(out)
    assert a["point"].nunique() == 64
    assert a.equals(b)
    print(f"points stored at the two kills: {stored_at_kill}")
