"""Shared test settings.

Statistical tests compare simulation with theory by z-scores built from the
across-chain standard error (chains are independent, so sem = sd / sqrt(C)).
False-failure budget: each statistical module gets ALPHA_MODULE = 1e-4, split
by Bonferroni over that module's comparisons; with fewer than ten such modules
the whole suite fails falsely with probability below 1e-3. Seeds are fixed for
reproducibility and were never tuned to make a test pass.
"""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

from scipy import stats

ALPHA_MODULE = 1e-4

# The CLI's own on-disk compilation cache (~/.cache/jaxcollapse) stays off in
# tests and in the CLI subprocesses they start, so that no test reads what an
# earlier test run left; tests/test_cli.py and tests/test_checkpoint.py turn it
# on, in temporary folders of their own, where they test it.
os.environ["JAXCOLLAPSE_CACHE_DIR"] = "off"

# One test session shares JAX's persistent compilation cache in a temporary
# folder, made here in the controlling process and inherited by the xdist
# workers and every subprocess, removed at exit: many tests compile the same
# programs (the same model, shapes and device count), and a second one loads
# the first's executable instead of compiling it again. The key is the
# program's HLO, compile options and XLA version, so a loaded program is the
# same program and the numbers are the same; tracing and lowering still run.
# Measured on the 2-core AMD EPYC (AVX-512): the two workers loaded 20
# programs (23 s of their 582 s of XLA compiling; subprocesses not counted);
# whole runs 345-360 s against 352-373 s without, within this machine's
# noise. A JAX_COMPILATION_CACHE_DIR of the user's own wins.
if "PYTEST_XDIST_WORKER" not in os.environ and "JAX_COMPILATION_CACHE_DIR" not in (
    os.environ
):
    _SESSION_CACHE = tempfile.mkdtemp(prefix="jaxcollapse-tests-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _SESSION_CACHE
    # programs worth keeping, as the CLI's cache (cli._compilation_cache)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.2"
    atexit.register(shutil.rmtree, _SESSION_CACHE, True)


def z_limit(num_comparisons: int, alpha: float = ALPHA_MODULE) -> float:
    """Two-sided |z| bound for one of num_comparisons tests sharing alpha."""
    return float(stats.norm.isf(alpha / (2 * num_comparisons)))


# (devices, chunk_size) layouts of the device-count invariance tests, beside
# this process's own devices (one per core: 2 on a 2-core machine). Several
# chunks on several devices are the chunk-size tests' case (test_engine).
DEVICE_LAYOUTS = ((8, None), (1, None))

_DEVICE_SCRIPT = """
import json, sys
import jax, jaxcollapse as jc
assert len(jax.devices()) == 8, jax.devices()
runs, layouts = json.loads(sys.argv[1])
out = []  # per run, {layout: metrics}
for workflow, kwargs in runs:
    out.append({})
    for ndev, chunk in layouts:
        r = jc.simulate(jc.Gaussian(), workflow, devices=jax.devices()[:ndev],
                        chunk_size=chunk, **kwargs)
        out[-1][f"{ndev}-{chunk}"] = r.to_dict()["metrics"]
json.dump(out, sys.stdout)
"""


def assert_same_on_1_2_and_8_devices(*runs):
    """Gaussian runs, each (workflow, kwargs), give the same numbers, to the
    last bit, on 1, 2 and 8 XLA host-platform devices and several chunk sizes
    (in one subprocess with 8 devices) and in this process with its default
    devices."""
    import jaxcollapse as jc

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    arg = json.dumps([runs, DEVICE_LAYOUTS])
    proc = subprocess.run(
        [sys.executable, "-c", _DEVICE_SCRIPT, arg],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    assert len(results) == len(runs)
    for (workflow, kwargs), layouts in zip(runs, results, strict=True):
        assert len(layouts) == len(DEVICE_LAYOUTS)
        want = jc.simulate(jc.Gaussian(), workflow, **kwargs).to_dict()["metrics"]
        for layout, metrics in layouts.items():
            assert metrics == want, (workflow, layout)
