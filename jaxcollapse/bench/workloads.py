"""The benchmarked workloads: each family x workflow setting at a full and a
--quick size, with the baselines that simulate the same chains
(baselines.py) and how many normal draws a chain-generation makes."""

from dataclasses import dataclass, field

from jaxcollapse.bench import baselines as bl


@dataclass(frozen=True)
class Workload:
    """One benchmarked setting. sizes: (num_chains, num_samples, T) for the
    full run, for --quick and (where set) for --gpu, issue 6's accelerator
    sizes; base: baseline name -> (function, chains full, chains quick; --gpu
    runs the quick count); draws: normal draws per chain-generation as a
    multiple of n
    (None where normal draws are not the cost)."""

    name: str
    family: str
    workflow: str
    full: tuple
    quick: tuple
    metric: str
    exact_path: str = "auto"
    settings: dict = field(default_factory=dict)
    base: dict = field(default_factory=dict)
    draws: float | None = None
    gpu: tuple | None = None

    def sizes(self, preset: str):
        return {"full": self.full, "quick": self.quick, "gpu": self.gpu}[preset]

    def model(self):
        import jaxcollapse as jc

        maker = {
            "gaussian": lambda: jc.Gaussian(dim=1, ddof=0),
            "kde": lambda: jc.KDE(dim=1, bandwidth=0.1),
            "categorical": lambda: jc.Categorical(categories=100, zipf=1.1),
            "gmm": lambda: jc.GMM(components=2),
            "linreg": lambda: jc.LinReg(dim=10),
            "bigram": lambda: jc.Bigram(),
        }
        return maker[self.family]()


def _gauss(kind, workflow, vec_block):
    if kind == "loop":
        return lambda c, n, T, seed: bl.gaussian_per_chain(c, n, T, seed, workflow)
    return lambda c, n, T, seed: bl.gaussian_vectorised(
        c, n, T, seed, vec_block, workflow
    )


def _kde(kind, workflow, num_test):
    fn = bl.kde_per_chain if kind == "loop" else bl.kde_sklearn_per_chain
    return lambda c, n, T, seed: fn(c, n, T, 0.1, num_test, seed, workflow)


def _categorical(c, n, T, seed):
    return bl.categorical_per_chain(c, n, T, 100, 1.1, seed)


def _gmm(c, n, T, seed):
    return bl.gmm_per_chain(c, n, T, seed, components=2, em_steps=20, num_test=500)


def _linreg(c, n, T, seed):
    return bl.linreg_per_chain(c, n, T, seed, dim=10, workflow="accumulate")


def _bigram(c, n, T, seed):
    return bl.bigram_per_chain(c, n, T, seed, vocab=16, seq_len=32, train_steps=50)


WORKLOADS = (
    Workload(
        "gaussian replace, sample-level",
        "gaussian",
        "replace",
        (100_000, 100, 100),
        (20_000, 100, 50),
        "std",
        exact_path="off",
        gpu=(1_000_000, 1000, 1000),
        base={
            "loop": (_gauss("loop", "replace", 0), 200, 50),
            "vec": (_gauss("vec", "replace", 1000), 10_000, 4000),
        },
        draws=1.0,
    ),
    Workload(
        "gaussian replace, exact path",
        "gaussian",
        "replace",
        (1_000_000, 1000, 100),
        (200_000, 1000, 50),
        "std",
        exact_path="on",
        gpu=(100_000_000, 1000, 1000),
        base={
            "loop": (_gauss("loop", "replace", 0), 200, 50),
            "vec": (_gauss("vec", "replace", 100), 2000, 400),
        },
    ),
    Workload(
        "gaussian accumulate, sample-level",
        "gaussian",
        "accumulate",
        (100_000, 100, 100),
        (20_000, 100, 50),
        "std",
        exact_path="off",
        base={
            "loop": (_gauss("loop", "accumulate", 0), 100, 20),
            "vec": (_gauss("vec", "accumulate", 1000), 10_000, 4000),
        },
        draws=1.0,
    ),
    Workload(
        "gaussian accumulate-subsample, sample-level",
        "gaussian",
        "accumulate-subsample",
        (10_000, 100, 50),
        (2000, 100, 20),
        "std",
        exact_path="off",
    ),
    Workload(
        "kde replace (h=0.1, 500 test points)",
        "kde",
        "replace",
        (20_000, 100, 50),
        (4000, 100, 20),
        "test_nll",
        settings={"num_test": 500},
        base={
            "loop": (_kde("loop", "replace", 500), 100, 20),
            "sklearn": (_kde("sklearn", "replace", 500), 20, 5),
        },
    ),
    Workload(
        "kde accumulate (h=0.1, 100 test points)",
        "kde",
        "accumulate",
        (5000, 100, 30),
        (1000, 100, 10),
        "test_nll",
        gpu=(100_000, 100, 100),
        settings={"num_test": 100},
        base={
            "loop": (_kde("loop", "accumulate", 100), 50, 10),
            "sklearn": (_kde("sklearn", "accumulate", 100), 10, 3),
        },
    ),
    Workload(
        "categorical replace (K=100, zipf 1.1)",
        "categorical",
        "replace",
        (100_000, 100, 100),
        (20_000, 100, 50),
        "entropy",
        base={"loop": (_categorical, 1000, 200)},
    ),
    Workload(
        "gmm replace (2 components, 20 EM steps)",
        "gmm",
        "replace",
        (20_000, 100, 50),
        (4000, 100, 20),
        "test_nll",
        base={"loop": (_gmm, 16, 10)},
    ),
    *(
        Workload(
            f"linreg accumulate (d=10), {path}",
            "linreg",
            "accumulate",
            (20_000, 100, 50),
            (4000, 100, 20),
            "test_error",
            exact_path=setting,
            base={"loop": (_linreg, 500, 400)},
        )
        for path, setting in (("sample-level", "off"), ("exact path", "on"))
    ),
    Workload(
        "bigram replace (V=16, L=32, 50 Adam steps)",
        "bigram",
        "replace",
        (4000, 64, 20),
        (1000, 64, 5),
        "test_nll",
        base={"loop": (_bigram, 30, 30)},
    ),
)
