"""`jaxcollapse bench` / benchmarks/run.py: every family x workflow workload of
a stated size, timed in one process beside the baselines users would otherwise
run and against the machine's measured ceilings (roofline.py).

For each workload the jaxcollapse side runs twice, with the same seed:

- cold: the first simulate() of that shape in the process, from the call to the
  returned Results - what a user pays; `compile s` is simulate's own clock of
  tracing, lowering and compiling its two chunk programs (Results.timing);
- warm: the same call again (the compiled programs are cached): `run s`, and the
  rates `chain-gen/s` (chains x T / run s) and `samples/s` (x n).

`device MB` is the larger chunk program's device memory as XLA plans it
(arguments + outputs + temporaries), summed over the devices; `peak MB` is the
device allocator's peak so far in the process, where the backend reports one
(GPUs and TPUs; not the CPU). Baselines (baselines.py) run on fewer chains, and
ratios compare rates: `x loop`, `x vec`, `x sklearn` are the warm chain-gen/s
over the per-chain NumPy loop's, the vectorised NumPy loop's and scikit-learn's.
`RNG %` is the warm draws per second over the machine's ceiling for the same
draws (the fused per-chain normal ceiling of jaxcollapse's generator), for
workloads whose cost is their normal draws; `x jax.random` is the same draws
per second over jax.random.normal's written rate (JAX's default generator).
"""

import argparse
import csv
import dataclasses
import json
import os
import sys
import time

import numpy as np

from jaxcollapse.bench import baselines as bl
from jaxcollapse.bench.meter import (
    Meter,
    machine_info,
    markdown_table,
    si,
    source_state,
)
from jaxcollapse.bench.workloads import WORKLOADS
from jaxcollapse.config import check_writable_file


def _device_peak():
    """The allocator's peak bytes so far over the devices, or None (CPU)."""
    import jax

    total = 0
    for device in jax.local_devices():
        stats = device.memory_stats() or {}
        if "peak_bytes_in_use" not in stats:
            return None
        total += stats["peak_bytes_in_use"]
    return total


def _simulate(work, chains, n, T, seed):
    import jaxcollapse as jc

    return jc.simulate(
        work.model(),
        work.workflow,
        num_samples=n,
        num_generations=T,
        num_chains=chains,
        seed=seed,
        exact_path=work.exact_path,
        **work.settings,
    )


def run_workload(work, preset, seed, ceilings, say=lambda _: None):
    """The rows of one workload: its baselines, then jaxcollapse."""
    import jax

    chains, n, T = work.sizes(preset)
    rows, rates = [], {}
    for kind, (fn, full_chains, quick_chains) in work.base.items():
        # At --gpu sizes (T up to 1000) the host's baselines run their --quick
        # chain counts: rates are compared, and the device time is scarce.
        c = full_chains if preset == "full" else quick_chains
        say(f"{work.name}: baseline {kind}, {c} chains")
        with Meter() as meter:
            mean, sem = fn(c, n, T, seed)
        rates[kind] = c * T / meter.wall
        rows.append(
            dict(
                workload=work.name,
                method=_BASELINE_NAMES[kind],
                chains=c,
                n=n,
                T=T,
                run_s=meter.wall,
                cores=meter.cores,
                chain_gen_per_s=rates[kind],
                samples_per_s=rates[kind] * n,
                value=(work.metric, mean, sem),
            )
        )
    say(f"{work.name}: jaxcollapse, {chains} chains (cold, then warm)")
    with Meter() as cold:
        first = _simulate(work, chains, n, T, seed)
    with Meter() as warm:
        again = _simulate(work, chains, n, T, seed)
    stat = again.metrics[work.metric]
    # The same seed gives the same numbers (NaN where both have NaN).
    same = bool(
        np.array_equal(stat["mean"], first.metrics[work.metric]["mean"], equal_nan=True)
    )
    rate = chains * T / warm.wall
    row = dict(
        workload=work.name,
        method="jaxcollapse",
        chains=chains,
        n=n,
        T=T,
        cold_s=cold.wall,
        compile_s=first.timing.get("compile_seconds"),
        run_s=warm.wall,
        cores=warm.cores,
        chain_gen_per_s=rate,
        cold_chain_gen_per_s=chains * T / cold.wall,
        samples_per_s=rate * n,
        device_bytes=None
        if first.timing.get("device_bytes_planned") is None
        else first.timing["device_bytes_planned"] * len(jax.local_devices()),
        peak_bytes=_device_peak(),
        chunk_size=first.config.get("chunk_size"),
        value=(work.metric, float(stat["mean"][-1]), float(stat["sem"][-1])),
        repeatable=same,
    )
    for kind, base_rate in rates.items():
        row[f"x_{kind}"] = rate / base_rate
    if work.draws is not None and ceilings:
        draws = rate * n * work.draws
        roof = ceilings.get("normal_fused")
        row["rng_fraction"] = draws / roof if roof else None
        jr = ceilings.get("normal_jax")
        row["x_jax_random"] = draws / jr if jr else None
    rows.append(row)
    return rows


