"""KDE and categorical chains: a per-chain NumPy loop against jaxcollapse.

The per-chain loop is the structure of the papers' code (one KernelDensity fit,
score and sample per chain per generation; one multinomial resample per chain
per generation), written with NumPy in float64 and computing the same metrics
as jaxcollapse, so both sides do the same work:

- kde (1-D, fixed bandwidth h, truth N(0, 1), replace): fit = keep the n points;
  metrics test_nll on a fixed held-out set of num_test points (log-sum-exp over
  the n kernels), var (sample variance + h^2), distinct_roots; sample = pick n
  points uniformly, add h N(0, 1).
- categorical (K symbols, Zipf(1.1) truth, no smoothing, replace): fit =
  counts / n; metrics num_missing, entropy, kl, tail_mass, collapsed; sample =
  Multinomial(n, p_hat).

Rates are chain-generations per second (chains x T / wall seconds); the
baseline runs on fewer chains and rates are compared. Target (issue 3): each
family at least 30x its per-chain baseline. Prints one table with the machine
and versions; --json writes it with the record.

    python benchmarks/families.py            # default sizes (a few minutes)
    python benchmarks/families.py --quick    # small sizes; not for the target
"""

import argparse
import json
import os
import sys
import time

from jaxcollapse.bench.baselines import (
    categorical_per_chain,
    have_sklearn,
    kde_per_chain,
    kde_sklearn_per_chain,
)
from jaxcollapse.bench.meter import (
    CompileClock,
    Meter,
    machine_info,
    markdown_table,
    si,
    source_state,
    verdict,
)

TARGET = 30.0


# ---------------------------------------------------------------- jaxcollapse


def run_jaxcollapse(clock, model, chains, n, T, num_test, seed, metric):
    import jaxcollapse as jc

    before = clock.total
    with Meter() as meter:
        res = jc.simulate(
            model,
            "replace",
            num_samples=n,
            num_generations=T,
            num_chains=chains,
            num_test=num_test,
            seed=seed,
        )
    stat = res.metrics[metric]
    return (
        meter,
        clock.total - before,
        (float(stat["mean"][-1]), float(stat["sem"][-1])),
    )


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--json", default=None, metavar="PATH")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    # Two workloads a family: a small one (the papers' scale, where the
    # per-chain loop pays Python's overhead every generation) and a large one
    # (where NumPy's vectorised work per chain dominates).
    if args.quick:
        args.kde = [dict(chains=2048, base=20, skl=5, n=50, T=10, h=0.1, num_test=100)]
        args.cat = [dict(chains=4096, base=50, n=100, T=20, K=100, zipf=1.1)]
    else:
        args.kde = [
            dict(chains=50_000, base=200, skl=40, n=50, T=50, h=0.1, num_test=100),
            dict(chains=20_000, base=100, skl=20, n=100, T=50, h=0.1, num_test=500),
        ]
        args.cat = [
            dict(chains=100_000, base=1000, n=100, T=100, K=100, zipf=1.1),
            dict(chains=10_000, base=300, n=1000, T=100, K=1000, zipf=1.1),
        ]
    return args


def _rows_for(clock, seed, family, size, baselines, model, metric, num_test):
    """Each per-chain baseline (name, chains, fn), then jaxcollapse cold and
    warm, on one workload; a jaxcollapse row's ratios are over every baseline's
    rate, the first baseline's ratio deciding the target."""
    label = ", ".join(
        f"{k}={v}" for k, v in size.items() if k not in ("chains", "base", "skl")
    )
    rows, rates = [], []
    for name, chains, fn in baselines:
        with Meter() as m:
            base_val = fn()
        rate = chains * size["T"] / m.wall
        rates.append(rate)
        rows.append((family, label, name, chains, m, None, rate, None, base_val))
    for when in ("cold", "warm"):
        meter, compile_s, val = run_jaxcollapse(
            clock,
            model,
            size["chains"],
            size["n"],
            size["T"],
            num_test,
            seed,
            metric,
        )
        rate = size["chains"] * size["T"] / meter.wall
        ratios = [rate / r for r in rates]
        rows.append(
            (
                family,
                label,
                f"jaxcollapse, {when}",
                size["chains"],
                meter,
                compile_s,
                rate,
                ratios,
                val,
            )
        )
    return [row + (metric,) for row in rows]


