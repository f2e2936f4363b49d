"""The single jit boundary: keys -> vmap(chain) -> chunks -> streaming statistics.

simulate() runs `num_chains` independent chains of one (model, workflow) setting.
Chains are processed in chunks (bounded memory whatever num_chains is), each chunk
sharded over all local devices along a "chains" mesh axis, and generations in
segments (progress, later resume). Each segment is reduced on device to per-block
(count, mean, M2) and merged on the host in block order (stats.py), so the
numbers are bit-identical for any chunk size and device count. (The segment
length, fixed by num_generations unless given, is part of the compiled program.)

Two programs per run: _init_chunk draws each chain's truth, D_0 and held-out
set and fits model 0; _advance_chunk emits a segment's metrics, generation 0's
included, and computes the models. So the metrics and their statistics are
compiled once (in 0.1.4 _init_chunk computed generation 0's as well: 17
small runs, every family and path, took 179 -> 136 s of CPU when they moved).

Sweepable numbers (temperature, real_weight) are traced arrays: passing arrays
runs their Cartesian grid as one more vmap axis of the same compiled program.
"""

import itertools
import math
import os
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxcollapse import _prng, stats
from jaxcollapse import checkpoint as ckpt
from jaxcollapse import config as cfg
from jaxcollapse.chain import Sizes, advance_chain, init_chain
from jaxcollapse.models._base import SUMMARY
from jaxcollapse.results import Results
from jaxcollapse.theory import theory_for
from jaxcollapse.workflows import Verify, get_workflow

DEFAULT_CHUNK_BYTES = 1 << 30  # working memory a chunk may use (all devices)
HEAD_VALUES = 64_000_000  # per-chain values kept on the host for quantiles


def _stack(metrics, names):
    return jnp.stack([metrics[n] for n in names], axis=-1)


_STATIC = ("model", "workflow", "sizes", "exact", "mesh", "head_blocks")


def _over_blocks(block_fn, mesh, head_blocks, ids, valid, replicated, state=None):
    """Run block_fn on every block of chains, each device looping (lax.map) over
    its own blocks, so every block is computed by the same fixed-shape code
    whatever the chunk size and device count: that is what makes results
    bit-identical across them. ids, valid, state: leading axis = block."""

    def local(ids, valid, replicated, state):
        xs = (ids, valid) if state is None else (ids, valid, state)
        out = jax.lax.map(lambda x: block_fn(*x, *replicated), xs)
        if state is None:  # _init_chunk: the state alone
            return out
        state, moments, values = out
        return state, moments, values[:head_blocks]

    spec = P("chains")
    in_specs = (spec, spec, P(), None if state is None else spec)
    sharded = jax.shard_map(
        local, mesh=mesh, in_specs=in_specs, out_specs=spec, check_vma=False
    )
    return sharded(ids, valid, replicated, state)


@partial(jax.jit, static_argnames=_STATIC)
def _init_chunk(
    root,
    ids,
    valid,
    temperature,
    real_weight,
    *,
    model,
    workflow,
    sizes,
    exact,
    mesh,
    head_blocks,
):
    def block_fn(ids, valid, root, temperature, real_weight):
        def one(i):
            return init_chain(
                jax.random.fold_in(root, i), model, workflow, sizes, exact
            )

        state = jax.vmap(one)(ids)
        # The state before generation 0 does not depend on the grid: repeat it
        # per setting.
        grid = temperature.shape[0]
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (grid,) + x.shape), state)

    replicated = (root, temperature, real_weight)
    return _over_blocks(block_fn, mesh, head_blocks, ids, valid, replicated)


@partial(jax.jit, static_argnames=_STATIC + ("length",))
def _advance_chunk(
    root,
    ids,
    valid,
    temperature,
    real_weight,
    state,
    start,
    *,
    model,
    workflow,
    sizes,
    exact,
    mesh,
    head_blocks,
    length,
):
    def block_fn(ids, valid, state, root, temperature, real_weight, start):
        steps = start + jnp.arange(length, dtype=jnp.uint32)

        def one_setting(temp, lam, state):
            def one(i, s):
                key = jax.random.fold_in(root, i)
                return advance_chain(
                    key, s, steps, model, workflow, sizes, temp, lam, exact
                )

            state, later = jax.vmap(one)(ids, state)
            values = _stack(later, model.metric_names)  # (B, length, M)
            return state, stats.block_moments(values, valid), values

        return jax.vmap(one_setting)(temperature, real_weight, state)

    replicated = (root, temperature, real_weight, start)
    return _over_blocks(block_fn, mesh, head_blocks, ids, valid, replicated, state)


