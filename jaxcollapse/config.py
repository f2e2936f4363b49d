"""Validation of run settings: one clear ValueError naming the setting and the
allowed values (SPEC §6), raised before anything is compiled."""

import numbers
import platform

import numpy as np

EXACT_CHOICES = ("auto", "on", "off")


def check_integer(name, value, minimum, maximum=None):
    """int(value), or a ValueError naming the setting and its allowed range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {allowed}; got {value!r}")
    return int(value)


def check_number(name, value, minimum=None, maximum=None):
    """float(value) for a finite real number in [minimum, maximum], or a
    ValueError naming the setting (bools and non-finite values are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number; got {value!r}")
    value = float(value)
    low = minimum is not None and value < minimum
    high = maximum is not None and value > maximum
    if not np.isfinite(value) or low or high:
        if minimum is not None and maximum is not None:
            allowed = f"in [{minimum:g}, {maximum:g}]"
        elif minimum is not None:
            allowed = f">= {minimum:g}"
        elif maximum is not None:
            allowed = f"<= {maximum:g}"
        else:
            allowed = "finite"
        raise ValueError(f"{name} must be a finite number {allowed}; got {value!r}")
    return value


def _numbers(name, value):
    """A number or a non-empty 1-D list of numbers, as a float array."""
    try:
        arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        message = f"{name} must be a number or a list of numbers; got {value!r}"
        raise ValueError(message) from None
    if arr.ndim != 1 or arr.size == 0 or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number or a list of numbers; got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return arr


def validate_run(
    model,
    workflow,
    *,
    num_samples,
    num_generations,
    num_chains,
    seed,
    num_real,
    num_test,
    temperature,
    real_weight,
    exact_path,
    chunk_size,
    keep_trajectories,
    verify=None,
    keep_fraction=1.0,
) -> dict:
    """Check every setting; return the resolved settings as a plain dict."""
    from jaxcollapse.workflows import WORKFLOWS

    name = workflow if isinstance(workflow, str) else getattr(workflow, "name", None)
    if name not in WORKFLOWS:
        raise ValueError(
            f"workflow must be one of {', '.join(WORKFLOWS)}; got {name!r}"
        )
    flow = WORKFLOWS[name]
    fewest = model.min_samples()
    num_samples = check_integer("num_samples", num_samples, fewest)
    num_real = (
        num_samples if num_real is None else check_integer("num_real", num_real, fewest)
    )
    num_generations = check_integer("num_generations", num_generations, 0)
    num_chains = check_integer("num_chains", num_chains, 1)
    seed = check_integer("seed", seed, 0, 2**63 - 1)
    num_test = check_integer("num_test", num_test, fewest)
    keep_trajectories = check_integer(
        "keep_trajectories", keep_trajectories, 0, num_chains
    )
    if chunk_size is not None:
        check_integer("chunk_size", chunk_size, 1)
    temps = _numbers("temperature", temperature)
    if np.any(temps <= 0):
        raise ValueError(f"temperature must be > 0; got {temperature!r}")
    if real_weight is None:
        if name == "mix":
            raise ValueError(
                "real_weight is required by workflow mix: a number in [0, 1]"
            )
    else:
        if name not in ("fresh", "mix"):
            raise ValueError(
                f"real_weight is used only by workflows fresh and mix; not by {name}"
            )
        lams = _numbers("real_weight", real_weight)
        if np.any((lams < 0) | (lams > 1)):
            raise ValueError(f"real_weight must be in [0, 1]; got {real_weight!r}")
    if exact_path not in EXACT_CHOICES:
        raise ValueError(
            f"exact_path must be one of {', '.join(EXACT_CHOICES)}; got {exact_path!r}"
        )
    if verify is not None:
        from jaxcollapse.workflows import Verify

        Verify(keep_fraction=keep_fraction, reward=verify)  # raises on bad values
        needed = "truth_log_density" if verify == "truth" else "log_density"
        if not hasattr(model, needed):
            raise ValueError(
                f"verify {verify} needs a log-density that model {model.name} "
                "does not have"
            )
    possible = (
        bool(getattr(model, "has_exact_path", False)) and flow.exact and verify is None
    )
    if exact_path == "on" and not possible:
        why = f"with workflow {name}" if verify is None else "with verify"
        raise ValueError(
            f"exact_path on is not available for model {model.name} {why}; "
            "use auto or off"
        )
    settings = {"model": model.name}
    settings.update({k: v for k, v in vars(model).items() if not k.startswith("_")})
    settings.update(
        workflow=name,
        num_samples=num_samples,
        num_real=num_real,
        num_generations=num_generations,
        num_chains=num_chains,
        seed=seed,
        num_test=num_test,
        keep_trajectories=keep_trajectories,
        exact_path=possible and exact_path != "off",
    )
    if verify is not None:
        settings.update(verify=verify, keep_fraction=float(keep_fraction))
    return settings


def environment() -> dict:
    """Package versions and the machine, for the record."""
    import jax

    from jaxcollapse import __version__

    return {
        "jaxcollapse_version": __version__,
        "jax_version": jax.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "backend": jax.default_backend(),
        "x64": bool(jax.config.jax_enable_x64),
        "machine": platform.machine(),
    }