_BASELINE_NAMES = {
    "loop": "numpy per-chain loop, f64",
    "vec": "numpy vectorised, f32",
    "sklearn": "scikit-learn KernelDensity per chain",
}

_COLUMNS = (
    ("workload", "workload", None),
    ("method", "method", None),
    ("chains", "chains", si),
    ("n", "n", str),
    ("T", "T", str),
    ("cold s", "cold_s", "{:.2f}"),
    ("compile s", "compile_s", "{:.2f}"),
    ("run s", "run_s", "{:.2f}"),
    ("chain-gen/s", "chain_gen_per_s", si),
    ("samples/s", "samples_per_s", si),
    ("device MB", "device_bytes", lambda b: f"{b / 1e6:.0f}"),
    ("peak MB so far", "peak_bytes", lambda b: f"{b / 1e6:.0f}"),
    ("x loop", "x_loop", "{:.1f}x"),
    ("x vec", "x_vec", "{:.2f}x"),
    ("x sklearn", "x_sklearn", "{:.0f}x"),
    ("RNG %", "rng_fraction", lambda f: f"{100 * f:.0f}%"),
    ("x jax.random", "x_jax_random", "{:.1f}x"),
    ("mean ± sem at T", "value", lambda v: f"{v[0]} {v[1]:.4g} ± {v[2]:.2g}"),
)


def _cell(row, key, fmt):
    value = row.get(key)
    if value is None:
        return "-"
    if fmt is None:
        return str(value)
    if isinstance(fmt, str):
        return fmt.format(value)
    return fmt(value)


def table(rows) -> str:
    header = [c[0] for c in _COLUMNS]
    body = [[_cell(r, key, fmt) for _, key, fmt in _COLUMNS] for r in rows]
    return markdown_table(header, body, left={0, 1, len(header) - 1})


