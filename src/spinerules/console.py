"""What every command of the command line shares, for the wings' own commands too
(``fhir``, ``population``, ``sql``, ``verify``): a failure is one message on standard error
and an exit code, and ``--as-of`` reads one form of date, the one ``spinerules eval``
reads. Only click and the date parser are imported (the bottom layer: any wing may use it).
"""

from __future__ import annotations

import datetime
import sys
from typing import NoReturn

import click

from spinerules.records.dates import parse_iso_date

__all__ = ["as_of_day", "fail"]


def fail(message: str, code: int) -> NoReturn:
    """Print ``message`` on standard error and exit with ``code``."""
    click.echo(message, err=True)
    sys.exit(code)


def as_of_day(value: str | None, usage_code: int) -> datetime.date:
    """The day ``--as-of`` names (today when it is not given), or a usage error: only
    ``YYYY-MM-DD`` (not ``20260218``, ``2026-W07-3`` or ``2026-02-18T00:00``)."""
    if value is None:
        return datetime.date.today()
    day = parse_iso_date(value)
    if day is None:
        fail(f"error: --as-of expects a date like 2026-02-18, got {value!r}", usage_code)
    return day
