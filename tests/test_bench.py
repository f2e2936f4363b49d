"""`jaxcollapse bench`: the baselines simulate the same law as jaxcollapse, the
suite's rows and ratios are what they say, the ceilings are measured, bad input
is one line and exit 2. Sizes are tiny; speed itself is never asserted here
(benchmarks/ records it).

False-failure budget: ALPHA_MODULE (conftest) over the z-tests below.
"""

import dataclasses
import json
import math

import numpy as np
import pytest

from jaxcollapse.bench import baselines as bl
from jaxcollapse.bench import roofline, scaling, suite
from jaxcollapse.cli import main
from jaxcollapse.theory.gaussian import gaussian_theory
from tests.conftest import z_limit

NUM_ZTESTS = 7
Z = z_limit(NUM_ZTESTS)


@pytest.mark.parametrize("kind", ["loop", "vec"])
def test_gaussian_baselines_match_replace_theory(kind):
    """E std_T of the replace chain (Gamma-function ratio) within Z sem."""
    n, T = 8, 4
    if kind == "loop":
        mean, sem = bl.gaussian_per_chain(3000, n, T, seed=1)
    else:
        mean, sem = bl.gaussian_vectorised(20_000, n, T, seed=1, block=1000)
    want = gaussian_theory(workflow="replace", num_samples=n, num_generations=T)
    assert abs(mean - want["std"][-1]) < Z * sem


def test_gaussian_accumulate_baselines_agree_with_each_other():
    """The concatenating per-chain loop and the running-sums vectorised loop are
    the same accumulate chain: their E std_T differ by less than Z combined sem."""
    n, T = 8, 5
    a, sa = bl.gaussian_per_chain(3000, n, T, seed=2, workflow="accumulate")
    b, sb = bl.gaussian_vectorised(
        20_000, n, T, seed=3, block=1000, workflow="accumulate"
    )
    assert abs(a - b) < Z * math.hypot(sa, sb)


def test_kde_baseline_agrees_with_jaxcollapse():
    """test_nll at T of the per-chain NumPy KDE loop against jaxcollapse's."""
    import jaxcollapse as jc

    n, T, h, m = 20, 3, 0.3, 50
    base, base_sem = bl.kde_per_chain(400, n, T, h, m, seed=4)
    res = jc.simulate(
        jc.KDE(bandwidth=h),
        "replace",
        num_samples=n,
        num_generations=T,
        num_chains=2000,
        num_test=m,
        seed=5,
    )
    stat = res.metrics["test_nll"]
    assert abs(base - stat["mean"][-1]) < Z * math.hypot(base_sem, stat["sem"][-1])


def _agree(base, base_sem, results, metric):
    """|baseline - jaxcollapse| at T below Z combined standard errors."""
    stat = results.metrics[metric]
    want, want_sem = float(stat["mean"][-1]), float(stat["sem"][-1])
    assert abs(base - want) < Z * math.hypot(base_sem, want_sem), (base, want)


# Slow (20-25 s on 2 cores): a per-chain EM loop in Python. The GMM's fit is
# held to scikit-learn-free EM in NumPy by tests/test_gmm.py already.
@pytest.mark.slow
def test_gmm_baseline_agrees_with_jaxcollapse():
    """test_nll at T of the per-chain NumPy EM loop against jaxcollapse's GMM."""
    import jaxcollapse as jc

    # n = 50: at n = 20 a few chains fit spikes and test_nll's tail is heavy.
    n, T, m = 50, 3, 100
    base, base_sem = bl.gmm_per_chain(400, n, T, seed=6, num_test=m)
    res = jc.simulate(
        jc.GMM(components=2),
        "replace",
        num_samples=n,
        num_generations=T,
        num_chains=4000,
        num_test=m,
        seed=7,
    )
    _agree(base, base_sem, res, "test_nll")


def test_linreg_accumulate_baseline_agrees_with_jaxcollapse():
    """test_error at T of the per-chain NumPy OLS loop (stacked pool) against
    jaxcollapse's LinReg on accumulate."""
    import jaxcollapse as jc

    d, n, T = 5, 20, 3
    base, base_sem = bl.linreg_per_chain(2000, n, T, seed=8, dim=d)
    res = jc.simulate(
        jc.LinReg(dim=d),
        "accumulate",
        num_samples=n,
        num_generations=T,
        num_chains=4000,
        seed=9,
    )
    _agree(base, base_sem, res, "test_error")


# Slow (15-18 s on 2 cores): per-chain Adam in NumPy; tests/test_bigram.py
# checks the model's training and sampling on their own.
@pytest.mark.slow
def test_bigram_baseline_agrees_with_jaxcollapse():
    """test_nll at T of the per-chain NumPy Adam loop against jaxcollapse's
    Bigram (defaults: V=16, L=32, 50 steps, lr 0.1, fine-tuning)."""
    import jaxcollapse as jc

    n, T, m = 16, 3, 100
    base, base_sem = bl.bigram_per_chain(300, n, T, seed=10, num_test=m)
    res = jc.simulate(
        jc.Bigram(),
        "replace",
        num_samples=n,
        num_generations=T,
        num_chains=2000,
        num_test=m,
        seed=11,
    )
    _agree(base, base_sem, res, "test_nll")


