"""Curated synthetic data: a verifier pins the mean, self-curation does not, and
both collapse the spread faster than no curation.

The verification setting of Feng et al. 2024 ("Beyond model collapse: scaling
up with synthesized data requires verification"), in its simplest form: each
generation draws 2n candidates from the current model and keeps the n with the
highest log-density under the truth (verify="truth", a verifier) or under the
model itself (verify="model", self-curation), keep_fraction 0.5, then refits;
the workflow is `replace`. Gaussian d = 1 (MLE fit, n = 100): without curation
the mean is a random walk (E mean_sqerr_t grows from 1/n towards 1) and the
variance decays slowly ((n-1)/n per generation in expectation). The verifier drags the
mean to the truth's (mean_sqerr falls from about 1/n to about 1e-9);
self-curation freezes it near its generation-0 error. But keeping the densest
half truncates a Gaussian sample to its central half, which multiplies the
variance by about 0.14 per generation under either reward: ranking by density
is mode-seeking, so both curated chains lose their spread within a few
generations. (The verifier ranks by -x^2, the same order as the truth's log-
density without its constant: in float32, -x^2/2 - log sqrt(2 pi) ties every
candidate within about 3e-4 of 0, and the variance stopped falling near 1e-8
until the engine gained Gaussian.truth_reward.) The categorical panels (K =
100, Zipf(1.1) truth, n = 100) show the same for a discrete model: both rewards
keep the commonest symbols, so the tail is gone after one generation and the
chains end on a single symbol within a few, where plain `replace` takes
hundreds (the two curated curves coincide there). Theory (black dotted, exact)
only for the uncurated runs: E var_t, E mean_sqerr_t (Gaussian) and the Wright-
Fisher E num_missing_t, P(collapsed_t) (categorical). Curated runs have no
closed form.
"""

from _common import draw, footer, parse, pick, save, series, theory_handle

import jaxcollapse as jc

CURATION = (
    (None, "C0", "no curation"),
    ("truth", "C2", "verifier (truth)"),
    ("model", "C3", "self-curation (model)"),
)
KEEP = 0.5


def _runs(model, args, n, T, chains):
    out = {}
    for verify, _, _ in CURATION:
        out[verify] = jc.simulate(
            model,
            "replace",
            num_samples=n,
            num_generations=T,
            num_chains=chains,
            seed=args.seed,
            verify=verify,
            keep_fraction=KEEP if verify else 1.0,
        )
    return out


def main(argv=None):
    args = parse(__doc__, argv)
    chains = pick(args, smoke=200, default=10_000, full=1_000_000)
    T = pick(args, smoke=20, default=100, full=100)
    n, K = 100, 100
    gauss = _runs(jc.Gaussian(dim=1, ddof=0), args, n, T, chains)
    cat = _runs(
        jc.Categorical(categories=K, smoothing=0.0, zipf=1.1), args, n, T, chains
    )
    import matplotlib.pyplot as plt

    fig, ((a, b), (c, d)) = plt.subplots(2, 2, figsize=(11, 8))
    for verify, color, label in CURATION:
        draw(a, gauss[verify], "var", color, label)
        draw(b, gauss[verify], "mean_sqerr", color, label)
        draw(c, cat[verify], "num_missing", color, label)
        draw(d, cat[verify], "collapsed", color, label, band=False, median=False)
    for ax in (a, b, c, d):
        theory_handle(ax, "exact theory (no curation only)")
    a.set_yscale("log")
    a.set_ylim(1e-12, 3)
    a.set(
        xlabel="generation t",
        ylabel="sigma_t^2 (log scale)",
        title=f"Gaussian variance, n = {n}, keep {KEEP:g} of 2n",
    )
    a.legend(fontsize=7, loc="lower left")
    b.set_yscale("log")
    b.set_ylim(1e-11, 10)
    b.set(
        xlabel="generation t",
        ylabel="(mu_t - mu)^2 (log scale)",
        title="Gaussian mean error: the verifier pins it",
    )
    b.legend(fontsize=7, loc="lower left")
    c.set(
        xlabel="generation t",
        ylabel="symbols with probability 0",
        title=f"categorical, K = {K}: missing (both curations coincide)",
    )
    c.legend(fontsize=7, loc="lower right")
    d.set_ylim(-0.02, 1.02)
    d.set(
        xlabel="generation t",
        ylabel="P(one symbol left)",
        title="categorical: total collapse (fraction of chains)",
    )
    d.legend(fontsize=7, loc="center right")
    footer(
        fig,
        args,
        chains,
        "exact E var_t, E mean_sqerr_t, Wright-Fisher E num_missing_t, "
        "P(collapsed_t), uncurated only (curated: no closed form)",
    )
    fig.suptitle(
        "replace with curated synthetic data: keep the densest half under the "
        "truth (verifier) or the model (self-curation)",
        y=1.0,
    )
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    data = {
        "chains": chains,
        "num_samples": n,
        "categories": K,
        "keep_fraction": KEEP,
        "generations": list(map(int, gauss[None].generations)),
    }
    for verify, _, label in CURATION:
        data[label] = {
            "gaussian": {m: series(gauss[verify], m) for m in ("var", "mean_sqerr")},
            "categorical": {
                m: series(cat[verify], m) for m in ("num_missing", "collapsed")
            },
        }
    save(fig, "verification", args, data)


if __name__ == "__main__":
    main()
