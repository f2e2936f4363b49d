"""Stability of retraining on a real/synthetic mix against the real-data weight.

Bertrand et al. 2024 ("On the stability of iterative retraining of generative
models on their own data", ICLR): each generation refits on the fixed real set
D_0 mixed with the last model's samples, and the loop is stable (converges to a
fixed point near the data) when the model is accurate enough and the real data
weighs enough. They weight the synthetic term by lambda_B relative to the real
one; here (`mix`) D_0 carries total weight lambda and the n synthetic points
1 - lambda, so lambda = 1 / (1 + lambda_B). Gaussian d = 1, MLE (ddof 0),
n = n_r = 100, lambda swept as one compiled grid:

* tau = 1 (an exact refit): lambda = 0 is `replace`, E var_t = 0.99^(t+1) -> 0
  (collapse); every lambda > 0 is stable, its fixed point var* rising from 0
  over lambda ~ 1/n to D_0's own variance 0.99 at lambda = 1.
* tau = 1.05 (a sampler that widens the fit by 5%, an imperfect model): the
  variance explodes for lambda below lambda_c, where the spectral radius of the
  affine recursion (s, e)_t = A (s, e)_{t-1} + b reaches 1, and converges above
  it: stability needs enough real weight, the paper's condition.

Theory: the exact E var_t (linear recursion, jaxcollapse.theory.gaussian)
dotted, and fixed_point(workflow="mix") = (I - A)^{-1} b (inf where unstable)
against lambda, beside the simulated value and exact E var_T at t = T.
"""

import math

import numpy as np
from _common import draw, footer, parse, pick, save, series, theory_handle

import jaxcollapse as jc
from jaxcollapse.theory.gaussian import fixed_point

LAMBDAS = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0)
TAUS = (1.0, 1.05)


def threshold(n, tau):
    """The smallest real weight with a finite fixed point (bisection)."""

    def stable(lam):
        var = fixed_point(
            workflow="mix", num_samples=n, real_weight=lam, temperature=tau
        )["var"]
        return math.isfinite(var)

    if stable(0.0):
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if stable(mid) else (mid, hi)
    return hi


