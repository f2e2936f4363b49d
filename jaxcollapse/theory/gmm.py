"""Theory for the `gmm` family: with one component the mixture is the 1-D
Gaussian fitted by maximum likelihood (ddof 0) and the truth is N(0, 1), so the
Gaussian family's closed forms apply (tests/test_gmm.py checks them against the
EM fit). With two or more components no closed form is known; {}."""

from jaxcollapse.theory.gaussian import gaussian_theory


def theory(config: dict) -> dict:
    if config.get("components") != 1:
        return {}
    gauss = gaussian_theory(
        workflow=config["workflow"],
        num_samples=config["num_samples"],
        num_generations=config["num_generations"],
        num_real=config["num_real"],
        dim=1,
        ddof=0,
        temperature=config["temperature"],
        real_weight=config.get("real_weight"),
    )
    names = {"mean": "mean_1", "var": "var_1", "kl": "kl"}
    return {ours: gauss[theirs] for theirs, ours in names.items() if theirs in gauss}
