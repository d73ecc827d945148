"""The sum-score decision as it was first written: every reachable total enumerated
(the product of the components' possible points, as a set), each total tried on every
band. Kept as the oracle of ``values.SumBands``, which decides the same without
enumerating (tests/properties/test_sum_bands.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def enumerate_totals(points: Sequence[float | None], arms: Sequence[Sequence[float]]
                     ) -> set[float]:
    """Every total: a known component gives its points, an unknown one any arm's."""
    totals = {0.0}
    for p, comp in zip(points, arms, strict=True):
        options = {p} if p is not None else (set(comp) or {0.0})
        totals = {t + o for t in totals for o in options}
    return totals


def enumerating_decide(points: Sequence[float | None], arms: Sequence[Sequence[float]],
                       bands: Sequence[Callable[[float], bool]], keys: Sequence[Any]
                       ) -> tuple[float | None, float, float, bool, Any, tuple[Any, ...]]:
    """(value or None, low, high, decided?, the decided key, the pending keys in the order
    of the totals), as the evaluator computed them before ``SumBands``."""
    totals = enumerate_totals(points, arms)
    hits = []
    for t in sorted(totals):
        hit = next((k for band, k in zip(bands, keys, strict=True) if band(t)), None)
        hits.append(hit)
    distinct = list(dict.fromkeys(hits))
    low, high = min(totals), max(totals)
    value = low if len(totals) == 1 else None
    if len(distinct) == 1:
        return value, low, high, True, distinct[0], ()
    return value, low, high, False, None, tuple(k for k in distinct if k is not None)
