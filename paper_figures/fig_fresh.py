"""The three self-consuming loops, with and without sampling bias, and fresh data.

Alemohammad et al. 2024 ("Self-consuming generative models go MAD", ICLR):
a model refit every generation on its predecessor's samples loses quality or
diversity ("Model Autophagy Disorder") unless enough fresh real data enters each
generation. Their three loops, here for a Gaussian N(mu, sigma^2) in d = 1 (MLE,
ddof 0) with n = 100 synthetic points a generation:

* fully synthetic (replace): fit to n draws of the last model only. E var_t =
  s_0 c^t with c = tau^2 (n-1)/n < 1: the variance collapses, and the mean
  random-walks (E mu_t^2 -> 1 at tau = 1).
* synthetic augmentation (augment): the fixed real set D_0 (n_r = n) plus n
  synthetic points. Bounded, but the error keeps D_0's own error and more.
* fresh data (fresh): n_r new real draws every generation plus n synthetic.
  Bounded, with a fixed point that forgets generation 0 and falls as the
  real:synthetic ratio n_r/n grows; as n_r/n -> 0 it tends to the collapse.

Sampling bias tau < 1 (draws from N(mu, tau^2 sigma^2), the papers' fidelity
for diversity trade) speeds the collapse of replace (c = 0.80 instead of 0.99
at tau = 0.9) and lowers every fixed point of the variance (lost diversity),
while the mean's error is a little smaller (quality kept). Theory: the exact
E var_t and E mean_sqerr_t = E mu_t^2 of every loop (linear recursions,
jaxcollapse.theory.gaussian) dotted, and the fresh loop's fixed point
(I - A)^{-1} b against n_r/n, with simulated values at the last generation.
"""

import numpy as np
from _common import draw, footer, parse, pick, save, series, theory_handle

import jaxcollapse as jc
from jaxcollapse.theory.gaussian import fixed_point, fresh_fixed_point

TAUS = (1.0, 0.9)
LOOPS = (
    ("replace", "fully synthetic", "Blues"),
    ("augment", "synthetic augmentation", "Oranges"),
    ("fresh", "fresh data (n_r = n)", "Greens"),
)
SHADES = (0.85, 0.5)  # colour-map position per tau: dark tau = 1, light tau < 1