def main(argv=None):
    args = parse(__doc__, argv)
    chains = pick(args, smoke=200, default=20_000, full=1_000_000)
    # T bounds the exploding chains' var^2 below float32's 3.4e38 (tau = 1.05).
    T = pick(args, smoke=300, default=300, full=300)
    n = 100
    grid = jc.simulate(
        jc.Gaussian(dim=1, ddof=0),
        "mix",
        num_samples=n,
        num_generations=T,
        num_chains=chains,
        seed=args.seed,
        temperature=list(TAUS),
        real_weight=list(LAMBDAS),
    )
    k = len(LAMBDAS)  # grid order: temperature outer, real_weight inner
    runs = {
        tau: dict(zip(LAMBDAS, grid[i * k : (i + 1) * k], strict=True))
        for i, tau in enumerate(TAUS)
    }
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13.5, 8.4))
    cmap = plt.get_cmap("viridis")
    colors = {lam: cmap(i / (len(LAMBDAS) - 1)) for i, lam in enumerate(LAMBDAS)}
    lam_curve = np.concatenate(([0.0], np.geomspace(1e-4, 1.0, 400)))
    data = {
        "chains": chains,
        "num_samples": n,
        "real_weights": list(LAMBDAS),
        "generations": list(map(int, grid[0].generations)),
    }
    for col, tau in enumerate(TAUS):
        top, bottom = axes[0, col], axes[1, col]
        for lam, res in runs[tau].items():
            draw(
                top,
                res,
                "var",
                colors[lam],
                f"λ = {lam:g}",
                band=lam == 0.0,
                median=False,
            )
        theory_handle(top, "exact E var_t (theory)")
        top.set(xlabel="generation t", ylabel="fitted variance sigma_t^2")

        fp = np.array(
            [
                fixed_point(
                    workflow="mix", num_samples=n, real_weight=lam, temperature=tau
                )["var"]
                for lam in lam_curve
            ]
        )
        finite = np.isfinite(fp)
        bottom.plot(
            lam_curve[finite],
            fp[finite],
            color="C3",
            lw=1.4,
            label="fixed point var* (theory)",
        )
        last = {"mean": [], "sem": [], "theory_at_T": []}
        for lam, res in runs[tau].items():
            stat = res.metrics["var"]
            mean, sem = float(stat["mean"][-1]), float(stat["sem"][-1])
            exact = float(res.theory["var"][-1])
            bottom.errorbar(
                lam,
                mean,
                yerr=2 * sem,
                fmt="o",
                color=colors[lam],
                ms=5,
                capsize=2,
                mec="black",
                mew=0.5,
            )
            bottom.plot(lam, exact, "o", ms=9, mfc="none", mec="black", mew=0.8)
            last["mean"].append(mean)
            last["sem"].append(sem)
            last["theory_at_T"].append(exact)
        bottom.plot(
            [],
            [],
            "o",
            color="0.5",
            mec="black",
            mew=0.5,
            ms=5,
            label=f"simulated var_T, T = {T} (± 2 sem)",
        )
        bottom.plot(
            [],
            [],
            "o",
            ms=9,
            mfc="none",
            mec="black",
            mew=0.8,
            label="exact E var_T (theory)",
        )
        bottom.set_xscale("symlog", linthresh=1e-3, linscale=0.5)
        bottom.set_xlim(-2e-4, 1.2)
        bottom.set(xlabel="real-data weight λ (symlog)", ylabel=f"var at t = {T}")

        lam_c = threshold(n, tau)
        if lam_c == 0.0:
            top.set_ylim(0, 1.15)
            top.set_title(f"τ = {tau:g}: λ = 0 collapses, every λ > 0 is stable")
            bottom.set_ylim(-0.03, 1.1)
            bottom.axvline(0.0, color="0.3", lw=1, ls="--")
            bottom.annotate(
                "λ = 0: collapse\n(var -> 0)",
                xy=(0.0, 0.02),
                xytext=(2e-4, 0.12),
                fontsize=7,
                arrowprops=dict(arrowstyle="->", lw=0.7),
            )
            bottom.axvline(1 / n, color="0.6", lw=1, ls=":")
            bottom.text(1.1 / n, 0.3, "λ = 1/n", fontsize=7, color="0.4")
            bottom.set_title("var_T against λ: a stable fixed point for λ > 0")
        else:
            top.set_yscale("log")
            top.set_title(f"τ = {tau:g}: unstable below λ_c, stable above")
            bottom.set_yscale("log")
            bottom.axvspan(-2e-4, lam_c, color="C3", alpha=0.08, lw=0)
            bottom.axvline(
                lam_c,
                color="C3",
                lw=1,
                ls="--",
                label=f"λ_c = {lam_c:.4f} (spectral radius 1)",
            )
            bottom.set_title("var_T against λ: diverges below λ_c")
        if col == len(TAUS) - 1:  # one legend for the lambda colours
            top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        bottom.legend(fontsize=7, loc="best")
        data[f"tau={tau:g}"] = {
            "var": {f"{lam:g}": series(res, "var") for lam, res in runs[tau].items()},
            "last": last,
            "fixed_point": {
                "real_weight": lam_curve.tolist(),
                "var": [v if math.isfinite(v) else None for v in fp],
            },
            "threshold": lam_c,
        }
    footer(
        fig, args, chains, 'E var_t (exact recursion) and fixed_point(workflow="mix")'
    )
    fig.suptitle(
        f"Iterative retraining on λ D_0 + (1 - λ) synthetic (Bertrand et al. 2024), "
        f"Gaussian d = 1, n = {n}",
        y=1.0,
    )
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    save(fig, "mix_lambda", args, data)


if __name__ == "__main__":
    main()
