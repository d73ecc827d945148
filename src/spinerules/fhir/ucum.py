"""The few UCUM units the mappings need, and conversion between them (no network, no service).

A unit is known by its UCUM code (``Cel``, ``[degF]``, ``mg/L``). Units of one dimension
convert by ``value * factor + offset`` into the dimension's base unit and back. Annotations in
braces (``{score}``, ``{T-score}``) are dimensionless, like ``1``.

Example:
    >>> round(convert(100.4, "[degF]", "Cel"), 6)
    38.0
    >>> convert(2, "wk", "d")
    14.0
"""

from __future__ import annotations

__all__ = ["UCUM_SYSTEM", "UNITS", "UnitError", "convert", "is_known"]

UCUM_SYSTEM = "http://unitsofmeasure.org"

#: UCUM code -> (dimension, factor, offset) into the dimension's base unit
UNITS: dict[str, tuple[str, float, float]] = {
    "Cel": ("temperature", 1.0, 0.0),
    "[degF]": ("temperature", 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "K": ("temperature", 1.0, -273.15),
    "mg/L": ("mass concentration", 1.0, 0.0),
    "mg/dL": ("mass concentration", 10.0, 0.0),
    "mm/h": ("rate", 1.0, 0.0),
    "mL/min/{1.73_m2}": ("filtration rate per body surface", 1.0, 0.0),
    "%": ("fraction", 1.0, 0.0),
    "wk": ("time", 7.0, 0.0),
    "d": ("time", 1.0, 0.0),
    "h": ("time", 1.0 / 24.0, 0.0),
    "a": ("age", 1.0, 0.0),
    "1": ("dimensionless", 1.0, 0.0),
}


class UnitError(ValueError):
    """A unit is not known, or the two units measure different things."""


def _lookup(unit: str) -> tuple[str, float, float]:
    if unit.startswith("{") and unit.endswith("}"):
        return UNITS["1"]
    try:
        return UNITS[unit]
    except KeyError:
        raise UnitError(f"unknown unit {unit!r}") from None


def is_known(unit: str) -> bool:
    """True if ``unit`` is in the table (or an annotation)."""
    try:
        _lookup(unit)
    except UnitError:
        return False
    return True


def convert(value: float, source: str, target: str) -> float:
    """``value`` in ``source`` units, expressed in ``target`` units."""
    if source == target:
        return float(value)
    dim_s, factor_s, offset_s = _lookup(source)
    dim_t, factor_t, offset_t = _lookup(target)
    if dim_s != dim_t:
        raise UnitError(f"cannot convert {source!r} ({dim_s}) to {target!r} ({dim_t})")
    base = value * factor_s + offset_s
    return (base - offset_t) / factor_t