def main(argv=None):
    args = parse(__doc__, argv)
    chains = pick(args, smoke=200, default=20_000, full=1_000_000)
    T = pick(args, smoke=60, default=300, full=300)
    ratios = pick(
        args,
        smoke=(0.2, 1.0),
        default=(0.05, 0.2, 1.0, 5.0),
        full=(0.02, 0.05, 0.2, 0.5, 1.0, 2.0, 5.0),
    )
    n = 100
    model = jc.Gaussian(dim=1, ddof=0)

    def run(workflow, num_real=None):
        return jc.simulate(
            model,
            workflow,
            num_samples=n,
            num_generations=T,
            num_chains=chains,
            seed=args.seed,
            num_real=num_real,
            temperature=list(TAUS),
        )

    runs = {"replace": run("replace"), "augment": run("augment")}
    fresh = {r: run("fresh", round(r * n)) for r in ratios}
    runs["fresh"] = fresh[1.0]
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 6.2))
    data = {
        "chains": chains,
        "num_samples": n,
        "temperatures": list(TAUS),
        "generations": list(map(int, runs["replace"][0].generations)),
        "loops": {},
    }
    for workflow, title, cmap in LOOPS:
        for tau, res, shade in zip(TAUS, runs[workflow], SHADES, strict=True):
            color = plt.get_cmap(cmap)(shade)
            label = f"{title}, τ = {tau:g}"
            band = workflow == "replace"  # the spread of the collapsing chains
            draw(a, res, "var", color, label, band=band, median=False)
            draw(b, res, "mean_sqerr", color, label, band=False, median=False)
            data["loops"][f"{workflow} tau={tau:g}"] = {
                "var": series(res, "var"),
                "mean_sqerr": series(res, "mean_sqerr"),
            }
    for ax in (a, b):
        theory_handle(ax, "exact E[·] (theory)")
        ax.set_xlabel("generation t")
    a.set_ylim(0, 1.5)
    b.set_yscale("log")
    a.set_ylabel("fitted variance sigma_t^2")
    a.set_title("variance (diversity); light band: q05-q95, replace")
    b.set(
        ylabel="mean_sqerr = mu_t^2",
        title="error of the mean (quality), log scale",
    )

    # The fresh loop's fixed point against the real:synthetic ratio.
    k = np.unique(np.round(np.geomspace(1, 5 * n, 300)).astype(int))
    curves = {}
    points = {}
    for j, (tau, shade) in enumerate(zip(TAUS, SHADES, strict=True)):
        color = plt.get_cmap("Greens")(shade)
        fp = [
            fresh_fixed_point(num_samples=n, num_real=int(m), temperature=tau)
            for m in k
        ]
        var_fp = np.array([p["var"] for p in fp])
        mse_fp = np.array([p["mean_sqerr"] for p in fp])
        c.plot(
            k / n,
            var_fp,
            color=color,
            lw=1.4,
            label=f"fresh fixed point var*, τ = {tau:g}",
        )
        c.plot(
            k / n,
            mse_fp,
            color=color,
            lw=1.4,
            ls="--",
            label=f"fresh fixed point mean_sqerr*, τ = {tau:g}",
        )
        sim = {
            "ratio": [],
            "var": [],
            "var_sem": [],
            "mean_sqerr": [],
            "mean_sqerr_sem": [],
            "theory_at_T": {"var": [], "mean_sqerr": []},
        }
        for r in ratios:
            res = fresh[r][j]
            sim["ratio"].append(r)
            for metric in ("var", "mean_sqerr"):
                stat = res.metrics[metric]
                mean, sem = float(stat["mean"][-1]), float(stat["sem"][-1])
                sim[metric].append(mean)
                sim[f"{metric}_sem"].append(sem)
                sim["theory_at_T"][metric].append(float(res.theory[metric][-1]))
                c.errorbar(
                    r,
                    mean,
                    yerr=2 * sem,
                    fmt="o" if metric == "var" else "s",
                    color=color,
                    ms=4,
                    capsize=2,
                    mec="black",
                    mew=0.5,
                )
        limit = fixed_point(
            workflow="mix", num_samples=n, real_weight=0.0, temperature=tau
        )
        c.axhline(
            limit["mean_sqerr"],
            color=plt.get_cmap("Blues")(shade),
            lw=1,
            ls="-.",
            label=f"replace: mean_sqerr -> {limit['mean_sqerr']:.3g}, τ = {tau:g}",
        )
        curves[f"tau={tau:g}"] = {
            "ratio": (k / n).tolist(),
            "var": var_fp.tolist(),
            "mean_sqerr": mse_fp.tolist(),
            "replace_limit": limit,
        }
        points[f"tau={tau:g}"] = sim
    c.plot(
        [],
        [],
        "o",
        color="0.5",
        mec="black",
        mew=0.5,
        ms=4,
        label=f"simulated at t = {T}, ± 2 sem (o var, s mean_sqerr)",
    )
    c.plot([], [], " ", label="replace: var_t -> 0 (the n_r / n -> 0 end)")
    c.set_xscale("log")
    c.set_yscale("log")
    c.set(
        xlabel="real : synthetic ratio n_r / n",
        ylabel="fixed point (t -> inf)",
        title="fresh data: bounded, falling with n_r / n",
    )
    data["fresh_fixed_point"] = curves
    data["fresh_simulated"] = points

    # One legend below the panels: the loops (left, middle), then the right panel.
    handles, labels = a.get_legend_handles_labels()
    more = c.get_legend_handles_labels()
    fig.subplots_adjust(bottom=0.3, wspace=0.25)
    fig.legend(
        handles + more[0],
        labels + more[1],
        loc="lower center",
        ncol=4,
        fontsize=7.5,
        bbox_to_anchor=(0.5, 0.03),
    )
    footer(
        fig,
        args,
        chains,
        "E var_t, E mean_sqerr_t (exact recursions) and the fresh fixed point",
    )
    fig.suptitle(
        "Self-consuming loops (Alemohammad et al. 2024), Gaussian d = 1, "
        f"n = {n}: fresh data stays bounded, fully synthetic collapses, "
        "bias speeds it",
        y=1.0,
    )
    save(fig, "fresh", args, data)


if __name__ == "__main__":
    main()
