"""What every figure script shares: flags, the output files, and the drawing of
a simulated metric (mean ± 2 sem, q05-q95 band, median) beside its theory.

Every script takes the same flags:

    --full       GPU-sized chain counts (each script says how many)
    --smoke      tiny sizes, seconds: checks that the script runs, not the science
    --seed S     the fixed seed (default 0)
    --out DIR    where PNG + JSON go (default paper_figures/out/)
    --gallery    also write a small PNG to paper_figures/gallery/ (the README's)

and writes DIR/<name>.png and DIR/<name>.json (every plotted series, the chain
count, the seed and the versions), and states its chain count and the theory it
overlays in the figure itself.
"""

import argparse
import json
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
SIZES = ("smoke", "default", "full")


def parse(doc: str, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="GPU-sized chain counts")
    size.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--gallery", action="store_true", help="also a small PNG")
    args = p.parse_args(argv)
    args.size = "full" if args.full else "smoke" if args.smoke else "default"
    args.started = time.perf_counter()
    return args


def pick(args, *, smoke, default, full):
    """The value for this run's size."""
    return {"smoke": smoke, "default": default, "full": full}[args.size]


def series(res, metric: str) -> dict:
    """A metric's per-generation statistics (and theory) as plain lists."""
    stat = res.metrics[metric]
    out = {k: np.asarray(v, np.float64).tolist() for k, v in stat.items()}
    if metric in res.theory:
        out["theory"] = np.asarray(res.theory[metric], np.float64).tolist()
    return out


def draw(ax, res, metric, color, label, *, band=True, median=True, theory=True):
    """Mean (±2 sem shaded), the q05-q95 band over chains, the median dashed,
    and the closed form (black dotted) where the run has one."""
    t = np.asarray(res.generations)
    stat = res.metrics[metric]
    mean, sem = np.asarray(stat["mean"]), np.asarray(stat["sem"])
    ax.plot(t, mean, color=color, lw=1.6, label=f"{label}: mean")
    ax.fill_between(t, mean - 2 * sem, mean + 2 * sem, color=color, alpha=0.35, lw=0)
    if band:
        ax.fill_between(t, stat["q05"], stat["q95"], color=color, alpha=0.12, lw=0)
    if median:
        ax.plot(t, stat["q50"], color=color, lw=1.0, ls="--", label=f"{label}: median")
    if theory and metric in res.theory:
        ax.plot(t, res.theory[metric], color="black", lw=1.0, ls=":")


def theory_handle(ax, text="exact theory"):
    """A legend entry for the black dotted theory curves."""
    ax.plot([], [], color="black", lw=1.0, ls=":", label=text)


def footer(fig, args, chains: int, theory: str):
    """The chain count, seed and overlaid theory, written into the figure."""
    fig.text(
        0.01,
        -0.01,
        f"{chains:,} chains per curve, seed {args.seed}; theory: {theory}. "
        "Shaded: mean ± 2 sem (dark), q05-q95 over chains (light).",
        fontsize=7,
        color="0.3",
        ha="left",
        va="top",
    )


def save(fig, name: str, args, data: dict) -> Path:
    """DIR/name.png and DIR/name.json (data + run record); optional gallery PNG."""
    import jax

    import jaxcollapse

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{name}.png"
    fig.savefig(png, dpi=130, bbox_inches="tight")
    if args.gallery:
        gallery = HERE / "gallery"
        gallery.mkdir(exist_ok=True)
        fig.savefig(gallery / f"{name}.png", dpi=55, bbox_inches="tight")
    record = {
        "figure": name,
        "size": args.size,
        "seed": args.seed,
        "seconds": time.perf_counter() - args.started,
        "versions": {
            "jaxcollapse": jaxcollapse.__version__,
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "devices": len(jax.devices()),
        },
        "data": data,
    }
    with open(out / f"{name}.json", "w") as f:
        json.dump(record, f, indent=1, default=float)
    plt.close(fig)
    print(f"{name}: wrote {os.path.relpath(png)} ({record['seconds']:.0f} s)")
    return png
