"""Validation of run settings: one clear ValueError naming the setting and the
allowed values (SPEC §6), raised before anything is compiled."""

import math
import numbers
import os
import platform

import numpy as np

EXACT_CHOICES = ("auto", "on", "off")
INT32_MAX = 2**31 - 1  # point counts, symbols, loop counters and steps are int32


def _range(minimum, maximum, strict_min=False, strict_max=False) -> str:
    """'>= a', '> a', '<= b', 'in [a, b]', 'in (a, b]', ... ('' if unbounded)."""
    if minimum is not None and maximum is not None:
        left, right = "(" if strict_min else "[", ")" if strict_max else "]"
        return f"in {left}{minimum:g}, {maximum:g}{right}"
    if minimum is not None:
        return f"{'>' if strict_min else '>='} {minimum:g}"
    if maximum is not None:
        return f"{'<' if strict_max else '<='} {maximum:g}"
    return ""


def check_integer(name, value, minimum, maximum=None, *, limit=None):
    """int(value) for an integer (Python or NumPy; not a bool) in [minimum,
    maximum], or a ValueError naming the setting and its allowed range.

    limit: an upper bound of representation (int32 counts, say) rather than of
    meaning; it is named only when a value passes it."""
    allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer {allowed}; got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {allowed}; got {value!r}")
    if limit is not None and value > limit:
        raise ValueError(
            f"{name} must be an integer in [{minimum}, {limit}]; got {value!r}"
        )
    return value


def check_number(
    name, value, minimum=None, maximum=None, *, strict_min=False, strict_max=False
):
    """float(value) for a finite real number (Python or NumPy; ints accepted,
    bools refused) in [minimum, maximum], or a ValueError naming the setting.
    strict_min / strict_max make that bound exclusive: (minimum, maximum]."""
    allowed = _range(minimum, maximum, strict_min, strict_max)
    message = f"{name} must be a finite number {allowed}".rstrip()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{message}; got {value!r}")
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):  # an int past float's range
        raise ValueError(f"{message}; got {value!r}") from None
    low = minimum is not None and (
        number < minimum or (strict_min and number == minimum)
    )
    high = maximum is not None and (
        number > maximum or (strict_max and number == maximum)
    )
    if not math.isfinite(number) or low or high:
        raise ValueError(f"{message}; got {value!r}")
    return number


def either(values) -> str:
    """The values as prose: "a", "a or b", "a, b or c"."""
    values = [str(v) for v in values]
    return ", ".join(values[:-1]) + (" or " if len(values) > 1 else "") + values[-1]


def check_choice(name, value, choices):
    """value if it is one of the strings `choices`, else a ValueError naming
    the setting and the choices (a non-string is refused, never compared)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_writable_file(path, what: str = "") -> None:
    """Refuse (ValueError, one line naming `what`, e.g. "--json") an output
    path that is a folder, or whose file or folder cannot be written."""
    label = f"{what} " if what else ""
    if not path:
        raise ValueError(f"cannot write {label}'': no file named")
    if os.path.isdir(path):
        raise ValueError(f"cannot write {label}{path}: it is a folder")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {label}{path}: no folder {folder}")
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        raise ValueError(f"cannot write {label}{path}: not writable")


def assign(instance, **checked):
    """Store validated (normalised) settings on a frozen dataclass."""
    for name, value in checked.items():
        object.__setattr__(instance, name, value)


def _numbers(name, value, minimum=None, maximum=None, **strict):
    """A number or a non-empty 1-D list (tuple, NumPy array) of numbers, each
    finite and in [minimum, maximum] (strict: see check_number), as a float
    array; else a ValueError naming the setting."""
    allowed = _range(minimum, maximum, **strict)
    if isinstance(value, np.ndarray):
        value = value.tolist()  # NumPy scalars become Python ones (bools stay)
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError(
            f"{name} must be a number {allowed} or a non-empty list of them; "
            f"got {value!r}"
        )
    out = []
    for item in items:
        try:
            check_number(name, item)
        except ValueError:
            real = isinstance(item, numbers.Real) and not isinstance(
                item, (bool, np.bool_)
            )
            if real:  # nan, inf, or an int past float's range
                message = f"{name} must be finite and {allowed}; got {item!r}"
            else:
                message = (
                    f"{name} must be a number {allowed} or a list of them; got {item!r}"
                )
            raise ValueError(message) from None
        try:
            out.append(check_number(name, item, minimum, maximum, **strict))
        except ValueError:
            raise ValueError(f"{name} must be {allowed}; got {item!r}") from None
    return np.array(out, dtype=np.float64)


def _representable(name, values) -> None:
    """Refuse a finite setting that JAX's default float (float32 unless x64)
    cannot hold: past its largest value it would become inf, and below its
    smallest normal one a nonzero value becomes 0 (XLA's CPU code flushes
    subnormals), either of which would turn a run's numbers into nonsense."""
    import jax.numpy as jnp

    info = np.finfo(jnp.result_type(float))
    largest, tiny = float(info.max), float(info.tiny)
    for value in np.atleast_1d(np.asarray(values, dtype=np.float64)).tolist():
        if abs(value) > largest or 0 < abs(value) < tiny:
            raise ValueError(
                f"{name} = {value!r} cannot be held in {info.dtype}, whose "
                f"magnitudes run from {info.tiny:.4g} to {info.max:.4g} "
                "(--x64 computes in float64)"
            )


