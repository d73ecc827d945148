"""Shared fixtures: a small record schema for engine tests, independent of the spine domain."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

import spinerules
from spinerules.records.schema import OrderedEnum, fact

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime.date(2026, 2, 18)


class Level(OrderedEnum):
    T10 = "T10"
    T11 = "T11"
    T12 = "T12"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"


class Kind(enum.Enum):
    compression = "compression"
    burst = "burst"
    distraction = "distraction"


@attrs.frozen(kw_only=True)
class Item:
    level: Level | None = fact()
    loss: float | None = fact(unit="%", min=0, max=100)
    weeks: float | None = fact(unit="weeks", min=0)
    edema: bool | None = fact()
    kind: Kind | None = fact()


@attrs.frozen(kw_only=True)
class Rec:
    id: str | None = fact()
    age: int | None = fact(unit="years", min=0, max=120)
    pain: float | None = fact(min=0, max=10)
    flag: bool | None = fact()
    other: bool | None = fact()
    seen: datetime.date | None = fact()
    items: tuple[Item, ...] | None = fact()


RECORDS = {"test.Rec": Rec}

HEADER = """guideline t "Test"
  version "0"
  record test.Rec
source S:
  title "A source" year 2020 doi "10.1/s"
source T:
  title "Another" year 2021 pmid "1"
"""


def load_text(body: str, name: str = "t.rules") -> spinerules.Guideline:
    """Load a guideline made of HEADER plus ``body``."""
    return spinerules.loads(HEADER + body, name=name, records=RECORDS)


@pytest.fixture
def make() -> Callable[[str], spinerules.Guideline]:
    return load_text
