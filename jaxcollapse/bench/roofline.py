"""The machine's ceilings for the sample-level path: how fast its devices can
make random numbers and move memory, measured with the same JAX and XLA flags
as every workload (benchmarks' "roofline").

Every measurement runs on all local devices at once (shard_map over a "chains"
mesh, each device its own fold_in key), as a chunk of chains does, and is timed
warm: compiled first, then the best of `repeats` runs, each to
block_until_ready. Rates are for the whole machine (all devices together).

- normal, written: jax.random.normal(key, (N,)) per device, the values stored -
  "raw throughput of jax.random.normal" as a user calls it;
- normal, reduced: its sum, so XLA fuses the draws into the reduction and no
  value reaches memory - the ceiling of a path that reduces its draws at once;
- normal, per-chain keys: vmap over chains of fold_in(key, chain) then n draws
  each, reduced to (sum, sum of squares) per chain - the engine's own pattern
  (for jcfry, the Gaussian family's own code: `_prng.paired_sums`, two draws a
  Threefry block), on which the PRNG implementations differ most (rbg's bit
  generator is not batchable: under vmap JAX loops over the keys);
- bits: jax.random.bits (uint32), written;
- copy: y = 1.0001 x over a float32 array in place (its input donated),
  bytes read + written per second;
- read: sum of a float32 array, bytes read per second.

PRNG implementations: jax's `threefry2x32` (its default), `rbg` and
`unsafe_rbg` (XLA's RngBitGenerator; per JAX's documentation their streams may
differ across backends, XLA versions and shardings), and jaxcollapse's own
`jcfry` (jaxcollapse/_prng.py: the same Threefry-2x32-20, unrolled, with
`fused_normal` for draws that are reduced at once).
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxcollapse import _prng

IMPLS = ("threefry2x32", "jcfry", "rbg", "unsafe_rbg")


def _root(impl: str, seed: int = 0):
    if impl == "jcfry":
        return _prng.key(seed)
    return jax.random.key(seed, impl=impl)


def _normal(impl, key, shape):
    if impl == "jcfry":
        return _prng.fused_normal(key, shape, jnp.float32)
    return jax.random.normal(key, shape, jnp.float32)


def _timed(fn, args, repeats):
    """Best wall seconds of `repeats` warm calls (after a compile and one run)."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - started)
    return best


def _on_devices(per_device, mesh):
    """jit(shard_map(per_device)) over the mesh; per_device(key, index) gets the
    root key and its device's index (a (1,) uint32 array)."""
    sharded = jax.shard_map(
        per_device,
        mesh=mesh,
        in_specs=(P(), P("chains")),
        out_specs=P("chains"),
        check_vma=False,
    )
    return jax.jit(sharded)


def measure(
    values_per_device: int = 1 << 24,
    chains_per_device: int = 1 << 13,
    n: int = 128,
    repeats: int = 3,
    impls=IMPLS,
    devices=None,
) -> list[dict]:
    """Each ceiling as {"what", "impl", "rate", "unit"}; rate in values/s or
    bytes/s for the whole machine."""
    devices = list(devices) if devices is not None else jax.devices()
    ndev = len(devices)
    mesh = Mesh(np.array(devices), ("chains",))
    index = jax.device_put(
        np.arange(ndev, dtype=np.uint32), NamedSharding(mesh, P("chains"))
    )
    N = int(values_per_device)
    rows = []

    def add(what, impl, seconds, amount, unit):
        rows.append(
            {
                "what": what,
                "impl": impl,
                "rate": amount / seconds,
                "unit": unit,
                "seconds": seconds,
                "amount": amount,
            }
        )

    for impl in impls:
        root = _root(impl)

        def written(key, i, impl=impl):
            return jax.random.normal(jax.random.fold_in(key, i[0]), (N,))

        def reduced(key, i, impl=impl):
            draws = _normal(impl, jax.random.fold_in(key, i[0]), (N,))
            return jnp.sum(draws)[None]

        def per_chain(key, i, impl=impl):
            device_key = jax.random.fold_in(key, i[0])

            def one(c):
                chain_key = jax.random.fold_in(device_key, c)
                if impl == "jcfry":  # the Gaussian family's 1-D SUMMARY
                    return _prng.paired_sums(chain_key, n, jnp.float32, 1.0)
                z = _normal(impl, chain_key, (n,))
                return jnp.sum(z), jnp.sum(z * z)

            chains = jnp.arange(chains_per_device, dtype=jnp.uint32)
            s, q = jax.vmap(one)(chains)
            return (jnp.sum(s) + jnp.sum(q))[None]

        def bits(key, i, impl=impl):
            return jax.random.bits(jax.random.fold_in(key, i[0]), (N,), jnp.uint32)

        total = N * ndev
        add(
            "normal, written",
            impl,
            _timed(_on_devices(written, mesh), (root, index), repeats),
            total,
            "values/s",
        )
        add(
            "normal, reduced",
            impl,
            _timed(_on_devices(reduced, mesh), (root, index), repeats),
            total,
            "values/s",
        )
        add(
            f"normal, per-chain keys (n={n})",
            impl,
            _timed(_on_devices(per_chain, mesh), (root, index), repeats),
            chains_per_device * n * ndev,
            "values/s",
        )
        add(
            "bits (uint32), written",
            impl,
            _timed(_on_devices(bits, mesh), (root, index), repeats),
            total,
            "values/s",
        )

    # In place (the input donated), so the copy measures memory, not the page
    # faults of a fresh output buffer (about 4x slower on the CPU machine).
    x = jax.device_put(np.ones(N * ndev, np.float32), NamedSharding(mesh, P("chains")))
    copy = jax.jit(lambda a: a * np.float32(1.0001), donate_argnums=0)
    read = jax.jit(jnp.sum)
    size = x.size * 4
    x = jax.block_until_ready(copy(x))
    seconds = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        x = jax.block_until_ready(copy(x))
        seconds = min(seconds, time.perf_counter() - started)
    add(
        "copy (y = 1.0001 x, in place), read + write", "-", seconds, 2 * size, "bytes/s"
    )
    add("read (sum x)", "-", _timed(read, (x,), repeats), size, "bytes/s")
    return rows


def best(rows, what: str, impl: str | None = None) -> float | None:
    """The rate of the row named `what` (and impl), None when not measured."""
    for row in rows:
        if row["what"].startswith(what) and (impl is None or row["impl"] == impl):
            return row["rate"]
    return None