def _global(array: np.ndarray, sharding):
    """A host array (the same on every process) as a global jax.Array; each
    process places only the shards of its own devices."""
    return jax.make_array_from_callback(array.shape, sharding, lambda i: array[i])


def _compile_both(root, chunk, block, by_block, grid_args, static, length):
    """Compile the chunk programs (_init_chunk, _advance_chunk) at once, each
    in its own thread: XLA's backend compilation releases the GIL, so on two
    cores a cold run waits for the slower of the two instead of their sum
    (a cold 2048-chain Gaussian run: 2.69 s -> 2.33 s sample-level, 4.88 s ->
    3.60 s exact path, on the 2-core benchmark machine). _init_chunk is traced
    once, for its output shapes and its program both. jit's cache keeps the
    executables, so the calls that follow compile nothing.

    Returns the larger program's device memory as XLA plans it, in bytes per
    device: arguments + outputs + temporaries - aliased buffers."""
    from concurrent.futures import ThreadPoolExecutor

    blocks = jax.ShapeDtypeStruct(
        (chunk // block, block), jnp.uint32, sharding=by_block
    )
    flags = jax.ShapeDtypeStruct((chunk // block, block), jnp.bool_, sharding=by_block)
    args = (root, blocks, flags, *grid_args)
    traced = _init_chunk.trace(*args, **static)
    state = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=by_block),
        traced.out_info,
    )

    def init():
        return traced.lower().compile()

    def advance():
        return _advance_chunk.lower(
            *args, state, np.uint32(0), length=length, **static
        ).compile()

    with ThreadPoolExecutor(2) as pool:
        programs = [job.result() for job in [pool.submit(advance), pool.submit(init)]]
    sizes = [b for b in map(_planned_bytes, programs) if b is not None]
    return max(sizes) if sizes else None


def _planned_bytes(compiled) -> int | None:
    """Device bytes one compiled program needs (XLA's memory analysis), None
    where the backend does not say."""
    try:
        m = compiled.memory_analysis()
        return int(
            m.argument_size_in_bytes
            + m.output_size_in_bytes
            + m.temp_size_in_bytes
            - m.alias_size_in_bytes
        )
    except Exception:  # not every backend implements memory_analysis
        return None


def _to_host(tree):
    """Device arrays as numpy arrays; across processes, the global values (an
    all-gather over JAX's distributed runtime)."""
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


class _Position(NamedTuple):
    """Where a run stands: the next chunk's first chain and the next generation
    to compute in it (0: the chunk has not started), chain-generations done,
    seconds spent."""

    first_id: int
    start: int
    done: int
    seconds: float


def block_size(num_chains: int, backend: str | None = None) -> int:
    """Chains per block: a power of two fixed by num_chains (and the backend's
    kind) alone, at most about an eighth of the chains so padding stays small."""
    cap = 512 if (backend or jax.default_backend()) == "cpu" else 1 << 16
    size = 1 << max(0, math.floor(math.log2(max(1, num_chains // 8))))
    return max(min(size, cap), min(32, 1 << math.ceil(math.log2(num_chains))))


def _per_chain_bytes(model, workflow, sizes: Sizes, exact: bool, num_metrics: int):
    """A rough upper estimate of one chain's working memory (bytes)."""
    dim = model.point_floats() if hasattr(model, "point_floats") else model.dim
    fixed = model.fixed_floats() if hasattr(model, "fixed_floats") else 0
    out = 3 * 4 * num_metrics * (sizes.num_generations + 1) + 16 * fixed
    # the draws of one set, transient (d > 1: u u^T terms); also on the exact
    # path of a family that still draws some sets point by point there and
    # keeps rows (linreg: D_0, fresh sets, its design)
    if exact == SUMMARY or (exact and getattr(model, "exact_draws_sets", False)):
        largest = max(sizes.num_samples, sizes.num_real, sizes.num_test)
        out += 64 * (dim + 2) ** 2 + 4 * dim * (sizes.num_samples + sizes.num_real)
        return out + 4 * dim * dim * largest
    if exact:
        out += 64 * (dim + 2) ** 2
        if getattr(model, "exact_draws_points", False):  # e.g. categorical
            out += 12 * (sizes.num_samples + sizes.num_real)
        return out
    pool = sizes.num_real + sizes.num_samples
    if workflow.name.startswith("accumulate"):
        pool = sizes.num_real + sizes.num_samples * sizes.num_generations
    if sizes.verify is not None:
        pool += sizes.verify.num_candidates(sizes.num_samples)
    return out + 4 * dim * (6 * sizes.num_samples + 4 * pool + sizes.num_test)


def chunk_budget(devices) -> int:
    """Working memory the default chunk may use, all devices together: on CPU
    DEFAULT_CHUNK_BYTES (1 GiB: larger chunks gain nothing there, the chains
    stream through caches); on an accelerator a quarter of each local device's
    memory limit (bigger chunks keep a large device busy), never less than
    DEFAULT_CHUNK_BYTES. The chunk size never changes a result."""
    local = [d for d in devices if d.process_index == jax.process_index()]
    if not local or local[0].platform == "cpu":
        return DEFAULT_CHUNK_BYTES
    try:
        stats = local[0].memory_stats() or {}
    except Exception:  # backends without memory statistics
        stats = {}
    limit = int(stats.get("bytes_limit") or 0)
    if jax.process_count() > 1:  # every process must choose the same chunk
        from jax.experimental import multihost_utils

        limits = multihost_utils.process_allgather(np.int64(limit))
        limit = int(np.min(limits))
    return max(DEFAULT_CHUNK_BYTES, (limit // 4) * len(devices))


def default_segment_length(num_generations: int) -> int:
    """Generations per segment (one compiled call; progress and checkpoints
    come between segments): about 6 to 16 segments for generations 0..T,
    of the length that computes the fewest generations past T (the last
    segment is as long as the others), the longest of those."""
    gens = num_generations + 1
    lengths = range(max(1, -(-gens // 16)), max(1, -(-gens // 6)) + 1)
    return min(lengths, key=lambda n: (-(-gens // n) * n - gens, -n))


def _chunk_size(
    padded: int, unit: int, per_chain: int, chunk_size, budget=DEFAULT_CHUNK_BYTES
) -> int:
    """Chains per chunk, a multiple of `unit` (a block on every device).

    By default as many chunks as the byte budget needs, then equal ones: a
    fixed largest chunk would leave the last one mostly padding (10^5 chains in
    chunks of 81920 computed 163840 chains)."""
    if chunk_size is None:
        largest = max(unit, (budget // per_chain) // unit * unit)
        num_chunks = -(-padded // largest)
        chunk = -(-padded // (num_chunks * unit)) * unit
    else:
        chunk = -(-chunk_size // unit) * unit
    return min(chunk, -(-padded // unit) * unit)


def _memory_bytes(device) -> int | None:
    """Memory one device can use: an accelerator's limit, or the host's RAM."""
    try:
        stats = device.memory_stats()
    except Exception:  # backends without memory statistics
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    return _memory_bytes_host()


def _check_memory(chunk_bytes: int, host_bytes: int, devices, chunk: int) -> None:
    """Refuse, before anything is allocated, a run whose chunk (at least one
    block per device) or whose host-side statistics cannot fit: one line with
    the estimate."""
    local = [d for d in devices if d.process_index == jax.process_index()]
    per_device = chunk_bytes / len(devices)
    limit = _memory_bytes(local[0]) if local else None
    if limit is None:
        return
    on_host = local[0].platform == "cpu"
    need_device = per_device * (len(local) if on_host else 1)
    need_host = host_bytes + (need_device if on_host else 0)
    host_limit = limit if on_host else _memory_bytes_host()
    for need, have, where in (
        (need_device, limit, "device"),
        (need_host, host_limit, "host"),
    ):
        if have is not None and need > have:
            raise ValueError(
                f"this run needs about {need / 2**30:.3g} GiB of {where} memory "
                f"for a chunk of {chunk} chains and the per-generation statistics, "
                f"more than the {have / 2**30:.3g} GiB there; lower num_samples, "
                "num_generations, num_test, chunk_size or the grid size"
            )


def _memory_bytes_host() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_quantile_chains(
    num_chains: int, num_steps: int, num_metrics: int, num_settings: int = 1
) -> int:
    """The chains whose values give the quantiles (SPEC §5) when none is asked
    for: min(num_chains, 10^4), fewer where the kept values would pass
    HEAD_VALUES, never fewer than min(num_chains, 100)."""
    cap = HEAD_VALUES // (num_settings * num_steps * num_metrics)
    return max(min(num_chains, 10_000, cap), min(num_chains, 100))


def _as_grid(value):
    """(values as a 1-D array, whether a list was given); already validated."""
    return np.atleast_1d(np.asarray(value, dtype=np.float64)), np.ndim(value) > 0


def simulate(
    model,
    workflow="replace",
    *,
    num_samples: int,
    num_generations: int,
    num_chains: int,
    seed: int = 0,
    num_real: int | None = None,
    num_test: int = 500,
    temperature=1.0,
    real_weight=None,
    exact_path: str = "auto",
    verify: str | None = None,
    keep_fraction: float = 1.0,
    chunk_size: int | None = None,
    segment_length: int | None = None,
    keep_trajectories: int = 0,
    quantile_chains: int | None = None,
    devices=None,
    progress=None,
    checkpoint=None,
    checkpoint_interval: float = 60.0,
    dry_run: bool = False,
):
    """Run num_chains chains; a Results, or a list of them over the hyper grid.

    temperature / real_weight: a number, or a 1-D list; lists run as a grid
    (temperature outer, real_weight inner) in one compiled program, and a list of
    Results is returned in that order.
    exact_path: "auto" (the exact sufficient-statistic path wherever the family
    and workflow allow it), "on" (require it) or "off" (draw every point).
    verify: None, "truth" (a verifier) or "model" (self-curation): every
    generation draws ceil(num_samples / keep_fraction) candidates and keeps the
    num_samples with the highest log-density under the truth or the model.
    progress: called as progress(done, total) in chain-generations.
    devices: default every device of every process (after
    jax.distributed.initialize, chains are sharded across hosts; each process
    gets the same Results).
    checkpoint: a folder (on a filesystem every process sees); the run's state
    is saved there (atomically) at the end of a segment of generations once
    checkpoint_interval seconds have passed since the last save, and at the end.
    Calling simulate again with the same settings and folder resumes from it
    and gives bit-identical results; a finished run's checkpoint returns its
    results without computing.
    dry_run: only validate the settings and check that the run fits in memory
    (ValueError if not); returns None without compiling anything.
    """
    settings = cfg.validate_run(
        model,
        workflow,
        num_samples=num_samples,
        num_generations=num_generations,
        num_chains=num_chains,
        seed=seed,
        num_real=num_real,
        num_test=num_test,
        temperature=temperature,
        real_weight=real_weight,
        exact_path=exact_path,
        chunk_size=chunk_size,
        keep_trajectories=keep_trajectories,
        verify=verify,
        keep_fraction=keep_fraction,
    )
    for name, value in (
        ("segment_length", segment_length),
        ("quantile_chains", quantile_chains),
    ):
        if value is not None:
            cfg.check_integer(name, value, 1)
    interval = cfg.check_number("checkpoint_interval", checkpoint_interval, 0.0)
    if checkpoint is not None:
        ckpt.prepare(checkpoint)
    flow = (
        workflow
        if not isinstance(workflow, str)
        else get_workflow(workflow, real_weight=real_weight)
    )
    exact = cfg.representation(model, flow, settings["exact_path"], verify)
    num_real = settings["num_real"]
    temps, temp_grid = _as_grid(temperature)
    lams, lam_grid = _as_grid(0.0 if real_weight is None else real_weight)
    grid = list(itertools.product(temps, lams))
    num_settings = len(grid)
    # Host values, built without running anything on a device: each eager jnp
    # operation compiles a small program of its own the first time in a
    # process (15-40 ms each; with the device-side slices of the segments'
    # statistics, now on the host, 0.23 s of a first 2048-chain Gaussian run,
    # timed operation by operation).
    dtype = jnp.result_type(float)  # JAX's default float: float32, or float64 (x64)
    temp_arr = np.asarray([g[0] for g in grid], dtype)
    lam_arr = np.asarray([g[1] for g in grid], dtype)

    modifier = None
    if verify is not None:
        modifier = Verify(keep_fraction=float(keep_fraction), reward=verify)
    sizes = Sizes(
        settings["num_samples"],
        settings["num_generations"],
        num_real,
        settings["num_test"],
        modifier,
    )
    names = model.metric_names
    num_metrics = len(names)
    T = num_generations

    devices = list(devices) if devices is not None else jax.devices()
    ndev = len(devices)
    mesh = Mesh(np.array(devices), ("chains",))
    by_block = NamedSharding(mesh, P("chains"))
    block = block_size(num_chains, devices[0].platform)
    unit = block * ndev
    padded = -(-num_chains // block) * block
    per_chain = num_settings * _per_chain_bytes(model, flow, sizes, exact, num_metrics)
    chunk = _chunk_size(padded, unit, per_chain, chunk_size, chunk_budget(devices))
    if segment_length is None:
        segment_length = default_segment_length(T)
    length = max(1, min(segment_length, T + 1))

    if quantile_chains is None:
        quantile_chains = default_quantile_chains(
            num_chains, T + 1, num_metrics, num_settings
        )
    quantile_chains = min(quantile_chains, num_chains)
    keep = max(quantile_chains, keep_trajectories)
    blocks_per_device = chunk // unit
    head_blocks = min(blocks_per_device, -(-keep // block))
    host = num_settings * (T + 1) * num_metrics * (32 + keep * np.dtype(dtype).itemsize)
    _check_memory(chunk * per_chain, host, devices, chunk)
    if dry_run:
        return None
    heads = np.full((num_settings, keep, T + 1, num_metrics), np.nan, dtype)

    acc = stats.Accumulator((num_settings, T + 1, num_metrics))
    root = _prng.key(seed)
    static = dict(
        model=model,
        workflow=flow,
        sizes=sizes,
        exact=exact,
        mesh=mesh,
        head_blocks=head_blocks,
    )
    total_work = num_chains * (T + 1) * num_settings
    run = _Position(first_id=0, start=0, done=0, seconds=0.0)
    environment = cfg.environment()
    identity = dict(settings)  # what the numbers depend on, and the layout
    identity.update(
        model_repr=repr(model),
        workflow_repr=repr(flow),
        temperature=temps.tolist(),
        real_weight=lams.tolist(),
        layout=[chunk, block, ndev, length, quantile_chains, keep, head_blocks],
        dtype=str(dtype),
        versions=[environment[k] for k in ("jaxcollapse_version", "jax_version")],
    )
    restored = None
    if checkpoint is not None:
        found = ckpt.load(checkpoint, identity)
        if found is not None:
            record, arrays = found
            into_of = {k: getattr(acc, k) for k in ("count", "mean", "m2", "nonfinite")}
            into_of["heads"] = heads
            try:  # the digest matched: a failure here is a file not ours
                run = _Position(*record["position"])
                for name, into in into_of.items():
                    if arrays[name].shape != into.shape:
                        raise ValueError(f"{name} has shape {arrays[name].shape}")
                    into[...] = arrays[name]
                restored = [arrays[f"state_{i}"] for i in range(record["num_state"])]
            except (KeyError, TypeError, ValueError) as err:
                path = ckpt.path_in(checkpoint)
                raise ckpt.damaged(path, f"{type(err).__name__}: {err}") from None
    started = time.perf_counter() - run.seconds
    compile_seconds, planned = 0.0, None
    if run.first_id < padded:
        planned = _compile_both(
            root, chunk, block, by_block, (temp_arr, lam_arr), static, length
        )
        compile_seconds = time.perf_counter() - started - run.seconds
    last_save = time.perf_counter()

    def save(position, state, final=False):
        nonlocal last_save
        if checkpoint is None:
            return
        now = time.perf_counter()
        wanted = final or now - last_save >= interval
        if jax.process_count() > 1:  # every process must take part in the gather
            from jax.experimental import multihost_utils

            wanted = bool(multihost_utils.broadcast_one_to_all(np.int32(wanted)))
        if not wanted:
            return
        leaves = [] if state is None else _to_host(jax.tree.leaves(state))
        arrays = {f"state_{i}": x for i, x in enumerate(leaves)}
        arrays.update(
            count=acc.count, mean=acc.mean, m2=acc.m2, nonfinite=acc.nonfinite
        )
        arrays["heads"] = heads
        position = position._replace(seconds=now - started)
        meta = {"position": list(position), "num_state": len(leaves)}
        if jax.process_index() == 0:  # one writer; every process reads it back
            ckpt.save(checkpoint, identity, meta, arrays)
        last_save = time.perf_counter()

    def absorb(first_id, out, gens):
        """Merge a segment's block statistics; keep the head chains' values."""
        state, moments, values = out
        # The last segment may run past T; those generations are dropped (on
        # the host: a slice of a device array would compile a program).
        width = gens.stop - gens.start
        moments = jax.tree.map(lambda m: m[:, :, :width], _to_host(moments))
        # moments: (blocks, settings, ...) in block order; values: per device,
        # its first head_blocks blocks: (ndev * head_blocks, G, B, L, M).
        acc.add_blocks(*moments, axis=0, where=(slice(None), gens))
        if first_id < keep:
            values = _to_host(values)
            for d in range(ndev):
                for j in range(head_blocks):
                    lo = first_id + (d * blocks_per_device + j) * block
                    rows = min(block, keep - lo)
                    if rows > 0:
                        heads[:, lo : lo + rows, gens] = values[
                            d * head_blocks + j, :, :rows, :width
                        ]
        return state

    done = run.done
    if progress and done:
        progress(done, total_work)
    for first_id in range(run.first_id, padded, chunk):
        ids = np.arange(first_id, first_id + chunk, dtype=np.uint32)
        valid = ids < num_chains
        ids_dev = _global(ids.reshape(-1, block), by_block)
        valid_dev = _global(valid.reshape(-1, block), by_block)
        live = int(valid.sum())

        if restored is not None and run.start > 0:
            # Resume inside this chunk: rebuild the carry from the saved leaves.
            state_like = jax.eval_shape(
                partial(_init_chunk, **static),
                root,
                ids_dev,
                valid_dev,
                temp_arr,
                lam_arr,
            )
            treedef = jax.tree.structure(state_like)
            state = jax.tree.unflatten(
                treedef, [_global(x, by_block) for x in restored]
            )
            begin = run.start
        else:
            state = _init_chunk(root, ids_dev, valid_dev, temp_arr, lam_arr, **static)
            begin = 0
        restored = None
        for start in range(begin, T + 1, length):
            stop = min(start + length, T + 1)
            state, moments, values = _advance_chunk(
                root,
                ids_dev,
                valid_dev,
                temp_arr,
                lam_arr,
                state,
                np.uint32(start),
                length=length,
                **static,
            )
            gens = slice(start, stop)
            state = absorb(first_id, (state, moments, values), gens)
            done += live * (stop - start) * num_settings
            if progress:
                progress(done, total_work)
            if stop <= T:
                save(_Position(first_id, stop, done, 0.0), state)
        finished = first_id + chunk >= padded
        save(_Position(first_id + chunk, 0, done, 0.0), None, final=finished)
    elapsed = time.perf_counter() - started

    summary = acc.summary()
    quants = stats.quantiles(heads[:, :quantile_chains], axis=1)
    results = []
    for g, (temp, lam) in enumerate(grid):
        metrics = {}
        for j, name in enumerate(names):
            entry = {k: summary[k][g, :, j] for k in ("mean", "sem", "std")}
            entry.update({k: v[g, :, j] for k, v in quants.items()})
            entry["nonfinite"] = summary["nonfinite"][g, :, j]
            metrics[name] = {k: entry[k] for k in stats.STATISTICS}
        config = dict(settings)
        config.update(
            temperature=float(temp),
            real_weight=None if real_weight is None else float(lam),
            quantile_chains=int(quantile_chains),
            chunk_size=int(chunk),
            block_size=int(block),
            devices=[str(d) for d in devices],
            num_devices=len(devices),
            num_processes=jax.process_count(),
        )
        config.update(environment)
        trajectories = {}
        if keep_trajectories:
            trajectories = {
                name: heads[g, :keep_trajectories, :, j].astype(np.float64)
                for j, name in enumerate(names)
            }
        results.append(
            Results(
                config=config,
                generations=np.arange(T + 1),
                metrics=metrics,
                theory=theory_for(config),
                trajectories=trajectories,
                timing={
                    "seconds": elapsed,
                    "compile_seconds": compile_seconds,
                    "chain_generations": total_work,
                    "device_bytes_planned": planned,
                },
            )
        )
    if temp_grid or lam_grid:
        return results
    return results[0]
