"""Model families (SPEC §2), one per module."""

from jaxcollapse.models.bigram import Bigram
from jaxcollapse.models.categorical import Categorical
from jaxcollapse.models.gaussian import Gaussian
from jaxcollapse.models.gmm import GMM
from jaxcollapse.models.kde import KDE
from jaxcollapse.models.linreg import LinReg

FAMILIES = {
    "gaussian": Gaussian,
    "kde": KDE,
    "categorical": Categorical,
    "gmm": GMM,
    "linreg": LinReg,
    "bigram": Bigram,
}

__all__ = ["FAMILIES", "GMM", "KDE", "Bigram", "Categorical", "Gaussian", "LinReg"]
