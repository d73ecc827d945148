"""Sum scores decided without enumerating every total (issue #18): ``values.SumBands``
gives the same value, range, band and pending bands as enumerating every reachable total
(``enumerating.py``, the evaluators' first version), for generated components, bands and
known or unknown inputs."""

from __future__ import annotations

import operator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spinerules.engine.values import UNDECIDED, SumBands

from .enumerating import enumerating_decide

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
       "==": operator.eq, "!=": operator.ne}

integral = st.integers(min_value=-6, max_value=12).map(float)
fractional = st.sampled_from([0.5, 1.25, 2.5, -0.5, 3.75])
point = st.one_of(integral, integral, fractional)


@st.composite
def band(draw: st.DrawFn) -> tuple[str, object]:
    """A band test as the language writes them: range, comparison, value, set, else."""
    kind = draw(st.sampled_from(["range", "cmp", "eq", "set", "else"]))
    if kind == "range":
        lo = draw(st.integers(-10, 30))
        hi = lo + draw(st.integers(0, 10))
        return f"{lo}..{hi}", (lambda lo, hi: lambda t: lo <= t <= hi)(lo, hi)
    if kind == "cmp":
        op, b = draw(st.sampled_from(sorted(OPS))), float(draw(st.integers(-10, 30)))
        return f"{op} {b}", (lambda f, b: lambda t: f(t, b))(OPS[op], b)
    if kind == "eq":
        v = float(draw(st.integers(-10, 30)))
        return f"== {v}", (lambda v: lambda t: t == v)(v)
    if kind == "set":
        vs = frozenset(float(x) for x in draw(st.lists(st.integers(-10, 30), max_size=4)))
        return f"in {sorted(vs)}", (lambda vs: lambda t: t in vs)(vs)
    return "else", lambda t: True


@st.composite
def case(draw: st.DrawFn) -> tuple[list[list[float]], list[object], list[object],
                                   list[float | None]]:
    arms = draw(st.lists(st.lists(point, min_size=1, max_size=5), min_size=1, max_size=7))
    bands = draw(st.lists(band(), max_size=5))
    # keys: codes, some repeated, some bands without one
    keys = [draw(st.sampled_from(["a", "b", "c", None])) for _ in bands]
    points: list[float | None] = []
    for comp in arms:
        choice = draw(st.integers(0, 2))
        points.append(None if choice == 0 else 0.0 if choice == 1 and
                      draw(st.booleans()) else draw(st.sampled_from(comp)))
    return arms, [f for _, f in bands], keys, points


@SETTINGS
@given(case())
def test_sum_bands_decide_as_enumeration(c: tuple[list[list[float]], list[object],
                                                 list[object], list[float | None]]) -> None:
    arms, bands, keys, points = c
    sums = SumBands(arms, bands, keys)  # type: ignore[arg-type]
    value, low, high, key, pending = sums.decide(points)
    want = enumerating_decide(points, arms, bands, keys)  # type: ignore[arg-type]
    assert (value, low, high) == want[:3]
    assert (key is not UNDECIDED) == want[3]
    if want[3]:
        assert key == want[4]
        assert pending == ()
    else:
        assert pending == want[5]
    # asked again (kept): the same answer
    assert sums.decide(points) == (value, low, high, key, pending)


def _at_most(cut: float) -> object:
    return lambda t: t <= cut


@settings(SETTINGS, max_examples=100)
@given(st.lists(st.lists(integral, min_size=2, max_size=4), min_size=8, max_size=14),
       st.data())
def test_many_unknown_components_use_bit_sets(arms: list[list[float]],
                                              data: st.DataObject) -> None:
    """Many unknown components (a product of up to 4**14 combinations): decided exactly,
    without enumerating the product, with the bands as cut points."""
    cuts = sorted(data.draw(st.lists(st.integers(-40, 120), min_size=1, max_size=4)))
    bands = [_at_most(c) for c in cuts]
    keys = [f"k{i}" for i in range(len(cuts))]
    sums = SumBands(arms, bands, keys)  # type: ignore[arg-type]
    assert sums.width >= 0  # integral: bit sets
    points = [None if data.draw(st.booleans()) else comp[0] for comp in arms]
    value, low, high, key, pending = sums.decide(points)
    want = enumerating_decide(points, arms, bands, keys)  # type: ignore[arg-type]
    assert (value, low, high) == want[:3]
    assert (key is not UNDECIDED) == want[3]
    assert (key if want[3] else pending) == (want[4] if want[3] else want[5])
