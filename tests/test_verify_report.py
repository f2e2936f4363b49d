"""`jaxcollapse verify`: the theory report passes, and would fail on wrong theory.

The report's own false-failure rate is its --alpha (1e-3 by default, Bonferroni
over its rows); it is part of this suite's budget (conftest.py) on top of the
per-module 1e-4.
"""

import importlib
import json
import math

import numpy as np
import pytest

from jaxcollapse import verify
from jaxcollapse.cli import main

sim_module = importlib.import_module("jaxcollapse.simulate")


FAMILIES = {"gaussian", "kde", "linreg", "categorical", "gmm"}


def _report(tmp_path, capsys, families=FAMILIES):
    path = tmp_path / "verify.json"
    code = main(["verify", "--quick", "--no-progress", "--json", str(path)])
    out = capsys.readouterr().out
    record = json.loads(path.read_text())
    rows = record["rows"]
    failed = [r for r in rows if not r["passed"]]
    assert code == 0, "\n".join(map(str, failed))
    assert f"{len(rows)} passed, 0 failed" in out
    assert {r["family"] for r in rows} == families
    assert record["z_bound"] == verify.z_bound(len(rows), 1e-3)
    # Every statistical row had a real error bar; rows with sem 0 agree exactly,
    # or (integer-valued metrics) within the report's stated slack.
    slack = math.log(2 * len(rows) / 1e-3) / record["num_chains"]
    for r in rows:
        if r["z"] is None:
            gap = abs(r["mean"] - r["theory"])
            if r["metric"] in verify.INTEGER_METRICS:
                assert gap <= max(slack, 1e-6), r
            else:
                assert np.isclose(r["mean"], r["theory"], rtol=1e-5, atol=1e-6), r
        else:
            assert r["sem"] > 0
    return rows


def test_quick_report_on_the_first_case_passes(tmp_path, capsys, monkeypatch):
    """The report end to end (table, JSON, exit 0) on its first case, Gaussian
    replace with a temperature grid: the programs that the wrong-theory test
    below runs too."""
    first = verify.cases()[0]
    monkeypatch.setattr(verify, "cases", lambda: [first])
    rows = _report(tmp_path, capsys, {"gaussian"})
    assert len(rows) > 20


# Slow: about 45 s on a 2-core machine, and its comparisons repeat each
# family's own theory tests (tests/test_*.py); the default run has the report
# on one case above and the wrong-theory case below.
@pytest.mark.slow
def test_quick_report_on_one_case_a_family_passes(tmp_path, capsys, monkeypatch):
    """The report end to end on the first case of each family (the default run;
    the whole --quick report, 19 cases and about 135 s of compilation, is the
    slow test below, and `jaxcollapse verify --quick` itself)."""
    every = verify.cases()
    first = {}
    for case in every:
        first.setdefault(case.family, case)
    monkeypatch.setattr(verify, "cases", lambda: list(first.values()))
    rows = _report(tmp_path, capsys)
    assert len(rows) > 20


@pytest.mark.slow
def test_quick_report_passes_and_covers_every_family(tmp_path, capsys):
    rows = _report(tmp_path, capsys)
    workflows = {r["workflow"] for r in rows if r["family"] == "gaussian"}
    assert workflows == {
        "replace",
        "accumulate",
        "accumulate-subsample",
        "augment",
        "fresh",
        "mix",
    }
    assert len(rows) > 100


def test_report_fails_when_a_closed_form_is_off_by_5_percent(monkeypatch, capsys):
    """The Gaussian replace variance theory scaled by 1.05 from generation 1 on:
    at 4000 chains the sem of var at generation 1 is about 0.5% of it (n = 20),
    so the shift is about 10 sem there against the report's bound of about 4.6
    (alpha 1e-3 over its rows): each of the two temperatures misses it with
    probability about 1e-7, and the report must say FAIL and exit 1. (At 3%,
    about 6 sem, a miss had probability near 0.1 a temperature, and one seed
    of the engine's streams did miss it.)"""
    real = sim_module.theory_for

    def wrong(config):
        out = dict(real(config))
        if "var" in out:
            out["var"] = out["var"] * np.r_[1.0, np.full(len(out["var"]) - 1, 1.05)]
        return out

    monkeypatch.setattr(sim_module, "theory_for", wrong)
    case = verify.cases()[0]  # gaussian replace, d = 1
    assert case.family == "gaussian" and case.run["workflow"] == "replace"
    monkeypatch.setattr(verify, "cases", lambda: [case])
    code = main(["verify", "--quick", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    bad = [line for line in out.splitlines() if line.rstrip().endswith("FAIL")]
    assert bad and all(" var " in line for line in bad), out


def test_bad_verify_input_is_one_line_and_exit_2(tmp_path, capsys):
    for argv in (
        ["verify", "--alpha", "2"],
        ["verify", "--alpha", "x"],
        ["verify", "--alpha", "5e-324"],  # bounds infinite: every row would pass
        ["verify", "--json", ""],
        ["verify", "--quick", "--full"],
        ["verify", "--json", str(tmp_path)],
        ["verify", "--seed", "-1"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("jaxcollapse: error"), err
        if argv[1:] == ["--alpha", "5e-324"]:
            assert "--alpha must be a number in [1e-12, 1)" in err, err
