"""The results store of a sweep (SPEC §7): a Parquet dataset plus SPEC §6 JSON.

    STORE_DIR/
      table/<point>.parquet   one tidy table per finished point: one column per
                              setting, then generation, metric, statistic, value
      points/<point>.json     the SPEC §6 JSON of that point
      checkpoints/, locks/    work in progress (safe to delete when idle)

`<point>` is a hash of the point's resolved settings, so the same settings map
to the same files whichever sweep asks for them. A point is finished when its
Parquet file exists; the JSON is written first and each file atomically
(temporary file, fsync, rename), so a kill never leaves a half point, and two
sweeps writing the same point write the same bytes. Every Parquet file has the
same schema (SCHEMA: every setting of every family, null where a setting does
not apply), so pandas, polars or DuckDB read `table/` as one table:

    pandas.read_parquet("STORE_DIR/table")
    polars.read_parquet("STORE_DIR/table/*.parquet")
    duckdb.sql("select * from 'STORE_DIR/table/*.parquet'")

Parquet goes through pyarrow (the reference implementation, a dependency of
pandas' own Parquet reader) and load() returns a pandas DataFrame, as SPEC §7
asks.
"""

import json
import os
import re

import numpy as np

from jaxcollapse.results import Results

# Setting columns, in order, with their Arrow types: the run settings, then
# every family's own (bandwidth is a number or "scott", so text).
SETTING_TYPES = {
    "model": "string",
    "workflow": "string",
    "num_samples": "int64",
    "generations": "int64",
    "chains": "int64",
    "seed": "int64",
    "num_real": "int64",
    "num_test": "int64",
    "temperature": "float64",
    "real_weight": "float64",
    "verify": "string",
    "keep_fraction": "float64",
    "exact_path": "string",
    "dim": "int64",
    "ddof": "int64",
    "bandwidth": "string",
    "truth": "string",
    "truth_noise": "float64",
    "factor": "float64",
    "components": "int64",
    "em_steps": "int64",
    "noise": "float64",
    "categories": "int64",
    "smoothing": "float64",
    "zipf": "float64",
    "vocab": "int64",
    "seq_len": "int64",
    "train_steps": "int64",
    "learning_rate": "float64",
    "init": "string",
    # how the numbers were computed (sweep.resolve): precision and package
    "x64": "bool",
    "jaxcollapse_version": "string",
}
VALUE_COLUMNS = ("point", "generation", "metric", "statistic", "value")
_POINT_FILE = re.compile(r"[0-9a-f]{20}\.parquet")  # sweep.point_id's ids


class StoreError(ValueError):
    """A store folder or file that cannot be used; one line says which."""


def schema():
    import pyarrow as pa

    kinds = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
    }
    fields = [pa.field(k, kinds[v]) for k, v in SETTING_TYPES.items()]
    fields += [
        pa.field("point", pa.string()),
        pa.field("generation", pa.int64()),
        pa.field("metric", pa.string()),
        pa.field("statistic", pa.string()),
        pa.field("value", pa.float64()),
    ]
    return pa.schema(fields)


def open_store(folder) -> str:
    """Create (or reuse) a store folder; a StoreError if that is impossible."""
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise StoreError(f"store path is not a folder: {folder}")
    try:
        for sub in ("table", "points", "checkpoints", "locks"):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create store folder {folder}: {err}") from None
    if not os.access(folder, os.W_OK):
        raise StoreError(f"store folder is not writable: {folder}")
    return folder


def table_path(folder, point: str) -> str:
    return os.path.join(folder, "table", f"{point}.parquet")


def json_path(folder, point: str) -> str:
    return os.path.join(folder, "points", f"{point}.json")


def is_finished(folder, point: str) -> bool:
    return os.path.exists(table_path(folder, point))


def _unreadable(path: str, err) -> StoreError:
    return StoreError(
        f"store file {path} is unreadable ({err}); delete it and re-run "
        "the sweep to recompute that point"
    )


