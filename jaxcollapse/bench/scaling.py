"""Scaling curves (`jaxcollapse bench --scaling`, benchmarks/scaling.py):
Gaussian replace throughput against num_chains, n, generations and the number
of devices, and memory against num_chains; saved as one PNG and its data (JSON).

Every point runs in its own process (so each has its own peak RSS, and its own
XLA device count for the devices curve), one simulate() call:

- `rate`: chains x T / (wall - compile) chain-generations per second, the
  compile time being simulate's own clock (Results.timing["compile_seconds"]);
- `device_bytes`: the larger chunk program's device memory as XLA plans it,
  summed over devices; `peak_rss`: the process's peak resident set (Linux).
- the devices curve sets XLA's host device count, so it is a CPU curve.

Once num_chains passes one chunk (simulate's working-memory budget, 1 GiB on CPU), the
memory curves must stay flat: chunking bounds memory whatever num_chains is.
"""

import argparse
import json
import os
import sys
import time

FULL = {
    "chains_sample": [10**3, 10**4, 10**5, 10**6, 10**7],
    "chains_exact": [10**3, 10**4, 10**5, 10**6, 10**7, 10**8],
    "n": [10, 100, 1000, 10_000],
    "generations": [10, 100, 1000],
    "devices": [1, 2, 4, 8],
}
QUICK = {
    "chains_sample": [10**3, 10**4, 10**5],
    "chains_exact": [10**3, 10**4, 10**5, 10**6],
    "n": [10, 100, 1000],
    "generations": [10, 100],
    "devices": [1, 2, 4],
}
BASE = dict(chains=10_000, n=100, T=10, exact="off", devices=None)


def _point_child(spec: dict) -> None:
    """Inside a point's process: one simulate, a JSON line on stdout."""
    import jaxcollapse as jc

    started = time.perf_counter()
    result = jc.simulate(
        jc.Gaussian(dim=1, ddof=0),
        "replace",
        num_chains=spec["chains"],
        num_samples=spec["n"],
        num_generations=spec["T"],
        seed=spec.get("seed", 0),
        exact_path=spec["exact"],
    )
    wall = time.perf_counter() - started
    import jax

    compile_s = result.timing["compile_seconds"]
    out = dict(spec)
    out.update(
        wall_s=wall,
        compile_s=compile_s,
        rate=spec["chains"] * spec["T"] / max(wall - compile_s, 1e-9),
        device_bytes=(result.timing["device_bytes_planned"] or 0)
        * jax.local_device_count(),
        chunk_size=result.config["chunk_size"],
        num_devices=jax.local_device_count(),
        std_T=float(result.metrics["std"]["mean"][-1]),
    )
    print(json.dumps(out), flush=True)


def run_point(spec: dict) -> dict:
    """One point in a fresh process; its record with the process's peak RSS."""
    env = dict(os.environ)
    if spec.get("devices"):
        flag = f"--xla_force_host_platform_device_count={spec['devices']}"
        kept = [
            f
            for f in env.get("XLA_FLAGS", "").split()
            if not f.startswith("--xla_force_host_platform_device_count")
        ]
        env["XLA_FLAGS"] = " ".join([*kept, flag])
    from jaxcollapse.bench.meter import json_child

    command = [sys.executable, "-m", "jaxcollapse.bench.scaling", "--_point"]
    out = json_child([*command, json.dumps(spec)], f"scaling point {spec}", env)
    out["peak_rss"] = out.pop("peak_rss_bytes")
    return out


def curves(quick: bool) -> dict[str, list[dict]]:
    """The points of every curve: name -> list of point specs."""
    grid = QUICK if quick else FULL
    out = {
        "chains, sample-level": [dict(BASE, chains=c) for c in grid["chains_sample"]],
        "chains, exact path": [
            dict(BASE, chains=c, n=1000, exact="on") for c in grid["chains_exact"]
        ],
        "n": [dict(BASE, n=n) for n in grid["n"]],
        "generations": [dict(BASE, T=T) for T in grid["generations"]],
        "devices": [dict(BASE, chains=100_000, devices=d) for d in grid["devices"]],
    }
    return out


def plot(data: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("chains", ["chains, sample-level", "chains, exact path"], "rate"),
        ("n", ["n"], "rate"),
        ("T", ["generations"], "rate"),
        ("num_devices", ["devices"], "rate"),
        ("chains", ["chains, sample-level", "chains, exact path"], "memory"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    for ax, (x, names, kind) in zip(axes, panels, strict=True):
        if not any(data.get(name) for name in names):
            ax.set_visible(False)
            continue
        for name in names:
            pts = data.get(name, [])
            if not pts:
                continue
            xs = [p[x] for p in pts]
            if kind == "rate":
                ax.plot(xs, [p["rate"] for p in pts], "o-", label=name)
                ax.set_ylabel("chain-generations / s")
            else:
                ax.plot(
                    xs,
                    [p["peak_rss"] / 1e6 for p in pts],
                    "o-",
                    label=f"{name}: peak RSS",
                )
                ax.plot(
                    xs,
                    [p["device_bytes"] / 1e6 for p in pts],
                    "s--",
                    label=f"{name}: XLA plan",
                )
                ax.set_ylabel("MB")
        ax.set_xscale("log", base=2 if x == "num_devices" else 10)
        if kind == "rate":
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(quick: bool, out: str, say=lambda _: None) -> dict:
    from jaxcollapse.bench.meter import machine_info, source_state

    os.makedirs(out, exist_ok=True)
    info = machine_info() | source_state()
    data = {}
    record = {"benchmark": "scaling", "quick": quick, "machine": info, "curves": data}

    def save():  # after every point, so a failure keeps the finished ones
        with open(os.path.join(out, "scaling.json"), "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")

    for name, specs in curves(quick).items():
        data[name] = []
        for spec in specs:
            say(f"scaling {name}: {spec}")
            data[name].append(run_point(spec))
            save()
    title = (
        f"Gaussian replace, {info['cpu_model']} ({info['cpus_usable']} CPUs), "
        f"jax {info['jax']}, git {info['git_commit']}"
    )
    plot(data, os.path.join(out, "scaling.png"), title)
    return record


def summary(record: dict) -> str:
    from jaxcollapse.bench.meter import markdown_table, si

    body = []
    for name, pts in record["curves"].items():
        for p in pts:
            body.append(
                [
                    name,
                    si(p["chains"]),
                    str(p["n"]),
                    str(p["T"]),
                    str(p["num_devices"]),
                    f"{p['wall_s']:.2f}",
                    f"{p['compile_s']:.2f}",
                    si(p["rate"]),
                    f"{p['device_bytes'] / 1e6:.0f}",
                    f"{p['peak_rss'] / 1e6:.0f}",
                    si(p["chunk_size"]),
                ]
            )
    header = [
        "curve",
        "chains",
        "n",
        "T",
        "devices",
        "wall s",
        "compile s",
        "chain-gen/s",
        "device MB",
        "peak RSS MB",
        "chunk",
    ]
    return markdown_table(header, body, left={0})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="scaling-out", metavar="DIR")
    p.add_argument("--_point", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._point:
        _point_child(json.loads(args._point))
        return 0
    started = time.perf_counter()
    record = run(args.quick, args.out, lambda m: print(m, file=sys.stderr, flush=True))
    print(summary(record))
    print(f"total {time.perf_counter() - started:.0f} s; {args.out}/scaling.png, .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