def _tiny(work, chains=64, n=10, T=3, base_chains=4):
    base = {k: (fn, base_chains, base_chains) for k, (fn, _, _) in work.base.items()}
    return dataclasses.replace(work, quick=(chains, n, T), base=base)


def test_suite_rows_ratios_and_repeatability():
    work = _tiny(suite.WORKLOADS[0])  # gaussian replace, sample-level
    ceilings = {"normal_fused": 1e8, "normal_jax": 5e7}
    rows = suite.run_workload(work, "quick", 0, ceilings)
    assert [r["method"] for r in rows][-1] == "jaxcollapse"
    assert len(rows) == len(work.base) + 1
    jc_row = rows[-1]
    assert jc_row["repeatable"] is True
    assert jc_row["chain_gen_per_s"] == pytest.approx(64 * 3 / jc_row["run_s"])
    for base_row, kind in zip(rows[:-1], work.base, strict=True):
        want = jc_row["chain_gen_per_s"] / base_row["chain_gen_per_s"]
        assert jc_row[f"x_{kind}"] == pytest.approx(want)
    assert jc_row["rng_fraction"] == pytest.approx(jc_row["samples_per_s"] / 1e8)
    assert jc_row["device_bytes"] > 0 and jc_row["compile_s"] > 0
    text = suite.table(rows)
    assert "jaxcollapse" in text and "x loop" in text


def test_every_workload_is_a_valid_setting():
    """Each workload's model, workflow and sizes pass simulate's own checks
    (a dry run compiles and runs nothing)."""
    import jaxcollapse as jc

    for work in suite.WORKLOADS:
        for chains, n, T in filter(None, (work.quick, work.full, work.gpu)):
            jc.simulate(
                work.model(),
                work.workflow,
                num_samples=n,
                num_generations=T,
                num_chains=chains,
                exact_path=work.exact_path,
                dry_run=True,
                **work.settings,
            )


def test_roofline_measures_every_ceiling():
    rows = roofline.measure(1 << 12, 1 << 6, n=16, repeats=1)
    whats = {(r["what"].split(" (")[0], r["impl"]) for r in rows}
    for impl in roofline.IMPLS:
        assert ("normal, written", impl) in whats
        assert ("normal, per-chain keys", impl) in whats
    assert all(r["rate"] > 0 and math.isfinite(r["rate"]) for r in rows)
    assert roofline.best(rows, "copy") > 0
    assert suite.ceilings_from(rows)["normal_fused"] > 0


def test_scaling_point_in_its_own_process(tmp_path):
    spec = dict(scaling.BASE, chains=64, n=10, T=2, devices=2)
    point = scaling.run_point(spec)
    assert point["num_devices"] == 2 and point["peak_rss"] > 0
    assert point["rate"] > 0 and point["device_bytes"] > 0
    record = {"curves": {"devices": [point]}}
    assert "devices" in scaling.summary(record)
    scaling.plot({"devices": [point]}, str(tmp_path / "s.png"), "t")
    assert (tmp_path / "s.png").stat().st_size > 0


def test_bench_bad_input_is_one_line_and_exit_2(capsys, tmp_path):
    assert main(["bench", "--only", "no-such-workload"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no workload matches" in err
    assert main(["bench", "--json", str(tmp_path / "nope" / "x.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_bench_command_writes_json_and_csv(tmp_path, monkeypatch):
    """The whole command on one shrunken workload, without the ceilings."""
    work = _tiny(suite.WORKLOADS[6])  # categorical replace
    monkeypatch.setattr(suite, "WORKLOADS", (work,))
    out, table = tmp_path / "b.json", tmp_path / "b.csv"
    argv = [
        "bench",
        "--quick",
        "--no-roofline",
        "--json",
        str(out),
        "--csv",
        str(table),
    ]
    assert main(argv) == 0
    record = json.loads(out.read_text())
    assert record["machine"]["jax_backend"] == "cpu"
    assert [r["method"] for r in record["rows"]][-1] == "jaxcollapse"
    assert table.read_text().count("\n") == len(record["rows"]) + 1
    assert np.isfinite(record["rows"][-1]["chain_gen_per_s"])


def test_run_script_entry_is_one_line_and_exit_2(capsys):
    assert suite.main(["--only", "no-such-workload"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_without_scikit_learn_its_row_is_left_out(monkeypatch, capsys):
    work = _tiny(suite.WORKLOADS[4], T=2)  # kde replace
    monkeypatch.setattr(suite, "WORKLOADS", (work,))
    monkeypatch.setattr(bl, "have_sklearn", lambda: False)
    assert main(["bench", "--quick", "--no-roofline"]) == 0
    captured = capsys.readouterr()
    assert "scikit-learn" in captured.err and "row left out" in captured.err
    assert "KernelDensity" not in captured.out
