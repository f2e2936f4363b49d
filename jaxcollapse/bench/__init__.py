"""Benchmarks that ship with the package (`jaxcollapse bench`): the baselines,
the machine's ceilings (roofline), the workload suite and the scaling curves."""
