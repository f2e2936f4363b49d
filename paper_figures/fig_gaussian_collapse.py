"""Gaussian `replace`: the variance collapses, deep into float32's underflow.

The "Curse of Recursion" setting (Shumailov et al. 2024, Nature 631): fit N(mu,
sigma^2) to n = 100 points, sample n from the fit, refit, for T = 5000
generations. log sigma_t^2 is a random walk with drift E log(chi2_{n-1}/n) < 0,
so every chain collapses (median path exp(E log var_t)), while E var_t =
((n-1)/n)^(t+1) decays far more slowly: the mean is carried by ever rarer
chains, and a finite set of chains under-estimates it once the spread of
log var_t (sd sqrt(2t/n)) passes a few units. Theory: E log var_t (digamma),
E var_t, E std_t (Gamma ratio), exact for every t.
"""

import numpy as np
from _common import draw, footer, parse, pick, save, series, theory_handle

import jaxcollapse as jc


def main(argv=None):
    args = parse(__doc__, argv)
    chains = pick(args, smoke=200, default=20_000, full=1_000_000)
    T = pick(args, smoke=200, default=5000, full=5000)
    n = 100
    res = jc.simulate(
        jc.Gaussian(dim=1, ddof=0),
        "replace",
        num_samples=n,
        num_generations=T,
        num_chains=chains,
        seed=args.seed,
    )
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    t = res.generations
    draw(a, res, "log_var", "C0", "log var_t")
    a.plot(
        t,
        np.log(res.theory["var"]),
        color="C3",
        ls=":",
        lw=1.2,
        label="log E[var_t] (theory)",
    )
    theory_handle(a, "E[log var_t] (theory)")
    a.set(
        xlabel="generation t",
        ylabel="log sigma_t^2",
        title=f"log variance, n = {n}: every chain collapses",
    )
    a.legend(fontsize=7, loc="lower left")

    draw(b, res, "std", "C2", "std_t", band=True)
    theory_handle(b, "E[std_t] (theory)")
    b.plot(
        t,
        np.exp(0.5 * np.asarray(res.theory["log_var"])),
        color="C1",
        ls=":",
        lw=1.2,
        label="exp(E log std_t) (theory median path)",
    )
    b.set_yscale("log")
    b.set(
        xlabel="generation t",
        ylabel="sigma_t (log scale)",
        title="standard deviation: mean vs median",
    )
    b.legend(fontsize=7, loc="lower left")
    footer(fig, args, chains, "E log var_t, E var_t, E std_t (exact, replace)")
    fig.suptitle("Gaussian fully synthetic loop (replace), exact fast path", y=1.0)
    data = {
        "chains": chains,
        "num_samples": n,
        "generations": list(map(int, t)),
        "log_var": series(res, "log_var"),
        "std": series(res, "std"),
        "var_theory": np.asarray(res.theory["var"]).tolist(),
    }
    save(fig, "gaussian_collapse", args, data)


if __name__ == "__main__":
    main()
