"""Model families (SPEC §2), one per module."""

from jaxcollapse.models.gaussian import Gaussian

FAMILIES = {"gaussian": Gaussian}

__all__ = ["FAMILIES", "Gaussian"]
