"""Replace vs accumulate vs accumulate-subsample: collapse, or bounded error.

Kazdan et al. 2024, "Collapse or Thrive? Perils and Promises of Synthetic Data in
a Self-Generating World": a model refit every generation on (top) a multivariate
Gaussian, d = 2, n = 100, and (bottom) a 1-D kernel density estimate (fixed
bandwidth h = 0.1, n = 50, normal truth, test NLL on 100 held-out real points),
under three workflows: `replace` (train on the previous model's n samples only),
`accumulate` (keep the real data and every synthetic set) and
`accumulate-subsample` (train on n points drawn from the accumulated pool, so
the amount of training data stays fixed). Replace collapses: the fitted
covariance trace goes to 0 (E tr Sigma_t = 2 ((n-1)/n)^(t+1), the median far
below) and the test NLL on real data explodes; accumulate stays at generation
0's error (the KDE's even improves, as its pool grows); accumulate-subsample
sits in between, bounded but worse than accumulate. Theory (black dotted): E tr
Sigma_t and the KDE's E var_t = E W_t + h^2, exact linear recursions in the
second moments for all three workflows; test NLL has no closed form.
"""

import numpy as np
from _common import draw, footer, parse, pick, save, series, theory_handle

import jaxcollapse as jc

WORKFLOWS = (
    ("replace", "C3"),
    ("accumulate", "C0"),
    ("accumulate-subsample", "C2"),
)


def run(model, args, chains, **kw):
    """{workflow: Results} for the three workflows, same seed."""
    return {
        wf: jc.simulate(model, wf, num_chains=chains, seed=args.seed, **kw)
        for wf, _ in WORKFLOWS
    }


def panel(ax, runs, metric, *, log, title, ylabel, legend=True):
    for wf, color in WORKFLOWS:
        draw(ax, runs[wf], metric, color, wf)
    if any(metric in r.theory for r in runs.values()):
        theory_handle(ax)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="generation t", ylabel=ylabel, title=title)
    if legend:
        ax.legend(fontsize=6.5, loc="best")


def finals(ax, runs, metric):
    """The last generation's mean per workflow, written into the panel (the two
    bounded curves nearly coincide on a log axis)."""
    last = {wf: float(runs[wf].metrics[metric]["mean"][-1]) for wf, _ in WORKFLOWS}
    t = int(runs["replace"].generations[-1])
    text = "\n".join(f"{wf}: {v:.4g}" for wf, v in last.items())
    ax.text(
        0.03,
        0.97,
        f"mean at t = {t}:\n{text}",
        transform=ax.transAxes,
        fontsize=7,
        va="top",
        bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.85},
    )
    return last


def main(argv=None):
    args = parse(__doc__, argv)
    chains = pick(args, smoke=64, default=500, full=1_000_000)
    T_gauss = pick(args, smoke=8, default=200, full=200)
    T_kde = pick(args, smoke=8, default=100, full=100)
    n_gauss, dim, n_kde, h, n_test = 100, 2, 50, 0.1, 100
    gauss = run(
        jc.Gaussian(dim=dim, ddof=0),
        args,
        chains,
        num_samples=n_gauss,
        num_generations=T_gauss,
    )
    kde = run(
        jc.KDE(dim=1, bandwidth=h, truth="normal"),
        args,
        chains,
        num_samples=n_kde,
        num_generations=T_kde,
        num_test=n_test,
    )
    import matplotlib.pyplot as plt

    fig, ((a, b), (c, d)) = plt.subplots(2, 2, figsize=(11, 8.2))
    panel(
        a,
        gauss,
        "trace_cov",
        log=True,
        title=f"Gaussian d = {dim}, n = {n_gauss}: fitted covariance",
        ylabel="tr Sigma_t (log scale)",
    )
    panel(
        b,
        gauss,
        "test_nll",
        log=True,
        title="Gaussian: NLL of held-out real data",
        ylabel="test NLL (log scale)",
        legend=False,
    )
    panel(
        c,
        kde,
        "test_nll",
        log=True,
        title=f"KDE 1-D, h = {h}, n = {n_kde}: NLL of {n_test} real points",
        ylabel="test NLL (log scale)",
        legend=False,
    )
    panel(
        d,
        kde,
        "var",
        log=False,
        title="KDE: variance of the fitted density",
        ylabel="var_t = W_t + h^2",
    )
    final_nll = {"gaussian": finals(b, gauss, "test_nll")}
    final_nll["kde"] = finals(c, kde, "test_nll")
    footer(
        fig,
        args,
        chains,
        "E tr Sigma_t and KDE E var_t, exact for all three workflows",
    )
    fig.suptitle(
        "Replace vs accumulate vs accumulate-subsample (Kazdan et al. 2024)", y=1.0
    )
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    data = {
        "chains": chains,
        "final_test_nll_mean": final_nll,
        "gaussian": {
            "dim": dim,
            "num_samples": n_gauss,
            "generations": np.asarray(gauss["replace"].generations).tolist(),
            **{
                wf: {m: series(gauss[wf], m) for m in ("trace_cov", "test_nll")}
                for wf, _ in WORKFLOWS
            },
        },
        "kde": {
            "bandwidth": h,
            "num_samples": n_kde,
            "num_test": n_test,
            "generations": np.asarray(kde["replace"].generations).tolist(),
            **{
                wf: {m: series(kde[wf], m) for m in ("test_nll", "var")}
                for wf, _ in WORKFLOWS
            },
        },
    }
    save(fig, "workflows", args, data)


if __name__ == "__main__":
    main()
