"""Building blocks for typed patient-record schemas.

Any attrs class can serve as the record a guideline is checked against. The checker
(`typesys.py`) reads each field's annotation and its metadata:

- ``unit``: the unit a JSON number is given in (``"weeks"``, ``"years"``, ``"%"``); the
  field is then a quantity and compares only with quantities of the same dimension;
- ``min`` / ``max``: the inclusive range the loader enforces;
- ``doc``: one line shown in hints and docs.

Every fact is optional: a missing key or ``null`` is *unknown*, never false.

Example:
    >>> import attrs
    >>> @attrs.frozen
    ... class Exam:
    ...     pain: float | None = fact(min=0, max=10, doc="pain on a 0-10 scale")
    >>> attrs.fields(Exam).pain.metadata["max"]
    10
"""

from __future__ import annotations

import enum
from typing import Any

import attrs


class OrderedEnum(enum.Enum):
    """An enumeration whose members are ordered by declaration (spine levels).

    The checker allows ``<``, ``<=`` and ranges (``T11..L2``) on ordered enumerations only.
    """


def fact(
    *,
    unit: str | None = None,
    min: float | None = None,
    max: float | None = None,
    doc: str = "",
) -> Any:
    """Declare an optional record field (default ``None`` = unknown) with its metadata."""
    metadata: dict[str, Any] = {"doc": doc}
    if unit is not None:
        metadata["unit"] = unit
    if min is not None:
        metadata["min"] = min
    if max is not None:
        metadata["max"] = max
    return attrs.field(default=None, metadata=metadata)
