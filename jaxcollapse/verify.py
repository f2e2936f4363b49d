"""`jaxcollapse verify`: every closed form in jaxcollapse/theory/ against simulation.

Each case is one simulate() call (a temperature or real_weight list runs as one
compiled program); every metric with theory in that setting is compared at a
few generations by z = (simulated mean - theory) / sem, sem being the
across-chain standard error of the mean (chains are independent). A row passes
when |z| is below the two-sided Bonferroni bound for the family-wise
false-failure rate `alpha` over all rows: with exact theory and a correct
engine, the whole report fails with probability at most alpha. Rows whose value
is the same in every chain (sem 0, e.g. distinct_roots under accumulate) must
equal their theory to rounding instead, or for integer-valued metrics be
within the bound of INTEGER_METRICS below.

`quick` is sized for a 2-core CPU (about a minute and a half here); `full`
runs 250x the chains of the same cases (GPU-sized) and so resolves errors 16x
smaller.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

LEVELS = {"quick": 4_000, "full": 1_000_000}
DEFAULT_ALPHA = 1e-3
# Per-chain values that are integers (counts, indicators): when every chain
# has the same value v, a true mean v + delta would have made some chain
# differ by at least 1 with probability >= 1 - exp(-C delta), so such a row
# fails only when delta > log(1/alpha_row) / C. (At 4000 chains a collapse
# probability of 8e-6 shows as no collapsed chain at all, sem 0.)
INTEGER_METRICS = frozenset(
    {"num_missing", "collapsed", "distinct_roots", "num_missing_transitions"}
)


@dataclass(frozen=True)
class Case:
    """One setting: `family` and its settings, simulate() keywords in `run`."""

    label: str
    family: str
    settings: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)


def _gaussian(label, workflow, **run):
    dim = run.pop("dim", 1)
    ddof = run.pop("ddof", 0)
    return Case(
        label, "gaussian", {"dim": dim, "ddof": ddof}, dict(run, workflow=workflow)
    )


def cases() -> list[Case]:
    """The settings whose theory the report checks: every family with a theory
    module and every workflow it has a closed form for, with and without the
    temperature bias, on both Gaussian paths."""
    g = dict(num_samples=20, num_generations=12)
    out = [
        _gaussian("d=1 ddof=0", "replace", temperature=[1.0, 0.9], **g),
        _gaussian("d=1 ddof=1 sample-level", "replace", ddof=1, exact_path="off", **g),
        _gaussian("d=1 ddof=1", "accumulate", ddof=1, **g),
        _gaussian("d=1 ddof=0", "accumulate-subsample", **g),
        _gaussian("d=1 ddof=1 n_real=10", "augment", ddof=1, num_real=10, **g),
        _gaussian("d=1 ddof=0", "fresh", real_weight=[0.3, 0.618], **g),
        _gaussian("d=1 ddof=1", "mix", ddof=1, real_weight=[0.2, 0.8], **g),
        _gaussian("d=3 ddof=1", "replace", dim=3, ddof=1, **g),
        _gaussian("d=3 ddof=0 tau=0.9", "accumulate", dim=3, temperature=0.9, **g),
    ]
    k = dict(num_samples=20, num_generations=10)
    kde = {"dim": 1, "bandwidth": 0.3}
    out += [
        Case("h=0.3", "kde", kde, dict(workflow="replace", **k)),
        Case("h=0.3", "kde", kde, dict(workflow="accumulate", **k)),
        Case("h=0.3", "kde", kde, dict(workflow="mix", real_weight=0.5, **k)),
        Case(
            "scott",
            "kde",
            {"dim": 1, "bandwidth": "scott"},
            dict(workflow="replace", **k),
        ),
    ]
    lin = {"dim": 3, "noise": 1.0}
    out += [
        Case("d=3 s=1", "linreg", lin, dict(workflow="replace", **k)),
        Case("d=3 s=1", "linreg", lin, dict(workflow="accumulate", **k)),
        Case("d=3 s=1", "linreg", lin, dict(workflow="mix", real_weight=0.5, **k)),
    ]
    cat = {"categories": 10, "zipf": 1.1, "smoothing": 0.0}
    out += [
        Case("K=10 zipf=1.1", "categorical", cat, dict(workflow="replace", **k)),
        Case("K=10 zipf=1.1", "categorical", cat, dict(workflow="accumulate", **k)),
    ]
    out.append(
        Case("1 component", "gmm", {"components": 1}, dict(workflow="replace", **k))
    )
    return out


def checked_generations(num_generations: int) -> list[int]:
    """0, 1, the middle and the last generation."""
    return sorted({0, min(1, num_generations), num_generations // 2, num_generations})


@dataclass
class Row:
    family: str
    workflow: str
    setting: str
    metric: str
    generation: int
    theory: float
    mean: float
    sem: float
    z: float  # nan where sem is 0 (an exact comparison instead)
    passed: bool


MIN_ALPHA = 1e-12  # the smallest family-wise false-failure rate taken


def z_bound(num_rows: int, alpha: float) -> float:
    """Two-sided Bonferroni bound: P(|z| > bound for any of num_rows) <= alpha."""
    from scipy import stats

    return float(stats.norm.isf(alpha / (2 * max(num_rows, 1))))


def _simulate(case: Case, num_chains: int, seed: int):
    import jaxcollapse as jc
    from jaxcollapse.models import FAMILIES

    model = FAMILIES[case.family](**case.settings)
    kwargs = dict(case.run)
    workflow = kwargs.pop("workflow")
    out = jc.simulate(model, workflow, num_chains=num_chains, seed=seed, **kwargs)
    return out if isinstance(out, list) else [out]


def _setting(case: Case, config: dict) -> str:
    parts = [case.label]
    for key, short in (("temperature", "tau"), ("real_weight", "lambda")):
        values = case.run.get(key)
        if isinstance(values, list) or (values is not None and key == "real_weight"):
            parts.append(f"{short}={config[key]:g}")
    return " ".join(parts)


def _compare(res) -> list[tuple]:
    """(metric, generation, theory, mean, sem) for every metric with theory."""
    out = []
    for name, expected in res.theory.items():
        if name not in res.metrics:
            continue
        stat = res.metrics[name]
        for t in checked_generations(len(res.generations) - 1):
            if np.isnan(expected[t]):  # no closed form at this generation
                continue
            out.append(
                (
                    name,
                    t,
                    float(expected[t]),
                    float(stat["mean"][t]),
                    float(stat["sem"][t]),
                )
            )
    return out


def run(
    level: str = "quick",
    *,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    log=None,
):
    """Run every case of cases(); (rows, z bound, seconds). `log(message)` gets
    a line per case."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    # Below MIN_ALPHA the bounds grow without use (5e-324 would make them
    # infinite and pass every row).
    if not (isinstance(alpha, float) and MIN_ALPHA <= alpha < 1.0):
        raise ValueError(f"alpha must be a number in [{MIN_ALPHA:g}, 1); got {alpha!r}")
    num_chains = LEVELS[level]
    start = time.perf_counter()
    raw = []
    todo = cases()
    for i, case in enumerate(todo):
        if log:
            flow = case.run["workflow"]
            since = time.perf_counter() - start
            what = f"{case.family} {flow} {case.label}"
            log(f"[{i + 1}/{len(todo)}] {since:5.0f} s  {what}")
        for res in _simulate(case, num_chains, seed):
            setting = _setting(case, res.config)
            for item in _compare(res):
                raw.append((case.family, case.run["workflow"], setting) + item)
    bound = z_bound(len(raw), alpha)
    slack = math.log(2 * len(raw) / alpha) / num_chains  # INTEGER_METRICS, sem 0
    rows = []
    for family, workflow, setting, metric, t, theory, mean, sem in raw:
        if sem > 0 and math.isfinite(sem):
            z = (mean - theory) / sem
            passed = bool(abs(z) < bound)
        else:
            z = math.nan
            passed = bool(np.isclose(mean, theory, rtol=1e-5, atol=1e-6))
            if metric in INTEGER_METRICS:
                passed = passed or abs(mean - theory) <= slack
        rows.append(
            Row(family, workflow, setting, metric, t, theory, mean, sem, z, passed)
        )
    return rows, bound, time.perf_counter() - start


def table(rows: list[Row]) -> str:
    """One line per row: setting, metric, generation, theory, mean ± sem, z, verdict."""
    from jaxcollapse.report import fmt, fmt_pm, render

    head = [
        "family",
        "workflow",
        "setting",
        "metric",
        "gen",
        "theory",
        "simulated",
        "z",
        "",
    ]
    cells = [head]
    for r in rows:
        z = "exact" if math.isnan(r.z) else f"{r.z:+.2f}"
        cells.append(
            [
                r.family,
                r.workflow,
                r.setting,
                r.metric,
                str(r.generation),
                fmt(r.theory),
                fmt_pm(r.mean, r.sem),
                z,
                "pass" if r.passed else "FAIL",
            ]
        )
    return render(cells, left={0, 1, 2, 3, 8})
