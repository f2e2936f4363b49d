"""Benchmark: the Gaussian `replace` chain, NumPy baselines against jaxcollapse.

One workload, timed four ways in one process, printed as one table:

  1. per-chain NumPy loop (the structure of the model-collapse papers' code): for
     each chain, for each generation, draw n float64 points from the current fit
     with numpy's default_rng, refit mean and std;
  2. NumPy loop over generations, vectorised across chains: float32 draws from
     rng.standard_normal(dtype=np.float32), mean/std along axis 1 (chains are
     processed in cache-sized blocks, which is NumPy's fastest form of it);
  3. jaxcollapse, sample-level path (exact_path="off": all n points drawn);
  4. jaxcollapse, exact fast path (exact_path="on": the sample mean and the
     chi-square scatter are drawn instead of the points; the same law).

The model is d = 1, ddof = 0, temperature 1, truth N(0, 1); generation 0 fits n
real draws and generations 1..T refit on n synthetic draws of the previous fit.
The baselines are slow, so they run on a subset of the chains (the table says how
many) and rates are compared: chain-generations per second = chains * T / wall
seconds (the generation-0 fit is inside the time but not counted).

jaxcollapse rows are timed from the call of simulate() to the returned Results,
compilation included ("cold": what a user pays once per shape in a fresh
process), then the same call again ("warm": the compiled program is cached).
"compile s" is the time JAX reports for tracing, lowering and XLA compilation
during the call (jax.monitoring events).

Peak memory: a separate subprocess runs one sample-level simulate of
--peak-chains chains (n = 100, T = 100 by default) and its peak resident set size
(os.wait4 / getrusage(RUSAGE_CHILDREN).ru_maxrss) is checked against 2 GB.

Targets (PASS/FAIL column): sample-level >= 3x the vectorised NumPy loop and
>= 30x the per-chain loop (both at the same n); exact path >= 100x the vectorised
NumPy loop at the same n; peak RSS of the 10^6-chain sample-level run <= 2 GB.

    python benchmarks/gaussian_replace.py                 # the full default run
    python benchmarks/gaussian_replace.py --quick         # small sizes, < 1 minute
    python benchmarks/gaussian_replace.py --json out.json # also write a JSON record
"""

import argparse
import json
import math
import os
import resource
import sys
import time

_T_START = time.perf_counter()

import numpy as np  # noqa: E402

from jaxcollapse.bench.baselines import (  # noqa: E402
    gaussian_per_chain,
    gaussian_vectorised,
)
from jaxcollapse.bench.meter import (  # noqa: E402
    CompileClock,
    Meter,
    json_child,
    machine_info,
    markdown_table,
    si,
    source_state,
    verdict,
)

PEAK_LIMIT_BYTES = 2 * 10**9  # the "2 GB" target, in bytes


# ---------------------------------------------------------------- jaxcollapse


def run_jaxcollapse(clock, num_chains, n, T, seed, exact, chunk_size):
    import jaxcollapse as jc

    before = clock.total
    with Meter() as meter:
        result = jc.simulate(
            jc.Gaussian(dim=1, ddof=0),
            "replace",
            num_samples=n,
            num_generations=T,
            num_chains=num_chains,
            seed=seed,
            exact_path=exact,
            chunk_size=chunk_size,
        )
    std = result.metrics["std"]
    return {
        "wall_s": meter.wall,
        "cores": meter.cores,
        "others_cores": meter.others,
        "compile_s": clock.total - before,
        "loop_s": float(result.timing["seconds"]),
        "chunk_size": int(result.config.get("chunk_size", -1)),
        "block_size": int(result.config.get("block_size", -1)),
        "std_T": float(std["mean"][-1]),
        "std_T_sem": float(std["sem"][-1]),
    }


def peak_child(args):
    """Inside the memory subprocess: one sample-level run, a JSON line on stdout."""
    import jax

    import jaxcollapse  # noqa: F401

    clock = CompileClock()
    jax.devices()
    started = time.perf_counter()
    out = run_jaxcollapse(
        clock, args.chains, args.n, args.generations, args.seed, "off", args.chunk_size
    )
    out["startup_s"] = (
        started - _T_START
    )  # imports and backend, after interpreter start
    print(json.dumps(out), flush=True)


