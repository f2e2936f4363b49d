"""Closed-form theory for self-consuming chains: pure functions of the settings."""

import numpy as np


def theory_for(config: dict) -> dict[str, np.ndarray]:
    """E[metric at generation t] (see _theory_for); an empty dict, no theory
    column, where a closed form overflows float64 (a temperature of 1e300 under
    --x64, say): the simulation's own numbers are still reported."""
    try:
        with np.errstate(over="ignore"):
            return _theory_for(config)
    except OverflowError:
        return {}


def _theory_for(config: dict) -> dict[str, np.ndarray]:
    """E[metric at generation t] for every metric with a closed form in this setting.

    `config` is a run's settings (Results.config); an empty dict where no theory
    is known. Families other than the Gaussian keep theirs in
    jaxcollapse/theory/<family>.py as `theory(config) -> {metric: (T+1,) array}`
    (metrics without a closed form in that setting are left out). The verify
    modifier has no closed form here.
    """
    if config.get("verify") is not None:
        return {}
    if config.get("model") == "gaussian":
        from jaxcollapse.theory.gaussian import gaussian_theory

        return gaussian_theory(
            workflow=config["workflow"],
            num_samples=config["num_samples"],
            num_generations=config["num_generations"],
            num_real=config["num_real"],
            dim=config["dim"],
            ddof=config["ddof"],
            temperature=config["temperature"],
            real_weight=config.get("real_weight"),
        )
    name = config.get("model")
    if name and name != "gaussian":
        import importlib

        module_name = f"jaxcollapse.theory.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:  # a real missing dependency
                raise
            return {}  # this family has no theory module
        return module.theory(config)
    return {}
