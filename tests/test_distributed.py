"""Several processes (JAX's distributed runtime, CPU collectives on localhost)
give the same bits as one process, for the same seed."""

import json
import socket
import subprocess
import sys

import jaxcollapse as jc

ARGS = [
    "--model", "kde", "--workflow", "accumulate", "--bandwidth", "0.3",
    "--num-samples", "12", "--generations", "5", "--chains", "200",
    "--num-test", "30", "--seed", "9", "--no-progress",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
    port = _free_port()
    procs = []
    for rank in range(2):
        command = [
            sys.executable, "-m", "jaxcollapse.cli", "run", *ARGS,
            "--coordinator", f"localhost:{port}", "--num-processes", "2",
            "--process-id", str(rank), "--json", str(tmp_path / f"r{rank}.json"),
            "--checkpoint", str(tmp_path / "ck"), "--checkpoint-interval", "0",
        ]  # fmt: skip
        procs.append(
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outputs]
    assert not (tmp_path / "r1.json").exists()  # process 0 writes the results
    data = json.loads((tmp_path / "r0.json").read_text())
    assert data["config"]["num_processes"] == 2
    want = jc.simulate(
        jc.KDE(bandwidth=0.3),
        "accumulate",
        num_samples=12,
        num_generations=5,
        num_chains=200,
        num_test=30,
        seed=9,
    )
    # Each process has as many devices as this one: twice the devices in all.
    assert data["config"]["num_devices"] == 2 * want.config["num_devices"]
    assert data["metrics"] == json.loads(json.dumps(want.to_dict()["metrics"]))
    assert (tmp_path / "ck" / "checkpoint.npz").exists()


def test_distributed_flags_go_together(capsys):
    from jaxcollapse.cli import main

    assert main(["run", "--coordinator", "localhost:1", "--no-progress"]) == 2
    assert "go together" in capsys.readouterr().err
    bad = ["run", "--coordinator", "localhost:1", "--num-processes", "2",
           "--process-id", "2", "--no-progress"]  # fmt: skip
    assert main(bad) == 2
    assert "--process-id must be in [0, 1]" in capsys.readouterr().err
