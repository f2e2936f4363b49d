"""KDE genealogy: under `replace` every point ends up descending from one real
point, while the fitted variance grows.

A Gaussian kernel density estimate (fixed bandwidth h = 0.3) is fitted to n = 50
points from N(0, 1); each generation draws n points from the KDE (pick a
training point, add h N(0, 1)) and refits. Every synthetic point descends from
one generation-0 real point; distinct_roots counts the real points that still
have descendants. Under `replace` this is neutral Wright-Fisher resampling, so
the genealogy coalesces (about 2n / t roots left after t generations) towards
a single ancestor, while each generation's kernel noise adds h^2 to the spread:
E var_t rises from 1 + h^2 towards n h^2, so the model looks more diverse than
the truth although all its points are copies-with-noise of one real point
(the collapse of the data genealogy in self-consuming KDEs; cf. "Collapse or
Thrive?", Kazdan et al. 2024, for KDE chains under replace vs accumulate).
`accumulate` keeps D_0 in the pool: distinct_roots stays at n. Theory (black
dotted, exact): E distinct_roots_t from the Wright-Fisher transition matrix
(replace) and the constant n (accumulate); E var_t by its linear recursion for
both workflows.
"""

from _common import draw, footer, parse, pick, save, series, theory_handle

import jaxcollapse as jc

WORKFLOWS = (("replace", "C3"), ("accumulate", "C0"))


def main(argv=None):
    args = parse(__doc__, argv)
    # accumulate's pool grows to n (T + 1) points, and every generation of a
    # chain works on the whole padded pool: its cost grows like T^2.
    chains = pick(args, smoke=100, default=1_500, full=1_000_000)
    T = pick(args, smoke=20, default=80, full=150)
    n, h = 50, 0.3
    num_test = 20  # test_nll is not plotted; a small held-out set keeps it cheap
    model = jc.KDE(dim=1, bandwidth=h, truth="normal")
    runs = {
        flow: jc.simulate(
            model,
            flow,
            num_samples=n,
            num_generations=T,
            num_chains=chains,
            seed=args.seed,
            num_test=num_test,
        )
        for flow, _ in WORKFLOWS
    }
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for flow, color in WORKFLOWS:
        draw(a, runs[flow], "distinct_roots", color, flow)
        draw(b, runs[flow], "var", color, flow)
    theory_handle(a, "exact theory (Wright-Fisher / constant n)")
    a.set_yscale("log")
    a.set_ylim(0.8, 1.3 * n)
    a.set(
        xlabel="generation t",
        ylabel="generation-0 points with descendants (log scale)",
        title=f"distinct roots, n = {n}: the genealogy coalesces",
    )
    a.legend(fontsize=7, loc="lower left")
    theory_handle(b, "exact theory (E var_t)")
    b.axhline(1.0, color="0.5", lw=0.8, ls="-.", label="truth's variance")
    b.axhline(n * h**2, color="0.5", lw=0.8, ls="--", label="n h^2 (replace limit)")
    b.set(
        xlabel="generation t",
        ylabel="variance of the fitted density",
        title=f"KDE variance, h = {h}: grows as the roots vanish",
    )
    b.legend(fontsize=7, loc="upper left")
    footer(
        fig,
        args,
        chains,
        "E distinct_roots_t (Wright-Fisher, replace; n, accumulate), "
        "E var_t (both); exact",
    )
    fig.suptitle(
        "Gaussian KDE on N(0, 1), fixed bandwidth: replace vs accumulate", y=1.0
    )
    data = {
        "chains": chains,
        "num_samples": n,
        "bandwidth": h,
        "num_test": num_test,
        "generations": list(map(int, runs["replace"].generations)),
    }
    for flow, _ in WORKFLOWS:
        data[flow] = {m: series(runs[flow], m) for m in ("distinct_roots", "var")}
    save(fig, "kde_roots", args, data)


if __name__ == "__main__":
    main()
