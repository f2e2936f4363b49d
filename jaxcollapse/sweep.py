"""Sweeps (SPEC §7): a grid of settings run into a resumable results store.

A sweep file is TOML with a [base] table of settings (the `run` flags with `_`
for `-`) and a [grid] table of lists; the sweep is the Cartesian product of the
grid over the base. Every point is resolved and validated before anything runs,
so a typo fails in the first second, not after an hour.

Running: points that agree on everything but the sweepable numbers
(temperature, real_weight) form a group that runs as ONE simulate() call, those
numbers being a vmapped axis of one compiled program. A group checkpoints into
the store while it runs, so a killed sweep resumes inside the group it was in;
finished points are skipped on every re-run. A lock file per group (POSIX
fcntl) lets two sweeps share a store: the second waits for, then skips, what
the first is computing.
"""

import dataclasses
import hashlib
import itertools
import json
import math
import os
import shutil
import sys
from contextlib import contextmanager

from jaxcollapse import __version__, store
from jaxcollapse.checkpoint import CheckpointError
from jaxcollapse.config import either, validate_run
from jaxcollapse.models import FAMILIES

try:
    import fcntl
except ImportError:  # Windows: no cross-process locking
    fcntl = None

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Run settings and their defaults (those of `jaxcollapse run`).
RUN_DEFAULTS = {
    "model": "gaussian",
    "workflow": "replace",
    "num_samples": 100,
    "generations": 100,
    "chains": 1000,
    "seed": 0,
    "num_real": None,
    "num_test": 500,
    "temperature": 1.0,
    "real_weight": None,
    "verify": None,
    "keep_fraction": None,
    "exact_path": "auto",
}
EXECUTION = ("chunk_size",)  # how to run, not what: not part of a point
SWEEPABLE = ("temperature", "real_weight")
MAX_POINTS = 1_000_000  # grid combinations in one sweep (checked before expanding)
FAMILY_KEYS = sorted(
    {f.name for cls in FAMILIES.values() for f in dataclasses.fields(cls)}
)
ALLOWED = sorted(set(RUN_DEFAULTS) | set(FAMILY_KEYS) | set(EXECUTION))


@dataclasses.dataclass(frozen=True)
class Point:
    id: str
    settings: dict  # resolved: every run setting, and the model's own
    model: object = dataclasses.field(compare=False)  # built from settings


@dataclasses.dataclass
class Group:
    """Points differing only in temperature / real_weight: one simulate()."""

    common: dict
    temperatures: list
    real_weights: list | None
    points: list


def _fail(source: str, message: str):
    raise ValueError(f"{source}: {message}")