def run_peak(args):
    """Start the memory subprocess; its wall time, peak RSS and own timings."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--_peak-child",
        "--chains",
        str(args.peak_chains),
        "--n",
        str(args.peak_n),
        "--generations",
        str(args.generations),
        "--seed",
        str(args.seed),
    ]
    if args.chunk_size:
        command += ["--chunk-size", str(args.chunk_size)]
    out = json_child(command, "peak-memory subprocess")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    out["rusage_children_maxrss_bytes"] = children
    return out


# ---------------------------------------------------------------- reporting


def theory_std_T(n, T):
    """E[sigma_T] for ddof = 0, tau = 1: (E sqrt(chi2_{n-1} / n))^(T + 1)."""
    from scipy.special import gammaln

    log_factor = 0.5 * math.log(2.0 / n) + gammaln(n / 2) - gammaln((n - 1) / 2)
    return math.exp((T + 1) * log_factor)


def build_rows(args, base, jc_rows, peak):
    T = args.generations
    rows = []

    def make(label, method, chains, n, out, samples=True):
        rate = chains * T / out["wall_s"]
        row = {
            "label": label,
            "method": method,
            "chains": chains,
            "n": n,
            "T": T,
            "chain_gen_per_s": rate,
            "samples_per_s": rate * n if samples else None,
            "compile_s": None,
            "vs_loop": None,
            "vs_vec": None,
            "target": "",
            "result": "",
        }
        row.update(out)
        return row

    for (kind, n), out in base.items():
        if kind == "loop":
            label = f"numpy per-chain loop, f64 (n={n})"
            rows.append(make(label, "loop", args.loop_chains, n, out))
        else:
            label = f"numpy vectorised, f32, blocks of {vec_block(args, n)} (n={n})"
            rows.append(make(label, "vec", args.vec_chains, n, out))

    def base_rate(kind, n):
        for row in rows:
            if row["method"] == kind and row["n"] == n:
                return row["chain_gen_per_s"]
        return None

    def compare(row):
        loop, vec = base_rate("loop", row["n"]), base_rate("vec", row["n"])
        row["vs_loop"] = row["chain_gen_per_s"] / loop if loop else None
        row["vs_vec"] = row["chain_gen_per_s"] / vec if vec else None

    for (exact, when), out in jc_rows.items():
        sample_level = exact == "off"
        chains = args.sample_chains if sample_level else args.exact_chains
        n = args.sample_n if sample_level else args.exact_n
        path = "sample-level" if sample_level else "exact path"
        row = make(
            f"jaxcollapse {path}, {when}",
            f"jc-{exact}-{when}",
            chains,
            n,
            out,
            samples=sample_level,
        )
        compare(row)
        if sample_level:
            row["target"] = ">=30x loop, >=3x vec"
            checks = (row["vs_loop"] or 0) >= 30, (row["vs_vec"] or 0) >= 3
            row["result"] = "/".join(verdict(c) for c in checks)
        else:
            row["target"] = ">=100x vec"
            row["result"] = verdict((row["vs_vec"] or 0) >= 100)
        rows.append(row)

    if peak is not None:
        row = make(
            "jaxcollapse sample-level, cold, own process",
            "jc-peak",
            args.peak_chains,
            args.peak_n,
            peak,
        )
        compare(row)
        rss = peak["peak_rss_bytes"]
        row["target"] = f"peak RSS {rss / 1e6:.0f} MB <= 2000 MB"
        row["result"] = verdict(rss <= PEAK_LIMIT_BYTES)
        rows.append(row)
    return rows


def format_table(rows):
    header = [
        "method",
        "chains",
        "n",
        "T",
        "wall s",
        "compile s",
        "cores",
        "others",
        "chain-gen/s",
        "samples/s",
        "x loop",
        "x vec",
        "E std_T +- sem",
        "target",
        "result",
    ]
    left = {0, 13, 14}

    def num(x, fmt, suffix=""):
        return "-" if x is None else format(x, fmt) + suffix

    body = []
    for r in rows:
        body.append(
            [
                r["label"],
                si(r["chains"]),
                str(r["n"]),
                str(r["T"]),
                f"{r['wall_s']:.2f}",
                num(r["compile_s"], ".2f"),
                num(r["cores"], ".2f"),
                num(r["others_cores"], ".2f"),
                si(r["chain_gen_per_s"]),
                si(r["samples_per_s"]),
                num(r["vs_loop"], ".1f", "x"),
                num(r["vs_vec"], ".2f", "x"),
                f"{r['std_T']:.4f} +- {r['std_T_sem']:.4f}",
                r["target"],
                r["result"],
            ]
        )
    return markdown_table(header, body, left)


# ---------------------------------------------------------------- main


def vec_block(args, n):
    if args.vec_block:
        return min(args.vec_block, args.vec_chains)
    # ~10^5 float32 values a block (400 kB) keeps the draws in cache.
    return max(1, min(args.vec_chains, 100_000 // n))


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="much smaller sizes (under a minute); targets still printed",
    )
    p.add_argument(
        "--json", metavar="PATH", help="also write the table and machine info"
    )
    p.add_argument("--generations", type=int, default=None, help="T (default 100)")
    p.add_argument("--sample-chains", type=int, default=None)
    p.add_argument("--sample-n", type=int, default=100)
    p.add_argument("--exact-chains", type=int, default=None)
    p.add_argument("--exact-n", type=int, default=1000)
    p.add_argument(
        "--loop-chains",
        type=int,
        default=None,
        help="chains for the per-chain NumPy loop (a subset)",
    )
    p.add_argument(
        "--vec-chains",
        type=int,
        default=None,
        help="chains for the vectorised NumPy loop (a subset)",
    )
    p.add_argument(
        "--vec-block",
        type=int,
        default=None,
        help="chains per block in the vectorised loop (default ~1e5/n)",
    )
    p.add_argument(
        "--peak-chains",
        type=int,
        default=None,
        help="chains of the peak-memory subprocess (default 10^6)",
    )
    p.add_argument("--peak-n", type=int, default=100)
    p.add_argument("--no-peak", action="store_true", help="skip the memory subprocess")
    p.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="passed to simulate (default: its own choice)",
    )
    p.add_argument("--seed", type=int, default=0)
    # Internal: the peak-memory subprocess.
    p.add_argument(
        "--_peak-child", dest="peak_child", action="store_true", help=argparse.SUPPRESS
    )
    p.add_argument("--chains", type=int, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    full = dict(
        generations=100,
        sample_chains=10**5,
        exact_chains=10**6,
        loop_chains=200,
        vec_chains=10**4,
        peak_chains=10**6,
    )
    quick = dict(
        generations=20,
        sample_chains=1 << 13,
        exact_chains=1 << 16,
        loop_chains=50,
        vec_chains=2000,
        peak_chains=1 << 15,
    )
    defaults = quick if args.quick else full
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None):
    args = parse(argv)
    if args.peak_child:
        return peak_child(args)

    import_started = time.perf_counter()
    import jax

    import jaxcollapse  # noqa: F401

    imported = time.perf_counter()
    jax.devices()
    backend_ready = time.perf_counter()
    clock = CompileClock()
    info = machine_info()
    info["import_jax_jaxcollapse_s"] = imported - import_started
    info["backend_init_s"] = backend_ready - imported
    info["loadavg_start"] = os.getloadavg()
    info.update(source_state())
    info["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
    T = args.generations

    def say(msg):
        print(
            f"[{time.perf_counter() - _T_START:7.1f}s] {msg}",
            file=sys.stderr,
            flush=True,
        )

    # Baselines: one at a time (NumPy is single-threaded; nothing overlaps).
    base = {}
    ns = sorted({args.sample_n, args.exact_n})
    for n in ns:
        say(f"numpy per-chain loop: {args.loop_chains} chains, n={n}, T={T}")
        base[("loop", n)] = _baseline(
            gaussian_per_chain, args.loop_chains, n, T, args.seed
        )
    for n in ns:
        block = vec_block(args, n)
        say(
            f"numpy vectorised: {args.vec_chains} chains (blocks of {block}), n={n}, T={T}"
        )
        base[("vec", n)] = _baseline(
            gaussian_vectorised, args.vec_chains, n, T, args.seed, block
        )

    jc_rows = {}
    for exact, chains, n in (
        ("off", args.sample_chains, args.sample_n),
        ("on", args.exact_chains, args.exact_n),
    ):
        for when in ("cold", "warm"):
            say(
                f"jaxcollapse exact_path={exact}: {chains} chains, n={n}, T={T} ({when})"
            )
            jc_rows[(exact, when)] = run_jaxcollapse(
                clock, chains, n, T, args.seed, exact, args.chunk_size
            )

    peak = None
    if not args.no_peak:
        say(
            f"peak-memory subprocess: {args.peak_chains} chains, n={args.peak_n}, T={T}"
        )
        peak = run_peak(args)
    info["loadavg_end"] = os.getloadavg()
    say("done")

    rows = build_rows(args, base, jc_rows, peak)
    table = format_table(rows)
    theory = {
        n: theory_std_T(n, T)
        for n in sorted({args.sample_n, args.exact_n, args.peak_n})
    }
    lines = [
        "Gaussian `replace` chain (d=1, ddof=0, tau=1), chain-generations = chains x T",
        f"machine: {info['cpu_model']}, {info['cpus_usable']} CPUs, {info['platform']}",
        f"python {info['python']}, jax {info['jax']} ({info['jax_backend']}), "
        f"numpy {info['numpy']}, jaxcollapse {info['jaxcollapse']} "
        f"(git {info['git_commit']}{', uncommitted changes' if info['git_dirty'] else ''}),"
        f" {info['date']}",
        f"XLA_FLAGS={info['XLA_FLAGS']!r}; load average at start "
        f"{fmt_load(info['loadavg_start'])}, at end {fmt_load(info['loadavg_end'])}",
        "",
        table,
        "",
        "x loop / x vec: chain-generations/s of the row over the NumPy per-chain loop /"
        " vectorised loop at the same n (baselines run on the chains shown).",
        "cold: first call in the process, compilation included; warm: the same call again.",
        "cores: CPU seconds of this process per wall second; others: CPU seconds of all"
        " other processes on the machine per wall second, during the row (/proc/stat).",
        "E std_T: mean over chains of the fitted std at generation T; theory "
        + ", ".join(f"{theory[n]:.4f} (n={n})" for n in theory)
        + ".",
        f"jax+jaxcollapse import {info['import_jax_jaxcollapse_s']:.2f}s and backend"
        f" start {info['backend_init_s']:.2f}s are outside every row.",
    ]
    if peak is not None:
        lines.append(
            f"peak-memory subprocess: whole process {peak['process_wall_s']:.1f}s "
            f"(startup {peak['startup_s']:.1f}s), peak RSS "
            f"{peak['peak_rss_bytes'] / 1e6:.0f} MB (RUSAGE_CHILDREN "
            f"{peak['rusage_children_maxrss_bytes'] / 1e6:.0f} MB), chunk "
            f"{peak['chunk_size']} chains."
        )
    text = "\n".join(lines)
    print(text)

    if args.json:
        record = {
            "benchmark": "gaussian_replace",
            "machine": info,
            "arguments": {
                k: v
                for k, v in vars(args).items()
                if k not in ("peak_child", "chains", "n")
            },
            "rows": rows,
            "theory_std_T": {str(n): v for n, v in theory.items()},
            "table": text,
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2, default=_jsonable)
            f.write("\n")
    return 0


def _baseline(function, *args):
    with Meter() as meter:
        mean, sem = function(*args)
    return {
        "wall_s": meter.wall,
        "cores": meter.cores,
        "others_cores": meter.others,
        "std_T": float(mean),
        "std_T_sem": float(sem),
    }


def fmt_load(values):
    return " ".join(f"{v:.2f}" for v in values)


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


if __name__ == "__main__":
    sys.exit(main())
