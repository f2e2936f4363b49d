"""The benchmark suite: every family x workflow workload against the NumPy /
scikit-learn baselines and the machine's RNG and memory ceilings, in one
process (the same as `jaxcollapse bench`; the code is jaxcollapse/bench/).

    python benchmarks/run.py --quick             # under 10 minutes on 2 CPU cores
    python benchmarks/run.py --json out.json     # full sizes, with a JSON record
    python benchmarks/run.py --only kde          # workloads whose name has "kde"
"""

import sys

from jaxcollapse.bench.suite import main

if __name__ == "__main__":
    sys.exit(main())
