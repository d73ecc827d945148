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


#: ``SumBands.decide``'s answer when the reachable totals fall in more than one band
UNDECIDED: Any = object()

#: the widest range of integral totals decided with bit sets (beyond it: sets of totals)
_MAX_WIDTH = 4096


class SumBands:
    """The bands of one sum score, decided from its components' points without
    enumerating every combination.

    ``components`` are the points of each component's arms; ``bands`` the band tests in
    order (the first that holds gives the band) and ``keys`` what each band stands for
    (a code, an action; None for a band without an action). ``decide`` takes, per
    component, its points when its input is known (0 when no arm matched) or None when
    it is not (then any of its arms' points is possible), and returns the value when only
    one total is reachable, the range of the totals, the key every reachable total gives
    (``UNDECIDED`` if they differ) and, when undecided, the keys they give in the order of
    the totals.

    The range is the sum of the components' minima and maxima (linear in the number of
    components). When only one total is reachable, its band is the decision. Otherwise
    the reachable totals are computed by dynamic programming, component by component:
    as a bit set, one shift per possible points value, when every value is integral (the
    common case), else as a set of totals. Either way the decision is exact: a band is
    given only when every reachable total falls in it.

    Example:
        >>> sb = SumBands([(0, 2, 3), (0, 1)], [lambda t: t <= 2, lambda t: t >= 3],
        ...               ["low", "high"])
        >>> sb.decide([2, 1])
        (3.0, 3.0, 3.0, 'high', ())
        >>> sb.decide([None, 1])[:4]
        (None, 1.0, 4.0, <object ...>)
        >>> sb.decide([None, 1])[4]
        ('low', 'high')
        >>> sb.decide([3, None])[:4]
        (None, 3.0, 4.0, 'high')
    """

    __slots__ = ("bands", "comps", "known", "lowest", "masks", "width")

    #: decisions kept per combination of points (a pure function of them): a guideline
    #: meets the same few combinations again and again (all unknown, most often)
    KEEP = 512

    def __init__(self, components: Iterable[Iterable[float]],
                 bands: Iterable[Callable[[float], bool]], keys: Iterable[Any]) -> None:
        self.bands = tuple(zip(bands, keys, strict=True))
        # per component: its lowest and highest points, the distinct points, and their
        # distances from the lowest (None unless all integral)
        comps = []
        integral = True
        lowest = highest = 0.0  # (a known input that matches no arm gives 0 points)
        for c in components:
            pts = tuple(dict.fromkeys(c)) or (0.0,)
            lo, hi = min(pts), max(pts)
            shifts = tuple(p - lo for p in pts)
            ok = all(float(x).is_integer() for x in shifts)
            integral = integral and ok and all(float(p).is_integer() for p in pts)
            comps.append((lo, hi, pts, tuple(int(x) for x in shifts) if ok else None))
            lowest += min(lo, 0.0)
            highest += max(hi, 0.0)
        self.comps = tuple(comps)
        self.known: dict[tuple[float | None, ...],
                         tuple[float | None, float, float, Any, tuple[Any, ...]]] = {}
        self.lowest = lowest
        self.width = -1  # no bit sets
        self.masks: tuple[tuple[Any, int], ...] = ()
        if not integral or highest - lowest > _MAX_WIDTH:
            return
        width = int(highest - lowest)
        masks: dict[Any, int] = {}
        for k in range(width + 1):
            key = self.band(lowest + k)
            masks[key] = masks.get(key, 0) | (1 << k)
        self.width, self.masks = width, tuple(masks.items())

    def band(self, total: float) -> Any:
        """The key of the first band holding ``total`` (None if none does)."""
        for test, key in self.bands:
            if test(total):
                return key
        return None

    def decide(self, points: Iterable[float | None]
               ) -> tuple[float | None, float, float, Any, tuple[Any, ...]]:
        """(value or None, low, high, the decided key or ``UNDECIDED``, pending keys)."""
        given = tuple(points)
        try:
            return self.known[given]
        except KeyError:
            pass
        out = self._decide(given)
        if len(self.known) >= self.KEEP:
            self.known.clear()
        self.known[given] = out
        return out

    def _decide(self, given: tuple[float | None, ...]
                ) -> tuple[float | None, float, float, Any, tuple[Any, ...]]:
        low = high = 0.0
        for p, comp in zip(given, self.comps, strict=True):
            if p is None:
                low += comp[0]
                high += comp[1]
            else:
                low += p
                high += p
        if low == high:  # one reachable total
            return low, low, high, self.band(low), ()
        ordered = self._bits(given, low, high) if self.width >= 0 else None
        if ordered is None:
            ordered = self._sets(given)
        if len(ordered) == 1:
            return None, low, high, ordered[0], ()
        return None, low, high, UNDECIDED, tuple(k for k in ordered if k is not None)

    def _bits(self, given: tuple[float | None, ...], low: float, high: float
              ) -> list[Any] | None:
        """The keys of the reachable totals, lowest total first, from bit sets (None when
        a total falls outside the range the bands were laid out for)."""
        if low < self.lowest or high > self.lowest + self.width:
            return None
        reach = 1  # bit k: the total low + k is reachable
        for p, comp in zip(given, self.comps, strict=True):
            if p is None:
                shifts = comp[3]
                if shifts is None:  # (never: bit sets need every shift integral)
                    return None
                if len(shifts) > 1:
                    step = 0
                    for shift in shifts:
                        step |= reach << shift
                    reach = step
        offset = low - self.lowest
        if offset != int(offset):
            return None
        reach <<= int(offset)
        found = []
        for key, mask in self.masks:
            hit = reach & mask
            if hit:
                found.append(((hit & -hit).bit_length(), key))
        found.sort(key=_first)
        return [k for _, k in found]

    def _sets(self, given: tuple[float | None, ...]) -> list[Any]:
        """The keys of the reachable totals, lowest total first, from sets of totals."""
        totals = {0.0}
        for p, comp in zip(given, self.comps, strict=True):
            opts = comp[2] if p is None else (p,)
            totals = {t + o for t in totals for o in opts}
        return list(dict.fromkeys(self.band(t) for t in sorted(totals)))


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]
