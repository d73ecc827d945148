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

from collections.abc import Iterable
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
