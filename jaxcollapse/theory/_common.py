"""Helpers shared by the theory modules."""

import math


def scalar(value):
    """A setting as a finite float, or None (a list of values, i.e. a grid run,
    or anything non-numeric: no single closed form)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
