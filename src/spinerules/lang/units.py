"""Units of measure: each unit has a dimension and a factor to that dimension's base unit.

Quantities are carried at run time as plain floats in the base unit (days for durations,
percentage points for percentages), so comparisons cost nothing; the checker makes sure
only quantities of one dimension meet, and compile time does the conversions.

Example:
    >>> to_base(3, "months") > to_base(12, "weeks")
    True
"""

from __future__ import annotations

import math

#: unit spelling -> (dimension, factor to the base unit)
UNITS: dict[str, tuple[str, float]] = {
    "day": ("duration", 1.0),
    "days": ("duration", 1.0),
    "week": ("duration", 7.0),
    "weeks": ("duration", 7.0),
    "month": ("duration", 365.25 / 12),
    "months": ("duration", 365.25 / 12),
    "year": ("duration", 365.25),
    "years": ("duration", 365.25),
    "%": ("percent", 1.0),
    "percent": ("percent", 1.0),
}

#: the unit a dimension is shown in when nothing better is known
DISPLAY = {"duration": "days", "percent": "%"}

DIMENSION_NAMES = {"duration": "Duration", "percent": "Percent"}


def dimension(unit: str) -> str:
    """The dimension of a unit (``"weeks"`` -> ``"duration"``)."""
    return UNITS[unit][0]


def to_base(value: float, unit: str) -> float:
    """Convert a magnitude in ``unit`` to the dimension's base unit."""
    return value * UNITS[unit][1]


def from_base(value: float, unit: str) -> float:
    """Convert a base-unit magnitude back to ``unit``."""
    return value / UNITS[unit][1]


def format_quantity(base_value: float, unit: str) -> str:
    """Render a base-unit value in ``unit``: ``format_quantity(14, "weeks") == "2 weeks"``."""
    magnitude = from_base(base_value, unit)
    if not math.isfinite(magnitude):  # an infinite or NaN fact: no int() of it
        text = "NaN" if math.isnan(magnitude) else ("-" if magnitude < 0 else "") + "infinity"
    elif magnitude != int(magnitude) or abs(magnitude) >= 1e15:
        text = f"{magnitude:.4g}"
    else:
        text = str(int(magnitude))
    if unit == "%":
        return f"{text} %"
    if magnitude == 1 and unit.endswith("s"):
        return f"{text} {unit[:-1]}"
    return f"{text} {unit}"
