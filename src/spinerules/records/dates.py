"""The one form of a date the project reads from people: ``YYYY-MM-DD``.

``datetime.date.fromisoformat`` also takes ``20260218`` and ISO week dates (``2026-W07-3``)
from Python 3.11 on; a guideline's `today`, a record's dates and every ``--as-of`` read
only the plain form, so that the same text means the same day everywhere.
"""

from __future__ import annotations

import datetime
import re

__all__ = ["parse_iso_date"]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_iso_date(text: str) -> datetime.date | None:
    """A ``YYYY-MM-DD`` date, or None (ISO week dates and other forms are refused)."""
    if len(text) != 10 or not _DATE.fullmatch(text):
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None
