"""XLA settings that jaxcollapse's speed and reproducibility rely on.

They are put in XLA_FLAGS at import, only where the user has not set that flag
already (a user's own XLA_FLAGS always win), and take effect if JAX's CPU
backend has not started yet. JAXCOLLAPSE_KEEP_XLA_FLAGS=1 turns this off.

- One CPU device per core. XLA runs one program per device, and its threads use
  well under two cores of a two-core machine; two host devices let shard_map put
  half of the chains on each core (about 2x on our Gaussian benchmarks, see
  benchmarks/README.md). Results do not depend on the device count (tests).
- Classic CPU emitters. XLA's newer CPU fusion emitters may contract a multiply
  and an add into one fused multiply-add in one compiled program and not in
  another (the choice follows fusion boundaries, which differ once a program is
  partitioned over several devices). Each is correct, but the last bits differ,
  and jaxcollapse promises the same numbers for the same seed on any chunk size
  and device count. The classic emitters round every operation separately, and
  measured about 20% faster on the sample-level Gaussian path.
- 512-bit vectors on CPUs with AVX-512. XLA's CPU backend asks LLVM for 256-bit
  vectors by default; where the CPU has AVX-512F, 512 makes the warm
  workloads of `jaxcollapse bench --quick` up to 1.4x faster (Gaussian
  sample-level 1.34x, KDE 1.26-1.41x, GMM 1.29x, none slower) with the same
  numbers, on the 2-core AVX-512 benchmark machine (benchmarks/README.md).
"""

import os

EMITTERS = "--xla_cpu_use_fusion_emitters"
HOST_DEVICES = "--xla_force_host_platform_device_count"
VECTOR_WIDTH = "--xla_cpu_prefer_vector_width"


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _has_avx512() -> bool:
    """Whether this (Linux) CPU reports AVX-512 Foundation; False elsewhere."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def configure_xla() -> None:
    if os.environ.get("JAXCOLLAPSE_KEEP_XLA_FLAGS") == "1":
        return
    flags = os.environ.get("XLA_FLAGS", "")
    extra = []
    if EMITTERS not in flags:
        extra.append(f"{EMITTERS}=false")
    if HOST_DEVICES not in flags:
        extra.append(f"{HOST_DEVICES}={_cores()}")
    if VECTOR_WIDTH not in flags and _has_avx512():
        extra.append(f"{VECTOR_WIDTH}=512")
    if extra:
        os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()
