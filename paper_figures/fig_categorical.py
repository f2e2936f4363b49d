"""Categorical `replace`: the rare symbols vanish first, then the whole support.

The tail-loss picture of "The curse of recursion" (Shumailov et al. 2024,
Nature 631, "AI models collapse when trained on recursively generated data"):
the truth is Zipf(1.1) over K = 100 symbols, each generation fits the symbol
frequencies of n = 100 points (no smoothing) and draws n new points from the
fit. A symbol that draws no point gets probability 0 and is lost for good, so
under `replace` the rarest 10% of symbols (tail_mass) disappear within a few
generations in most chains, the number of missing symbols climbs towards K - 1
and every chain ends on a single symbol (collapsed). E tail_mass_t stays at its
generation-0 value (frequencies are a martingale): the mean is carried by the
few chains in which a tail symbol drifted up, while the median falls to 0.
`accumulate` (the pool keeps every earlier generation) never loses a symbol that
D_0 holds. Theory (black dotted, exact): each symbol's count is a two-type
Wright-Fisher chain, which gives E num_missing_t and P(collapsed at t) for
`replace`; under `accumulate` the support is fixed (both constant); E tail_mass_t
from an affine recursion in both workflows.
"""

import numpy as np
from _common import draw, footer, parse, pick, save, series, theory_handle

import jaxcollapse as jc

WORKFLOWS = (("replace", "C3"), ("accumulate", "C0"))
METRICS = ("tail_mass", "num_missing", "collapsed")


def main(argv=None):
    args = parse(__doc__, argv)
    chains = pick(args, smoke=200, default=10_000, full=1_000_000)
    T = pick(args, smoke=50, default=500, full=500)
    n, K, zipf = 100, 100, 1.1
    model = jc.Categorical(categories=K, smoothing=0.0, zipf=zipf)
    runs = {
        flow: jc.simulate(
            model,
            flow,
            num_samples=n,
            num_generations=T,
            num_chains=chains,
            seed=args.seed,
        )
        for flow, _ in WORKFLOWS
    }
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4.2))
    for flow, color in WORKFLOWS:
        res = runs[flow]
        draw(a, res, "tail_mass", color, flow)
        draw(b, res, "num_missing", color, flow)
        draw(c, res, "collapsed", color, flow, band=False, median=False)
    tail_truth = float(np.exp(model.truth_log_probs())[K - model.num_tail :].sum())
    theory_handle(a, f"exact theory (= truth's tail mass {tail_truth:.4f})")
    theory_handle(b, "exact theory")
    theory_handle(c, "exact theory")
    a.set(
        xlabel="generation t",
        ylabel=f"model mass on the {model.num_tail} rarest symbols",
        title="tail mass: the median falls to 0, the mean stays",
    )
    b.axhline(K - 1, color="0.5", lw=0.8, ls="-.", label=f"K - 1 = {K - 1}")
    b.set(
        xlabel="generation t",
        ylabel="symbols with probability 0",
        title="missing symbols: lost for good under replace",
    )
    c.set_ylim(-0.02, 1.02)
    c.set(
        xlabel="generation t",
        ylabel="P(one symbol left)",
        title="total collapse (fraction of chains)",
    )
    a.legend(fontsize=7, loc="upper right")
    b.legend(fontsize=7, loc="center right")
    c.legend(fontsize=7, loc="upper left")
    footer(
        fig,
        args,
        chains,
        "Wright-Fisher E num_missing_t, P(collapsed_t) (replace), fixed support "
        "(accumulate), E tail_mass_t (both); exact",
    )
    fig.suptitle(
        f"Categorical, Zipf({zipf}) truth over K = {K} symbols, n = {n} per "
        "generation, no smoothing: tails vanish first",
        y=1.0,
    )
    data = {
        "chains": chains,
        "num_samples": n,
        "categories": K,
        "zipf": zipf,
        "truth_tail_mass": tail_truth,
        "generations": list(map(int, runs["replace"].generations)),
    }
    for flow, _ in WORKFLOWS:
        data[flow] = {m: series(runs[flow], m) for m in METRICS}
    save(fig, "categorical", args, data)


if __name__ == "__main__":
    main()
