"""The pi^2/6 pathway: accumulating data bounds the error, replacing it does not.

Gerstgrasser et al. 2024, "Is model collapse inevitable? Breaking the curse of
recursion by accumulating real and synthetic data", and Dey & Donoho 2024: when
every generation keeps the real data and all earlier synthetic sets
(`accumulate`), the error of generation t tends to pi^2/6 ~ 1.645 times
generation 0's, while training on the last model's samples only (`replace`)
makes it grow linearly, (t + 1) times generation 0's. Two settings: the
Gaussian mean (d = 1, n = 100, ddof 1; error mean_sqerr = mu_t^2) and linear
regression on a fixed design (d = 10, n = 50, noise 1; error test_error =
||w_t - w*||^2). Plotted (top, log y: both workflows; bottom, linear y:
accumulate alone): error_t / E error_0, the simulated mean (± 2 sem)
divided by the exact theory's generation-0 error (1/n for the Gaussian,
d/(n-d-1) for regression), so the ratio's sem is the simulated sem divided by
the same constant; the simulated curves therefore also carry generation 0's
sampling error. The light band, q05-q95 of one chain's error_t / E error_0, is
chi2-like and spans decades (clipped by the axes): pi^2/6 is a statement
about the mean over chains, not about any one chain. Theory (black dotted):
linreg, exactly sum_{k=1..t+1} 1/k^2 (accumulate) and t + 1 (replace);
Gaussian, exactly t + 1 (replace, ddof 1) and the accumulate recursion of
theory/gaussian.py, which tends to (pi^2/6)(1 + O(1/n)).
"""

import math

import numpy as np
from _common import footer, parse, pick, save, series, theory_handle

import jaxcollapse as jc

PI2_6 = math.pi**2 / 6
WORKFLOWS = (("replace", "C3"), ("accumulate", "C0"))


def ratio_panel(ax, runs, metric, title):
    """error_t / E error_0 (exact) for each workflow, log y; returns the data."""
    out = {}
    for wf, color in WORKFLOWS:
        res = runs[wf]
        t = np.asarray(res.generations)
        stat = res.metrics[metric]
        theory = np.asarray(res.theory[metric], np.float64)
        e0 = theory[0]
        mean = np.asarray(stat["mean"], np.float64) / e0
        sem = np.asarray(stat["sem"], np.float64) / e0
        ax.plot(t, mean, color=color, lw=1.6, label=f"{wf}: mean error_t / E error_0")
        lo, hi = mean - 2 * sem, mean + 2 * sem
        ax.fill_between(t, lo, hi, color=color, alpha=0.35, lw=0)
        q05 = np.asarray(stat["q05"], np.float64) / e0
        q95 = np.asarray(stat["q95"], np.float64) / e0
        ax.fill_between(t, q05, q95, color=color, alpha=0.1, lw=0)
        ax.plot(t, theory / e0, color="black", lw=1.0, ls=":")
        out[wf] = {
            "error0_theory": e0,
            "ratio_mean": mean.tolist(),
            "ratio_sem": sem.tolist(),
            "ratio_theory": (theory / e0).tolist(),
            metric: series(res, metric),
        }
    ax.axhline(PI2_6, color="0.4", lw=1.0, ls="--", label="pi^2/6 = 1.645")
    ax.axhline(1.0, color="0.7", lw=0.8)
    theory_handle(ax)
    ax.set_yscale("log")
    ax.set_ylim(0.3, 3 * (t[-1] + 1))
    ax.set(
        xlabel="generation t",
        ylabel="error_t / E error_0 (log scale)",
        title=title,
    )
    ax.legend(fontsize=7, loc="upper left")
    return out


def zoom(ax, t, acc, title):
    """Accumulate alone, linear y: the ratio (mean ± 2 sem) approaching pi^2/6."""
    mean, sem = np.asarray(acc["ratio_mean"]), np.asarray(acc["ratio_sem"])
    ax.plot(t, mean, color="C0", lw=1.6, label="accumulate: mean error_t / E error_0")
    ax.fill_between(t, mean - 2 * sem, mean + 2 * sem, color="C0", alpha=0.35, lw=0)
    ax.plot(t, acc["ratio_theory"], color="black", lw=1.0, ls=":")
    ax.axhline(PI2_6, color="0.4", lw=1.0, ls="--", label="pi^2/6 = 1.645")
    ax.axhline(1.0, color="0.7", lw=0.8)
    theory_handle(ax, f"exact theory ({acc['ratio_theory'][-1]:.3f} at t = {t[-1]})")
    ax.set_ylim(0.9, 1.8)
    ax.set(xlabel="generation t", ylabel="error_t / E error_0", title=title)
    ax.legend(fontsize=7, loc="lower right")


def main(argv=None):
    args = parse(__doc__, argv)
    chains = pick(args, smoke=200, default=4000, full=1_000_000)
    T = pick(args, smoke=8, default=50, full=100)
    n_g, n_l, d_l = 100, 50, 10
    gauss = {
        wf: jc.simulate(
            jc.Gaussian(dim=1, ddof=1),
            wf,
            num_samples=n_g,
            num_generations=T,
            num_chains=chains,
            seed=args.seed,
        )
        for wf, _ in WORKFLOWS
    }
    linreg = {
        wf: jc.simulate(
            jc.LinReg(dim=d_l, noise=1.0),
            wf,
            num_samples=n_l,
            num_real=n_l,
            num_generations=T,
            num_chains=chains,
            seed=args.seed,
        )
        for wf, _ in WORKFLOWS
    }
    import matplotlib.pyplot as plt

    fig, ((a, b), (c, d)) = plt.subplots(
        2, 2, figsize=(11, 7.6), gridspec_kw={"height_ratios": (3, 2)}
    )
    data_g = ratio_panel(
        a, gauss, "mean_sqerr", f"Gaussian mean, n = {n_g}: mean_sqerr"
    )
    data_l = ratio_panel(
        b,
        linreg,
        "test_error",
        f"linear regression, d = {d_l}, n = {n_l}: test_error",
    )
    t = np.arange(T + 1)
    zoom(c, t, data_g["accumulate"], "Gaussian mean: accumulate, linear scale")
    zoom(d, t, data_l["accumulate"], "linear regression: accumulate, linear scale")
    footer(
        fig,
        args,
        chains,
        "E error_t / E error_0 exact (sum 1/k^2 -> pi^2/6; t + 1); "
        "ratios use the exact E error_0",
    )
    fig.suptitle(
        "Accumulate: error -> (pi^2/6) x generation 0's; replace: grows like t + 1",
        y=1.0,
    )
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    data = {
        "chains": chains,
        "generations": list(range(T + 1)),
        "pi2_6": PI2_6,
        "gaussian": {"num_samples": n_g, "ddof": 1, **data_g},
        "linreg": {"dim": d_l, "num_samples": n_l, "noise": 1.0, **data_l},
    }
    save(fig, "pi2_6", args, data)


if __name__ == "__main__":
    main()
