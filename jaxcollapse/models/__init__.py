"""Model families (SPEC §2), one per module."""

from jaxcollapse.models.categorical import Categorical
from jaxcollapse.models.gaussian import Gaussian
from jaxcollapse.models.kde import KDE
from jaxcollapse.models.linreg import LinReg

FAMILIES = {
    "gaussian": Gaussian,
    "kde": KDE,
    "categorical": Categorical,
    "linreg": LinReg,
}

__all__ = ["FAMILIES", "KDE", "Categorical", "Gaussian", "LinReg"]
