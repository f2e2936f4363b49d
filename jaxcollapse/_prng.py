"""The counter-based generator every chain draws from: Threefry-2x32, unrolled.

Threefry-2x32 with 20 rounds is the keyed bijection of Salmon, Moraes, Dror &
Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3" (SC'11), which is
also what jax.random uses by default. JAX 0.10 lowers it on CPU with its rounds
in a rolled loop (to keep compile times down), which makes every key
derivation several kernels deep; under vmap, inside a scan over generations, a
chain-generation pays for that loop several times. Written as straight-line
uint32 arithmetic, XLA fuses it into the surrounding code: about 5x fewer
nanoseconds per block on this project's CPU benchmark machine (see
benchmarks/README.md), the same on accelerators.

It is registered with JAX's public extension point
(jax.extend.random.define_prng_impl), so jax.random.normal, uniform, split and
fold_in work on its keys unchanged. The key derivation scheme is ours, with
domain separation in the second counter word so that no two uses share a
block:

    random_bits(key, n values): value i from block T_key(i, 0)
    split(key, n):              key i   = T_key(i, 1)
    fold_in(key, d):            T_key(d, 2)
    seed(s):                    key (s >> 32, s mod 2^32) (key() below)

Streams therefore differ from jax.random's default keys; only the law matters.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.random import define_prng_impl

from jaxcollapse._fastmath import erfinv

# Rotation constants R_{2x32} and the key-schedule parity constant of the
# Threefish/Threefry specification (Salmon et al. 2011, table 4).
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotl(x, r: int):
    return lax.shift_left(x, np.uint32(r)) | lax.shift_right_logical(
        x, np.uint32(32 - r)
    )


@jax.jit
def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32-20 of the block (x0, x1) under key (k0, k1); uint32 arrays.

    A jax.jit function, like _fastmath's erfinv_f32 and log_f32 and _linalg's
    tree sums: a chain's program calls it dozens of times (every fold_in and
    draw), and JAX traces and lowers a jit function once per argument shape.
    XLA inlines the calls before it optimises, so the compiled programs are
    the same, instruction for instruction (compared on the Gaussian
    sample-level programs); tracing and lowering the programs of nine small
    runs, one per family and path, took 17 -> 13 s on the 2-core AMD EPYC."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for group in range(5):  # 5 groups of 4 rounds, a key injection after each
        for r in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + np.uint32(group + 1)
    return x0, x1


def _hash(key, x0, domain: int):
    """T_key(x0, domain) for a (..., 2) key and uint32 counters x0."""
    k0, k1 = key[..., 0], key[..., 1]
    x1 = jnp.full(x0.shape, domain, jnp.uint32)
    return threefry2x32(k0, k1, x0, x1)


def _seed(seed):
    seed = jnp.asarray(seed)
    if seed.dtype.itemsize == 8:
        hi = lax.shift_right_logical(seed.astype(jnp.uint64), np.uint64(32))
        hi = hi.astype(jnp.uint32)
    else:
        hi = jnp.zeros((), jnp.uint32)
    lo = seed.astype(jnp.uint32)  # modulo 2^32
    return jnp.stack([hi, lo])


def _split(key, shape):
    num = math.prod(shape)
    y0, y1 = _hash(key, jnp.arange(num, dtype=jnp.uint32), 1)
    return jnp.stack([y0, y1], axis=-1).reshape(*shape, 2)


def _fold_in(key, data):
    y0, y1 = _hash(key, jnp.asarray(data).astype(jnp.uint32), 2)
    return jnp.stack([y0, y1])


# A handful of values (a key's worth of draws) is cheaper to hash twice than to
# divide; measured on the exact fast path, which draws 2 to 4 values at a time.
_MATERIALISE_FROM = 16


_UINT = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}


def computed_once(values, anchor):
    """`values`, unchanged bit for bit, but computed once: their bits go
    through an integer division by a runtime 1 made from the first element of
    `anchor` (any array the program computes, such as a key's words, so XLA
    cannot fold it).

    XLA's CPU fusion treats cheap producers as free and copies them into every
    consumer: the hash into each use of the values derived from it (normal
    draws feed erf_inv's two branches and then each pass of a fit over the
    sample, hashing each value five times or more), a chain of adds into each
    element that reads its result (categorical's block offsets). It does not
    duplicate a division; dividing costs about 1.5 ns a value, the duplication
    20 ns or more (measured on the CPU benchmark machine). Integer division is
    scalar code on x86, so keep `values` small. jax.lax.optimization_barrier
    is removed by XLA's CPU pipeline and does not help.
    """
    first = jnp.ravel(anchor)[0]
    if first.dtype == jnp.bool_:
        first = first.astype(jnp.uint8)
    word = lax.bitcast_convert_type(first, _UINT[first.dtype.itemsize])
    word = word | np.array(1, word.dtype)
    uint = _UINT[jnp.dtype(values.dtype).itemsize]
    one = (word // word).astype(uint)
    bits = lax.bitcast_convert_type(values, uint) // one
    return lax.bitcast_convert_type(bits, values.dtype)


def _random_bits(key, bit_width: int, shape, materialise: bool = True):
    """Value i comes from block T_key(i, 0) alone: its first word (8, 16, 32
    bits) or both words (64 bits). Using one block per value wastes half of it
    at 32 bits but lets XLA fuse the hash into the value's consumer without
    computing any block twice; measured faster than using both words."""
    num = math.prod(shape)
    y0, y1 = _hash(key, jnp.arange(num, dtype=jnp.uint32), 0)
    if materialise and num >= _MATERIALISE_FROM:
        y0, y1 = computed_once(y0, key), computed_once(y1, key)
    if bit_width == 64:
        out = join_words(y0, y1)
    else:
        dtype = {8: jnp.uint8, 16: jnp.uint16, 32: jnp.uint32}[bit_width]
        out = y0.astype(dtype)  # keep the low bits
    return out.reshape(shape)


def join_words(hi, lo):
    """One uint64 from two uint32 words: hi << 32 | lo."""
    return lax.shift_left(hi.astype(jnp.uint64), np.uint64(32)) | lo.astype(jnp.uint64)


def unit_interval(bits, dtype):
    """A uniform on [0, 1) from the top mantissa bits of `bits` (uint32 for
    float32, uint64 for float64), as jax.random.uniform makes it."""
    finfo = jnp.finfo(dtype)
    uint = {32: jnp.uint32, 64: jnp.uint64}[finfo.bits]
    one = np.array(1.0, dtype).view(uint)
    return lax.bitcast_convert_type(
        lax.shift_right_logical(bits, uint(finfo.bits - finfo.nmant)) | one, dtype
    ) - np.array(1.0, dtype)


def bits_to_normal(bits, dtype):
    """Standard normals from uniform bits, by jax.random.normal's recipe: a
    uniform u on [nextafter(-1, 0), 1) from the top mantissa bits, then
    sqrt(2) erfinv(u); in float32 with erfinv_f32, otherwise XLA's erf_inv."""
    unit = unit_interval(bits, dtype)
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    hi = np.array(1.0, dtype)
    u = lax.max(lo, unit * (hi - lo) + lo)
    return np.array(np.sqrt(2), dtype) * erfinv(u)


def normal(key, shape, dtype, materialise: bool = False):
    """Standard normal draws for a key of this generator: jax.random.normal's
    recipe and bits (the same uniforms), with erfinv_f32 in float32, which is
    more accurate and, fused with the hash, 1.2-1.4x faster per draw than XLA's
    erf_inv on the CPU benchmark machine (per-chain draws reduced at once).
    The Gaussian family draws its points with paired_normal (Pool path) and
    paired_sums (SUMMARY) instead, two values a block.

    materialise: also for fewer than _MATERIALISE_FROM values, compute the
    draws once (bits and normals, each through computed_once's division) for
    a few draws that many values depend on, such as the d normals of a d x d
    matrix-vector product, into each of whose d^2 products XLA would otherwise
    copy the hash and erfinv (linreg's exact path: 10 draws hashed 160 times,
    about half of its run)."""
    dtype = jnp.dtype(dtype)
    width = jnp.finfo(dtype).bits
    words = jax.random.key_data(key)
    num = math.prod(shape)
    if materialise and num < _MATERIALISE_FROM:
        bits = computed_once(_random_bits(words, width, shape, False), words)
        return computed_once(bits_to_normal(bits, dtype), words)
    bits = _random_bits(words, width, shape)
    return bits_to_normal(bits, dtype)


def fused_normal(key, shape, dtype):
    """normal(key, shape, dtype), bit for bit, without the division that stops
    XLA copying the hash into every consumer (see computed_once). The
    benchmark's per-chain normal ceiling (bench/roofline.py) draws with it.

    For draws that feed a single fused reduction (a sample's sum and sum of
    squares), where no consumer repeats the hash, the values never reach memory:
    about 1.7x faster per point than materialised draws on the CPU benchmark
    machine.
    """
    dtype = jnp.dtype(dtype)
    width = jnp.finfo(dtype).bits
    bits = _random_bits(jax.random.key_data(key), width, shape, materialise=False)
    return bits_to_normal(bits, dtype)


def _pair_words(words, num: int):
    """Both words of blocks T_key(j, 0), j < ceil(num / 2): value i < H =
    ceil(num / 2) is word 0 of block i, value H + i word 1 of block i (the
    last word 1 unused when num is odd)."""
    return _hash(words, lax.iota(jnp.uint32, (num + 1) // 2), 0)


def paired_normal(key, shape, dtype):
    """Standard normals, two from each Threefry block (see _pair_words for
    which value comes from which word), computed once (computed_once). The
    Gaussian family's points: half the hashing of normal(), whose one block
    per value lets a consumer fuse the hash without a branch between words,
    a branch that XLA's vectorised code pays on both sides. paired_sums
    reduces the same values without writing them. In float64 (x64), whose
    values need both words of a block, it is normal()."""
    dtype = jnp.dtype(dtype)
    if dtype.itemsize != 4:
        return normal(key, shape, dtype)
    words = jax.random.key_data(key)
    num = math.prod(shape)
    y0, y1 = (computed_once(y, words) for y in _pair_words(words, num))
    bits = lax.concatenate([y0, y1], 0)[:num]
    return computed_once(bits_to_normal(bits, dtype), words).reshape(shape)


def paired_sums(key, num: int, dtype, scale):
    """(sum x, sum x^2) of x = scale * paired_normal(key, (num,), dtype), in
    one pass that hashes each block once: each block's two normals a and b
    enter one complex term (a + b) + i (a^2 + b^2), whose sum carries both
    sums in one fused reduction (two real reductions would each repeat the
    hash). Not in the values' order, so equal to sums of paired_normal's
    values up to float rounding only."""
    dtype = jnp.dtype(dtype)
    if dtype.itemsize != 4:
        x = scale * normal(key, (num,), dtype)
        return jnp.sum(x), jnp.sum(x * x)
    y0, y1 = _pair_words(jax.random.key_data(key), num)
    a = scale * bits_to_normal(y0, dtype)
    b = scale * bits_to_normal(y1, dtype)
    half = (num + 1) // 2
    if num % 2:  # the last block's second word is not a value
        b = jnp.where(lax.iota(jnp.int32, half) < half - 1, b, jnp.zeros((), dtype))
    both = jnp.sum(lax.complex(a + b, a * a + b * b))
    return jnp.real(both), jnp.imag(both)


THREEFRY_UNROLLED = define_prng_impl(
    key_shape=(2,),
    seed=_seed,
    split=_split,
    random_bits=_random_bits,
    fold_in=_fold_in,
    name="threefry2x32_unrolled",
    tag="jcfry",
)


def key(seed: int):
    """The root key of a run with seed `seed` (0 <= seed < 2^64): the key words
    are (seed >> 32, seed mod 2^32), built on the host so that seeds beyond
    32 bits stay distinct without x64 (jax.random.key would truncate them)."""
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2^64); got {seed}")
    words = np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32)
    return jax.random.wrap_key_data(words, impl=THREEFRY_UNROLLED)