def check_finished(folder, points) -> int:
    """How many of `points` are stored; a StoreError naming the first stored
    file whose Parquet footer does not read (truncated or overwritten)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 0
    for point in points:
        path = table_path(folder, point)
        if not os.path.exists(path):
            continue
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowException) as err:
            raise _unreadable(path, err) from None
        count += 1
    return count


def _atomic_write(path: str, write) -> None:
    # a hidden name (".x.tmp-PID"): Parquet readers skip it, if a kill leaves it
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def tidy(settings: dict, point: str, results: Results):
    """The point's rows as a pyarrow Table of SCHEMA."""
    import pyarrow as pa

    gens = np.asarray(results.generations, np.int64)
    parts = []  # (metric, statistic, values over generations)
    for metric, stats in results.metrics.items():
        for stat, values in stats.items():
            parts.append((metric, stat, np.asarray(values, np.float64)))
    for metric, values in results.theory.items():
        parts.append((metric, "theory", np.asarray(values, np.float64)))
    rows = len(parts) * len(gens)
    table_schema = schema()
    columns = {}
    for name, kind in SETTING_TYPES.items():
        value = settings.get(name)
        if value is not None and kind == "string":
            value = str(value)
        columns[name] = pa.array([value] * rows, type=table_schema.field(name).type)
    columns["point"] = pa.array([point] * rows, pa.string())
    columns["generation"] = pa.array(np.tile(gens, len(parts)))
    columns["metric"] = pa.array(np.repeat([p[0] for p in parts], len(gens)))
    columns["statistic"] = pa.array(np.repeat([p[1] for p in parts], len(gens)))
    columns["value"] = pa.array(
        np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    )
    return pa.table(columns, schema=table_schema)


def write_point(folder, point: str, settings: dict, results: Results) -> None:
    """Store one finished point: its JSON, then its Parquet file (the marker)."""
    import pyarrow.parquet as pq

    record = results.to_dict()
    # a setting the point's numbers do not depend on is null in its settings
    # (sweep.resolve); the run's config, which holds the model's value for it,
    # says the same
    for key, value in settings.items():
        if value is None and key in record["config"]:
            record["config"][key] = None
    record["point"] = {"id": point, "settings": settings}
    text = json.dumps(record, allow_nan=False).encode() + b"\n"
    _atomic_write(json_path(folder, point), lambda f: f.write(text))
    table = tidy(settings, point, results)
    _atomic_write(table_path(folder, point), lambda f: pq.write_table(table, f))


def load(folder):
    """Every finished point of the store at `folder`, as one pandas DataFrame
    (columns: the settings, point, generation, metric, statistic, value; the
    statistics of SPEC §5 plus "theory")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = os.fspath(folder)
    table_dir = os.path.join(folder, "table")
    if not os.path.isdir(table_dir):
        raise StoreError(f"not a jaxcollapse store (no table/ folder): {folder}")
    names = sorted(n for n in os.listdir(table_dir) if n.endswith(".parquet"))
    for name in names:  # the store writes only <point id>.parquet files here
        if not _POINT_FILE.fullmatch(name):
            raise StoreError(
                f"store file {os.path.join(table_dir, name)} is not a point of "
                "this store (those are named <20 hex digits>.parquet); move it "
                "out of table/"
            )
    table_schema = schema()
    tables = []
    for name in names:
        path = os.path.join(table_dir, name)
        try:
            tables.append(pq.read_table(path, schema=table_schema))
        except (OSError, pa.ArrowException) as err:
            raise _unreadable(path, err) from None
    if not tables:
        return table_schema.empty_table().to_pandas()
    return pa.concat_tables(tables).to_pandas()


def read_point(folder, point: str) -> Results:
    """The Results of one stored point, from its JSON."""
    path = json_path(folder, point)
    try:
        return Results.read_json(path)
    except (OSError, ValueError, KeyError) as err:
        raise StoreError(f"store file {path} is unreadable ({err})") from None
