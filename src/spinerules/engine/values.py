"""Run-time values: plain Python values, plus ``Unknown`` for facts that are missing.

``Unknown`` carries the paths of the facts it came from, so an undecided rule can say
exactly what would decide it. Kleene's three-valued logic: ``false and unknown`` is
false, ``true and unknown`` is unknown.

Example:
    >>> k_and([True, Unknown(frozenset({"neuro.deficit"}))])
    Unknown(neuro.deficit)
    >>> k_and([False, Unknown(frozenset({"neuro.deficit"}))])
    False
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any


class Unknown:
    """A missing fact (or a value computed from one); ``paths`` name the facts."""

    __slots__ = ("paths",)

    def __init__(self, paths: frozenset[str] = frozenset()) -> None:
        self.paths = paths

    def __repr__(self) -> str:
        return f"Unknown({', '.join(sorted(self.paths))})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown) and other.paths == self.paths

    def __hash__(self) -> int:
        return hash(self.paths)


class Bounded(Unknown):
    """An undetermined score: unknown, but known to lie between ``low`` and ``high``.

    It is an ``Unknown`` everywhere, except that a comparison with a known number is decided
    when every total in the range gives the same answer (``decide_between``): a TLICS of
    5 to 7 is ``>= 5`` whichever value the missing component has.
    """

    __slots__ = ("high", "low")

    def __init__(self, paths: frozenset[str], low: float, high: float) -> None:
        super().__init__(paths)
        self.low = low
        self.high = high

    def __repr__(self) -> str:
        return f"Unknown({', '.join(sorted(self.paths))}; {self.low:g}..{self.high:g})"


#: the comparison operators of the language, by their spelling
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne}
FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def decide_between(op: str, low: float, high: float, b: float) -> bool | None:
    """``x op b`` for every ``x`` in ``low..high``: True, False, or None if it depends on x.

    Example:
        >>> decide_between(">=", 5, 7, 5), decide_between(">=", 3, 7, 5)
        (True, None)
        >>> decide_between("==", 1, 2, 4)
        False
    """
    if op in ("==", "!="):
        if b < low or b > high:
            return op == "!="
        if low == high == b:
            return op == "=="
        return None
    f = COMPARE[op]
    at_low, at_high = f(low, b), f(high, b)
    return at_low if at_low == at_high else None


def between_in(low: float, high: float, lo: float, hi: float) -> bool | None:
    """``x in lo..hi`` for every ``x`` in ``low..high``: True, False, or None."""
    if lo <= low and high <= hi:
        return True
    if high < lo or low > hi:
        return False
    return None


def merge(values: Iterable[Any]) -> Unknown:
    """One Unknown carrying the paths of all the Unknowns among ``values``."""
    paths: set[str] = set()
    for v in values:
        if isinstance(v, Unknown):
            paths |= v.paths
    return Unknown(frozenset(paths))


def _kleene(values: Iterable[Any], decisive: bool) -> Any:
    unknown: list[Unknown] = []
    for v in values:
        if v is decisive:
            return decisive
        if isinstance(v, Unknown):
            unknown.append(v)
    return merge(unknown) if unknown else not decisive


def k_and(values: Iterable[Any]) -> Any:
    """Kleene conjunction: false decides; otherwise unknown if any part is."""
    return _kleene(values, False)


def k_or(values: Iterable[Any]) -> Any:
    """Kleene disjunction: true decides; otherwise unknown if any part is."""
    return _kleene(values, True)


def k_not(value: Any) -> Any:
    """Kleene negation."""
    if isinstance(value, Unknown):
        return value
    return not value
