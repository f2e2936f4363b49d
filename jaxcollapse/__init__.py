"""jaxcollapse: self-consuming generative chains at scale, checked against theory."""

__version__ = "0.1.7"

from jaxcollapse._xla import configure_xla as _configure_xla

_configure_xla()

from jaxcollapse.models import FAMILIES  # noqa: E402
from jaxcollapse.models.bigram import Bigram  # noqa: E402
from jaxcollapse.models.categorical import Categorical  # noqa: E402
from jaxcollapse.models.gaussian import Gaussian, GaussianParams  # noqa: E402
from jaxcollapse.models.gmm import GMM  # noqa: E402
from jaxcollapse.models.kde import KDE  # noqa: E402
from jaxcollapse.models.linreg import LinReg  # noqa: E402
from jaxcollapse.results import Results  # noqa: E402
from jaxcollapse.simulate import simulate  # noqa: E402
from jaxcollapse.store import load  # noqa: E402
from jaxcollapse.sweep import run_sweep  # noqa: E402
from jaxcollapse.workflows import WORKFLOWS, get_workflow  # noqa: E402

__all__ = [
    "FAMILIES",
    "WORKFLOWS",
    "Bigram",
    "Categorical",
    "Gaussian",
    "GMM",
    "GaussianParams",
    "KDE",
    "LinReg",
    "Results",
    "__version__",
    "get_workflow",
    "load",
    "run_sweep",
    "simulate",
]