def main(argv=None):
    args = parse(argv)
    import jaxcollapse as jc

    clock = CompileClock()
    rows = []
    for k in args.kde:
        sizes = (k["n"], k["T"], k["h"], k["num_test"], args.seed)
        baselines = [
            (
                "numpy per-chain loop, f64",
                k["base"],
                lambda k=k, sizes=sizes: kde_per_chain(k["base"], *sizes),
            )
        ]
        if have_sklearn():
            baselines.append(
                (
                    "scikit-learn KernelDensity per chain",
                    k["skl"],
                    lambda k=k, sizes=sizes: kde_sklearn_per_chain(k["skl"], *sizes),
                )
            )
        rows += _rows_for(
            clock,
            args.seed,
            "kde",
            k,
            baselines,
            jc.KDE(dim=1, bandwidth=k["h"]),
            "test_nll",
            k["num_test"],
        )
    for c in args.cat:
        rows += _rows_for(
            clock,
            args.seed,
            "categorical",
            c,
            [
                (
                    "numpy per-chain loop, f64",
                    c["base"],
                    lambda c=c: categorical_per_chain(
                        c["base"], c["n"], c["T"], c["K"], c["zipf"], args.seed
                    ),
                ),
            ],
            jc.Categorical(categories=c["K"], zipf=c["zipf"]),
            "entropy",
            500,
        )

    header = [
        "family",
        "workload",
        "method",
        "chains",
        "wall s",
        "compile s",
        "cores",
        "others",
        "chain-gen/s",
        "x loop",
        "x sklearn",
        "mean ± sem at T",
        "target",
        "result",
    ]
    body = []
    for fam, label, method, chains, meter, compile_s, rate, ratios, val, metric in rows:
        is_jc = ratios is not None
        ratio = ratios[0] if is_jc else None
        skl = ratios[1] if is_jc and len(ratios) > 1 else None
        target = f">={TARGET:g}x loop" + (", sklearn" if skl is not None else "")
        result = ""
        if is_jc:
            result = "/".join(verdict(r >= TARGET) for r in ratios)
        body.append(
            [
                fam,
                label,
                method,
                si(chains),
                f"{meter.wall:.2f}",
                "-" if compile_s is None else f"{compile_s:.2f}",
                f"{meter.cores:.2f}",
                "-" if meter.others is None else f"{meter.others:.2f}",
                si(rate),
                "-" if ratio is None else f"{ratio:.1f}x",
                "-" if skl is None else f"{skl:.1f}x",
                f"{metric} {val[0]:.3f} ± {val[1]:.3f}",
                target if is_jc else "",
                result,
            ]
        )
    info = machine_info() | source_state()
    info["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
    lines = [
        "KDE and categorical `replace` chains, chain-generations = chains x T",
        f"machine: {info['cpu_model']}, {info['cpus_usable']} CPUs, {info['platform']}",
        f"python {info['python']}, jax {info['jax']} ({info['jax_backend']}), "
        f"numpy {info['numpy']}, jaxcollapse {info['jaxcollapse']} "
        f"(git {info['git_commit']}), {info['date']}",
        f"XLA_FLAGS={info['XLA_FLAGS']!r}",
        "",
        markdown_table(header, body, left={0, 1, 2, 11, 12, 13}),
        "",
        "cold: first call in the process, compilation included; warm: again.",
        "mean ± sem at T: the metric over chains at generation T; both sides "
        "simulate the same law, so they agree within their errors.",
    ]
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "table": body, "header": header}, f, indent=1)
    return 0


if __name__ == "__main__":
    _start = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - _start:.1f} s", file=sys.stderr)
    sys.exit(code)
