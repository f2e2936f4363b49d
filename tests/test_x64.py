"""float64 end to end: every family and the workflows that reshape training sets
run with jax_enable_x64 and stay finite (the Gaussian's --x64 CLI run, with its
deep-collapse test NLL, is in test_cli.py and runs by default)."""

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, jax
jax.config.update("jax_enable_x64", True)
import numpy as np, jaxcollapse as jc
cases = [
    (jc.Gaussian(dim=2), "accumulate", dict(exact_path="off")),
    (jc.Gaussian(), "fresh", dict(real_weight=0.5)),
    (jc.KDE(bandwidth="scott"), "accumulate", {}),
    (jc.GMM(components=2, em_steps=5), "replace",
     dict(verify="truth", keep_fraction=0.5)),
    (jc.GMM(components=2, em_steps=5, truth="moons"), "fresh",
     dict(verify="truth", keep_fraction=0.5)),
    (jc.LinReg(dim=3), "mix", dict(real_weight=0.3)),
    (jc.Categorical(categories=12), "accumulate", {}),
    (jc.Categorical(categories=12), "replace", dict(exact_path="off")),
    (jc.Bigram(vocab=4, seq_len=6, train_steps=5), "replace", {}),
]
out = []
for model, wf, kw in cases:
    r = jc.simulate(model, wf, num_samples=12, num_generations=3, num_chains=64,
                    num_test=20, seed=1, **kw)
    nonfinite = int(sum(np.sum(v["nonfinite"]) for v in r.metrics.values()))
    out.append([model.name, wf, r.config["x64"], nonfinite])
print(json.dumps(out))
"""


@pytest.mark.slow
def test_every_family_runs_in_float64():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(rows) == 9
    for name, workflow, x64, nonfinite in rows:
        assert x64 is True, name
        assert nonfinite == 0, (name, workflow)