def roofline_table(ceilings_rows) -> str:
    body = [
        [r["what"], r["impl"], si(r["rate"]), r["unit"], f"{r['seconds']:.3f}"]
        for r in ceilings_rows
    ]
    return markdown_table(
        ["ceiling", "PRNG", "rate", "unit", "best s"], body, left={0, 1, 3}
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The suite's options (shared by `jaxcollapse bench` and benchmarks/run.py)."""
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    size.add_argument(
        "--gpu",
        action="store_true",
        help="issue 6's accelerator sizes: Gaussian sample-level 10^6 chains x "
        "n=1000 x 1000 generations, exact path 10^8 x 1000, KDE accumulate "
        "10^5 x n=100 x 100 (the workloads that have them)",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="WORD",
        default=None,
        help="only workloads whose name contains every WORD",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-baselines", action="store_true", help="jaxcollapse only")
    p.add_argument("--no-roofline", action="store_true", help="skip the ceilings")
    p.add_argument("--json", metavar="PATH", default=None, help="JSON record")
    p.add_argument("--csv", metavar="PATH", default=None, help="CSV of the rows")
    p.add_argument(
        "--scaling",
        metavar="DIR",
        default=None,
        help="instead, the scaling curves (throughput against chains, n, T and "
        "devices; memory against chains): DIR/scaling.png and DIR/scaling.json",
    )


DESCRIPTION = (
    "Time every family x workflow workload against NumPy / scikit-learn "
    "baselines and the machine's measured RNG and memory ceilings."
)
EPILOG = "workloads: " + "; ".join(w.name for w in WORKLOADS)


def select(words):
    if not words:
        return list(WORKLOADS)
    chosen = [w for w in WORKLOADS if all(x in w.name for x in words)]
    if not chosen:
        raise ValueError(f"no workload matches {' '.join(words)!r}")
    return chosen


def ceilings_from(rows) -> dict:
    from jaxcollapse.bench.roofline import best

    return {
        "normal_fused": best(rows, "normal, per-chain keys", "jcfry"),
        "normal_jax": best(rows, "normal, written", "threefry2x32"),
        "copy": best(rows, "copy"),
    }


def main(argv=None) -> int:
    """benchmarks/run.py: the same command, with the CLI's error handling."""
    from jaxcollapse.cli import main as cli_main

    return cli_main(["bench", *(sys.argv[1:] if argv is None else argv)])


def run(args) -> int:
    """Run the suite; print the tables, write --json / --csv."""
    if args.scaling:
        from jaxcollapse.bench import scaling

        try:
            os.makedirs(args.scaling, exist_ok=True)
        except OSError as err:
            raise ValueError(
                f"cannot write --scaling {args.scaling}: {err.strerror}"
            ) from None
        check_writable_file(os.path.join(args.scaling, "scaling.json"), "--scaling")
        started = time.perf_counter()
        record = scaling.run(
            args.quick, args.scaling, lambda m: print(m, file=sys.stderr, flush=True)
        )
        print(scaling.summary(record))
        print(f"total {time.perf_counter() - started:.0f} s")
        return 0
    preset = "quick" if args.quick else "gpu" if getattr(args, "gpu", False) else "full"
    chosen = [w for w in select(args.only) if w.sizes(preset) is not None]
    if not chosen:
        raise ValueError(f"no chosen workload has {preset} sizes")
    for flag, path in (("--json", args.json), ("--csv", args.csv)):
        if path:
            check_writable_file(path, flag)
    started = time.perf_counter()

    def say(msg):
        print(
            f"[{time.perf_counter() - started:6.1f}s] {msg}",
            file=sys.stderr,
            flush=True,
        )

    import jaxcollapse  # noqa: F401  (its XLA flags, before JAX starts)
    from jaxcollapse.bench import roofline

    info = machine_info() | source_state()
    info["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
    ceiling_rows = []
    if not args.no_roofline:
        say("roofline: RNG and memory ceilings")
        size = (1 << 23, 1 << 16) if args.quick else (1 << 24, 1 << 17)
        ceiling_rows = roofline.measure(*size, repeats=5)
    ceilings = ceilings_from(ceiling_rows) if ceiling_rows else {}
    rows = []
    for work in chosen:
        if args.no_baselines:
            work = dataclasses.replace(work, base={})
        elif "sklearn" in work.base and not bl.have_sklearn():
            say(f"{work.name}: no scikit-learn (the bench extra): row left out")
            base = {k: v for k, v in work.base.items() if k != "sklearn"}
            work = dataclasses.replace(work, base=base)
        rows += run_workload(work, preset, args.seed, ceilings, say)
    say("done")
    lines = [
        f"jaxcollapse bench ({preset} sizes), seed {args.seed}",
        f"machine: {info['cpu_model']}, {info['cpus_usable']} CPUs; "
        f"devices: {len(info['jax_devices'])} x {info['jax_backend']} "
        f"({info['jax_devices'][0]})",
        f"python {info['python']}, jax {info['jax']}, jaxlib {info['jaxlib']}, "
        f"numpy {info['numpy']}, jaxcollapse {info['jaxcollapse']} "
        f"(git {info['git_commit']}{', modified' if info['git_dirty'] else ''}), "
        f"{info['date']}",
        f"XLA_FLAGS={info['XLA_FLAGS']!r}",
        "",
    ]
    if ceiling_rows:
        lines += [roofline_table(ceiling_rows), ""]
    lines += [table(rows), ""]
    lines.append(
        f"total {time.perf_counter() - started:.0f} s; the columns are explained "
        "in benchmarks/README.md and jaxcollapse/bench/suite.py."
    )
    text = "\n".join(lines)
    print(text)
    if args.json:
        record = dict(
            benchmark="suite",
            quick=args.quick,
            preset=preset,
            seed=args.seed,
            machine=info,
            roofline=ceiling_rows,
            ceilings=ceilings,
            rows=rows,
            table=text,
        )
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
    if args.csv:
        keys = sorted({k for r in rows for k in r})
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            for r in rows:
                writer.writerow(
                    {
                        k: (" ".join(map(str, v)) if isinstance(v, tuple) else v)
                        for k, v in r.items()
                    }
                )
    return 0
