"""1000 samples, 1000 (and 10,000) refits: the final standard deviation.

The experiment often quoted from the model-collapse debate: fit a Gaussian (MLE,
ddof 0) to n = 1000 samples, resample, refit; after 1000 generations the fitted
sd is about 0.45 on average, after 10,000 about 0.0004. Exact values: E std_T =
a0 a^T with a = E sqrt(chi2_999 / 1000) (Gamma ratio): 0.4718 at T = 1000 and
0.00055 at T = 10,000. The median, exp(E log std_T) = 0.367 and 4.5e-5, is far
below the mean: the distribution of log std_T widens like sqrt(T/n), so the
mean is carried by a shrinking fraction of chains, and few-chain experiments
(and the 0.0004) land below the true mean.
"""

import numpy as np
from _common import draw, footer, parse, pick, save, series, theory_handle

import jaxcollapse as jc


def main(argv=None):
    args = parse(__doc__, argv)
    chains = pick(args, smoke=200, default=20_000, full=1_000_000)
    T = pick(args, smoke=300, default=10_000, full=10_000)
    n = 1000
    res = jc.simulate(
        jc.Gaussian(dim=1, ddof=0),
        "replace",
        num_samples=n,
        num_generations=T,
        num_chains=chains,
        seed=args.seed,
    )
    import matplotlib.pyplot as plt

    t = np.asarray(res.generations)
    std = res.metrics["std"]
    median_theory = np.exp(0.5 * np.asarray(res.theory["log_var"]))
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    draw(a, res, "std", "C0", "std_t")
    theory_handle(a, "E[std_t] (theory)")
    a.plot(
        t,
        median_theory,
        color="C1",
        ls=":",
        lw=1.2,
        label="exp(E log std_t) (theory median)",
    )
    a.set_yscale("log")
    a.set(
        xlabel="generation t",
        ylabel="fitted sd (log scale)",
        title=f"n = {n}, ddof 0: mean vs median",
    )
    a.legend(fontsize=7, loc="lower left")

    marks = [m for m in (1000, 10_000) if m <= T] or [T]
    rows = []
    for m in marks:
        rows.append(
            [
                f"T = {m}",
                f"{std['mean'][m]:.4g} ± {std['sem'][m]:.2g}",
                f"{res.theory['std'][m]:.4g}",
                f"{std['q50'][m]:.3g}",
                f"{median_theory[m]:.3g}",
            ]
        )
    b.axis("off")
    table = b.table(
        cellText=rows,
        colLabels=[
            "",
            "mean sd (sim)",
            "E sd (exact)",
            "median (sim)",
            "median (theory)",
        ],
        loc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.25, 2.2)
    b.set_title("final standard deviation")
    footer(fig, args, chains, "E std_T = a0 a^T and exp(E log std_T), exact")
    data = {
        "chains": chains,
        "num_samples": n,
        "generations": t.tolist(),
        "std": series(res, "std"),
        "median_theory": median_theory.tolist(),
        "table": rows,
    }
    save(fig, "std_1000", args, data)


if __name__ == "__main__":
    main()