def read_sweep(path) -> tuple[dict, dict]:
    """(base, grid) of a sweep file, checked for shape and known keys."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as err:
        raise ValueError(f"cannot read sweep file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"sweep file {path} is not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"sweep file {path} is not UTF-8 text: {err}") from None
    return check_spec(data, path)


def check_spec(data: dict, source: str = "sweep") -> tuple[dict, dict]:
    unknown = sorted(set(data) - {"base", "grid"})
    if unknown:
        _fail(source, f"unknown table {unknown[0]!r}; allowed: [base], [grid]")
    base, grid = data.get("base", {}), data.get("grid", {})
    for name, table in (("base", base), ("grid", grid)):
        if not isinstance(table, dict):
            _fail(source, f"[{name}] must be a table")
        for key in table:
            if key not in ALLOWED:
                allowed = ", ".join(ALLOWED)
                _fail(
                    source, f"unknown setting {key!r} in [{name}]; allowed: {allowed}"
                )
    for key, value in base.items():
        if isinstance(value, (list, dict)):
            _fail(source, f"base.{key} must be one value; put lists in [grid]")
    for key, values in grid.items():
        if key in base:
            _fail(source, f"{key} is set in both [base] and [grid]")
        if key in EXECUTION:
            _fail(source, f"{key} cannot be swept")
        if not isinstance(values, list) or not values:
            _fail(source, f"grid.{key} must be a non-empty list")
        if any(isinstance(v, (list, dict)) for v in values):
            _fail(source, f"grid.{key} must be a list of single values")
    return dict(base), dict(grid)


def point_id(settings: dict) -> str:
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _engine_settings(s: dict) -> dict:
    """A point's settings as simulate()'s (and validate_run's) keywords, less
    the model, workflow and sweepable numbers."""
    return dict(
        num_samples=s["num_samples"],
        num_generations=s["generations"],
        num_chains=s["chains"],
        seed=s["seed"],
        num_real=s["num_real"],
        num_test=s["num_test"],
        exact_path=s["exact_path"],
        verify=s["verify"],
        keep_fraction=1.0 if s["keep_fraction"] is None else s["keep_fraction"],
    )


def resolve(raw: dict) -> "Point":
    """The Point (settings resolved, model built) of one combination of
    settings; ValueError if invalid."""
    s = {**RUN_DEFAULTS, **{k: v for k, v in raw.items() if k not in EXECUTION}}
    name = s["model"]
    if not isinstance(name, str) or name not in FAMILIES:
        raise ValueError(f"model must be one of {', '.join(FAMILIES)}; got {name!r}")
    cls = FAMILIES[name]
    own = {f.name for f in dataclasses.fields(cls)}
    model = cls(**{k: s[k] for k in own if k in s})
    workflow = s["workflow"]
    real_weight = s["real_weight"] if workflow in ("fresh", "mix") else None
    verify = s["verify"]
    if verify is None:
        s["keep_fraction"] = None
    checked = validate_run(
        model,
        workflow,
        **_engine_settings(s),
        temperature=s["temperature"],
        real_weight=real_weight,
        chunk_size=raw.get("chunk_size"),
        keep_trajectories=0,
    )
    if isinstance(s["temperature"], list) or isinstance(real_weight, list):
        raise ValueError("temperature and real_weight take one value per point")
    settings = {
        "model": name,
        "workflow": workflow,
        "num_samples": checked["num_samples"],
        "generations": checked["num_generations"],
        "chains": checked["num_chains"],
        "seed": checked["seed"],
        "num_real": checked["num_real"],
        "num_test": checked["num_test"],
        "temperature": float(s["temperature"]),
        "real_weight": None if real_weight is None else float(real_weight),
        "verify": verify,
        "keep_fraction": None if verify is None else checked["keep_fraction"],
        "exact_path": s["exact_path"],
    }
    # a setting the model's numbers do not depend on (kde's and gmm's factor
    # outside the circles truth, say) is null, so it never splits one point
    # into several
    unused = getattr(model, "unused_settings", dict)()
    for f in dataclasses.fields(cls):
        value = None if f.name in unused else getattr(model, f.name)
        settings[f.name] = value if not isinstance(value, float) else float(value)
    # What the numbers also depend on: the precision (--x64) and the package
    # (a new version may draw other streams); a store never serves a point
    # computed otherwise.
    settings["x64"] = _x64()
    settings["jaxcollapse_version"] = __version__
    return Point(point_id(settings), settings, model)


def _x64() -> bool:
    import jax.numpy as jnp

    return jnp.result_type(float) == jnp.float64


def expand(base: dict, grid: dict, source: str = "sweep") -> list[Point]:
    """Every distinct point of the grid, validated, in grid order. Settings that
    do not apply to a point (a family setting of another family, real_weight
    with a workflow that has none, keep_fraction without verify) are dropped,
    so such combinations collapse into one point."""
    keys = list(grid)
    size = math.prod(len(grid[k]) for k in keys)
    if size > MAX_POINTS:
        _fail(
            source,
            f"the grid has {size:.4g} combinations; at most {MAX_POINTS:g} in one "
            "sweep (split it into several sweep files on one store)",
        )
    given = set(base) | set(grid)
    watched = [key for key in FAMILY_KEYS if key in given]
    # per family setting given: used by some point, or the (setting, values)
    # that would use it where a point's model makes it moot
    in_use, moot = set(), {}
    points, seen, models = [], set(), set()
    for combo in itertools.product(*(grid[k] for k in keys)):
        raw = dict(base)
        raw.update(zip(keys, combo, strict=True))
        try:
            point = resolve(raw)
        except (ValueError, TypeError) as err:
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(keys, combo, strict=True))
            where = f"point ({shown})" if shown else "the base settings"
            _fail(source, f"{where}: {err}")
        models.add(point.settings["model"])
        if point.id not in seen:
            seen.add(point.id)
            points.append(point)
            unused = getattr(point.model, "unused_settings", dict)()
            for key in watched:
                if key in unused:
                    moot.setdefault(key, unused[key])
                elif key in point.settings:
                    in_use.add(key)
    for key, used in (
        ("real_weight", "workflow fresh or mix"),
        ("keep_fraction", "verify"),
    ):
        if key in given and all(p.settings[key] is None for p in points):
            _fail(source, f"{key} is set but no point uses it (it needs {used})")
    for key in FAMILY_KEYS:
        if key in moot and key not in in_use:
            needed, values = moot[key]
            _fail(
                source,
                f"{key} is set but no point uses it (it needs {needed} "
                f"{either(values)})",
            )
        having = [
            m
            for m in models
            if key in {f.name for f in dataclasses.fields(FAMILIES[m])}
        ]
        if key in given and not having:
            _fail(
                source,
                f"{key} is not a setting of any model in this sweep "
                f"({', '.join(sorted(models))})",
            )
    return points


def plan(points: list[Point]) -> list[Group]:
    """Group points by everything but the sweepable numbers, in first-seen order."""
    groups: dict[str, Group] = {}
    seen: dict[str, tuple[set, set]] = {}  # membership in O(1), order in lists
    for p in points:
        common = {k: v for k, v in p.settings.items() if k not in SWEEPABLE}
        key = json.dumps(common, sort_keys=True)
        g = groups.setdefault(key, Group(common, [], [], []))
        temps, lams = seen.setdefault(key, (set(), set()))
        t, lam = p.settings["temperature"], p.settings["real_weight"]
        if t not in temps:
            temps.add(t)
            g.temperatures.append(t)
        if lam not in lams:
            lams.add(lam)
            g.real_weights.append(lam)
        g.points.append(p)
    for g in groups.values():
        if g.real_weights == [None]:
            g.real_weights = None
    return list(groups.values())


@contextmanager
def _lock(folder, name: str, wait: bool):
    """Hold the store's lock `name`; yields False if busy and not waiting."""
    if fcntl is None:
        yield True
        return
    path = os.path.join(folder, "locks", f"{name}.lock")
    with open(path, "a") as f:
        flags = fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(f, flags)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _group_work(g: Group) -> int:
    width = len(g.temperatures) * (len(g.real_weights) if g.real_weights else 1)
    return g.common["chains"] * (g.common["generations"] + 1) * width


def _run_group(
    folder, g: Group, chunk_size, progress, checkpoint_interval, dry_run=False
):
    """Simulate the group's still unfinished points and store each of them
    (dry_run: only check that the group's run fits in memory)."""

    todo = [p for p in g.points if not store.is_finished(folder, p.id)]
    if not todo:
        return 0
    temps = sorted({p.settings["temperature"] for p in todo})
    lams = None
    if g.real_weights is not None:
        lams = sorted({p.settings["real_weight"] for p in todo})
    model = todo[0].model
    c = g.common
    # A point's quantiles come from the chains a point run alone would keep,
    # whatever else shares its group; the grid is cut into runs whose kept
    # chains fit simulate's bound on them (HEAD_VALUES).
    from jaxcollapse.simulate import HEAD_VALUES, default_quantile_chains

    steps, num_metrics = c["generations"] + 1, len(model.metric_names)
    heads = default_quantile_chains(c["chains"], steps, num_metrics)
    width = max(1, HEAD_VALUES // (heads * steps * num_metrics))
    runs = _cuts(temps, lams, width)
    if dry_run:
        runs = runs[:1]  # the widest
    done = 0
    for run_temps, run_lams in runs:
        done += _run_cut(
            folder, c, model, todo, run_temps, run_lams, heads,
            chunk_size, progress, checkpoint_interval, dry_run,
        )  # fmt: skip
    return done


def _cuts(temps, lams, width: int):
    """(temperatures, real_weights) of runs of at most `width` settings each,
    covering temps x lams (lams None: no real_weight axis)."""
    if lams is None:
        return [(temps[i : i + width], None) for i in range(0, len(temps), width)]
    if len(lams) >= width:
        return [
            ([t], lams[i : i + width])
            for t in temps
            for i in range(0, len(lams), width)
        ]
    per = width // len(lams)
    return [(temps[i : i + per], lams) for i in range(0, len(temps), per)]


def _run_cut(
    folder, c, model, todo, temps, lams, heads, chunk_size, progress, interval,
    dry_run,
):  # fmt: skip
    from jaxcollapse.simulate import simulate

    tag = point_id({"group": c, "t": temps, "l": lams})
    ck = os.path.join(folder, "checkpoints", tag)
    kwargs = dict(
        temperature=temps,
        real_weight=lams,
        chunk_size=chunk_size,
        progress=progress,
        checkpoint=None if dry_run else ck,
        checkpoint_interval=interval,
        dry_run=dry_run,
        quantile_chains=heads,
    )
    try:
        results = simulate(model, c["workflow"], **_engine_settings(c), **kwargs)
    except CheckpointError:
        if dry_run or not os.path.isdir(ck):
            raise
        # The store's own checkpoint, of this group but another layout (chunk
        # size, device count) or damaged: start the group's run afresh.
        shutil.rmtree(ck, ignore_errors=True)
        results = simulate(model, c["workflow"], **_engine_settings(c), **kwargs)
    if dry_run:
        return 0
    by_setting = {}
    for i, (t, lam) in enumerate(itertools.product(temps, lams or [None])):
        by_setting[(t, lam)] = results[i]
    written = 0
    for p in todo:
        key = (p.settings["temperature"], p.settings["real_weight"])
        if key in by_setting:
            store.write_point(folder, p.id, p.settings, by_setting[key])
            written += 1
    shutil.rmtree(ck, ignore_errors=True)
    return written


def run_sweep(
    spec,
    out,
    *,
    progress=None,
    log=None,
    checkpoint_interval: float = 60.0,
) -> dict:
    """Run the sweep `spec` (a TOML path, or a {"base": ..., "grid": ...} dict)
    into the store `out`; returns counts of points (total, skipped, computed).

    progress(done, total) is called in chain-generations over the whole sweep.
    Under jax.distributed (several processes) it is refused: start one sweep
    per host on a shared store instead; they split the groups by lock files.
    """
    import jax

    if jax.process_count() > 1:
        raise ValueError(
            "run_sweep in several processes is not supported; run one sweep per "
            "host on one shared store (they split the work by lock files)"
        )
    if isinstance(spec, dict):
        base, grid = check_spec(spec)
        source = "sweep"
    else:
        base, grid = read_sweep(spec)
        source = f"sweep file {os.fspath(spec)}"
    points = expand(base, grid, source)
    chunk_size = base.get("chunk_size")
    folder = store.open_store(out)
    groups = plan(points)
    finished = store.check_finished(folder, [p.id for p in points])
    open_groups = [
        g for g in groups if any(not store.is_finished(folder, p.id) for p in g.points)
    ]
    total = sum(_group_work(g) for g in open_groups)
    for g in open_groups:  # refuse a run that cannot fit before running any
        try:
            _run_group(folder, g, chunk_size, None, checkpoint_interval, dry_run=True)
        except ValueError as err:
            _fail(source, f"{g.common['model']} / {g.common['workflow']}: {err}")
    if log:
        log(
            f"{len(points)} points in {len(groups)} groups; {finished} already in "
            f"{folder}, {len(points) - finished} to run"
        )
    offset = 0
    computed = 0

    def report(done, _):
        if progress:
            progress(offset + done, total)

    deferred = []
    for wait, batch in ((False, open_groups), (True, deferred)):
        for g in batch:
            with _lock(folder, point_id(g.common), wait) as held:
                if not held:
                    deferred.append(g)
                    continue
                computed += _run_group(
                    folder, g, chunk_size, report, checkpoint_interval
                )
            offset += _group_work(g)
            report(0, total)
    return {"points": len(points), "skipped": finished, "computed": computed}