def _largest_set(flow, *, num_samples, num_real, num_generations, verify_fraction):
    """The most points any training set or candidate pool of the run holds."""
    if flow.name.startswith("accumulate"):
        pool = num_real + num_samples * num_generations
    elif flow.name == "replace":
        pool = max(num_real, num_samples)
    else:
        pool = num_real + num_samples
    if verify_fraction is not None:
        pool = max(pool, math.ceil(min(num_samples / verify_fraction, 2.0**1023)))
    return pool


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
    if not isinstance(name, str) or name not in WORKFLOWS:
        shown = workflow if name is None else name
        raise ValueError(
            f"workflow must be one of {', '.join(WORKFLOWS)}; got {shown!r}"
        )
    flow = WORKFLOWS[name]
    fewest = model.min_samples()
    # Counts of points are int32 (Pool, Moments), chain ids and generation
    # indices uint32 (the PRNG's fold_in), so larger values cannot be run.
    num_samples = check_integer("num_samples", num_samples, fewest, limit=INT32_MAX)
    num_real = (
        num_samples
        if num_real is None
        else check_integer("num_real", num_real, fewest, limit=INT32_MAX)
    )
    num_generations = check_integer(
        "num_generations", num_generations, 0, limit=INT32_MAX
    )
    num_chains = check_integer("num_chains", num_chains, 1, limit=2**31)
    seed = check_integer("seed", seed, 0, 2**63 - 1)
    num_test = check_integer("num_test", num_test, fewest, limit=INT32_MAX)
    keep_trajectories = check_integer(
        "keep_trajectories", keep_trajectories, 0, num_chains
    )
    if chunk_size is not None:
        check_integer("chunk_size", chunk_size, 1)
    _representable(
        "temperature", _numbers("temperature", temperature, 0.0, strict_min=True)
    )
    for field, value in vars(model).items():
        if isinstance(value, float):  # the family's numeric settings
            _representable(field, value)
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
        _representable("real_weight", _numbers("real_weight", real_weight, 0.0, 1.0))
    exact_path = check_choice("exact_path", exact_path, EXACT_CHOICES)
    if verify is not None:
        from jaxcollapse.workflows import Verify

        modifier = Verify(keep_fraction=keep_fraction, reward=verify)  # may raise
        keep_fraction = modifier.keep_fraction
        needed = "truth_log_density" if verify == "truth" else "log_density"
        if not hasattr(model, needed):
            raise ValueError(
                f"verify {verify} needs a log-density that model {model.name} "
                "does not have"
            )
        if verify == "truth" and hasattr(model, "check_truth_density"):
            model.check_truth_density()
    possible = (
        bool(getattr(model, "has_exact_path", False)) and flow.exact and verify is None
    )
    if exact_path == "on" and not possible:
        why = f"with workflow {name}" if verify is None else "with verify"
        raise ValueError(
            f"exact_path on is not available for model {model.name} {why}; "
            "use auto or off"
        )
    # The sample-level path keeps its points in an int32-counted Pool.
    exact = possible and exact_path != "off"
    points = _largest_set(
        flow,
        num_samples=num_samples,
        num_real=num_real,
        num_generations=num_generations,
        verify_fraction=None if verify is None else keep_fraction,
    )
    if not exact and points > INT32_MAX:
        grows = " x num_generations" if name.startswith("accumulate") else ""
        fraction = " / keep_fraction" if verify is not None else ""
        raise ValueError(
            f"num_samples{grows}{fraction} is too large: a set of points of workflow "
            f"{name} would hold {float(points):.4g} points, more than {INT32_MAX} "
            "(int32 counts)"
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
        exact_path=exact,
    )
    if verify is not None:
        settings.update(verify=verify, keep_fraction=float(keep_fraction))
    return settings


def representation(model, flow, exact: bool, verify):
    """How the chain holds a set (models/_base.py): exact_path's resolved True
    (statistics drawn from their law), or on the sample-level path SUMMARY
    where the family reduces drawn points at once and the workflow only unions
    and reweights sets, else False (a Pool of points)."""
    if exact:
        return True
    summarises = bool(getattr(model, "summarises_points", False))
    if summarises and flow.exact and verify is None:
        from jaxcollapse.models._base import SUMMARY

        return SUMMARY
    return False


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
