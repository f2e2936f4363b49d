"""jaxcollapse: self-consuming generative chains at scale, checked against theory."""

__version__ = "0.1.0"

from jaxcollapse._xla import configure_xla as _configure_xla

_configure_xla()

from jaxcollapse.models.gaussian import Gaussian, GaussianParams
from jaxcollapse.results import Results
from jaxcollapse.simulate import simulate
from jaxcollapse.workflows import WORKFLOWS, get_workflow

__all__ = [
    "WORKFLOWS",
    "Gaussian",
    "GaussianParams",
    "Results",
    "__version__",
    "get_workflow",
    "simulate",
]
