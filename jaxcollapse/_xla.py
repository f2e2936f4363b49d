"""XLA settings that jaxcollapse's reproducibility relies on.

XLA's newer CPU fusion emitters may contract a multiply and an add into one
fused multiply-add in one compiled program and not in another (the choice
follows fusion boundaries, which differ once a program is partitioned over
several devices). Each is correct, but the last bits differ, and jaxcollapse
promises the same numbers for the same seed on any chunk size and device count.
The classic emitters round every operation separately, and measured no slower
on our Gaussian workloads (benchmarks/README.md), so we ask for them. The flag
must be in XLA_FLAGS before JAX starts its CPU backend; a user who sets
XLA_FLAGS themselves keeps their own choice of this flag.
"""

import os

FLAG = "--xla_cpu_use_fusion_emitters"


def configure_xla() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if FLAG not in flags:
        os.environ["XLA_FLAGS"] = (flags + f" {FLAG}=false").strip()
