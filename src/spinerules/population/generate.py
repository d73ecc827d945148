"""Many generated patients, fast: Hypothesis draws a pool, seeded recombination multiplies it.

``patients_for(guideline)`` (``testing.strategies``) builds a record with ``st.builds``:
each field is drawn on its own (unknown about one time in five, numbers biased towards the
guideline's thresholds), nested records and list elements likewise. Drawing 100,000
records with Hypothesis takes minutes; so ``Recombiner`` draws a pool (a few hundred) and
then builds each new record field by field, every field's value taken from a randomly
chosen pool record's value at the same place (its own value or unknown), recursively for
nested records, with a list's length taken from one pool list and each element recombined
from the pool's elements. Every field then has the distribution the strategy gives it, the
fields are independent as in ``st.builds``, and the combinations are new ones: the
recombined population is a sample of the same distribution the strategy samples, with
field values restricted to those the pool drew (hundreds per field: every threshold the
strategy aims at is among them, as the pool is drawn with ``patients_for``). A seed makes
it repeatable.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import attrs


class Recombiner:
    """Records like those of ``pool``, recombined field by field."""

    def __init__(self, pool: list[Any]) -> None:
        if not pool:
            raise ValueError("an empty pool")
        self.cls = type(pool[0])
        self._plan = self._plan_of(self.cls, pool)

    def _plan_of(self, cls: type, values: list[Any]) -> list[tuple[str, Any]]:
        plan: list[tuple[str, Any]] = []
        for f in attrs.fields(cls):
            seen = [getattr(v, f.name) for v in values]
            records = [x for x in seen if x is not None and attrs.has(type(x))]
            lists = [x for x in seen if isinstance(x, tuple | list)]
            if records:
                sub = self._plan_of(type(records[0]), records)
                nones = sum(1 for x in seen if x is None)
                plan.append((f.name, ("record", type(records[0]), sub, nones, len(seen))))
            elif lists:
                elems = [e for lst in lists for e in lst]
                lengths = [len(x) if x is not None else -1 for x in seen]
                if elems and attrs.has(type(elems[0])):
                    sub = self._plan_of(type(elems[0]), elems)
                    plan.append((f.name, ("list", type(elems[0]), sub, lengths,
                                          type(lists[0]))))
                else:
                    plan.append((f.name, ("values", seen)))
            else:
                plan.append((f.name, ("values", seen)))
        return plan

    def _make(self, cls: type, plan: list[tuple[str, Any]], rnd: random.Random) -> Any:
        kwargs: dict[str, Any] = {}
        choice = rnd.choice
        for name, how in plan:
            kind = how[0]
            if kind == "values":
                kwargs[name] = choice(how[1])
            elif kind == "record":
                _, sub_cls, sub, nones, total = how
                kwargs[name] = None if rnd.randrange(total) < nones else \
                    self._make(sub_cls, sub, rnd)
            else:
                _, sub_cls, sub, lengths, container = how
                k = choice(lengths)
                kwargs[name] = None if k < 0 else container(
                    self._make(sub_cls, sub, rnd) for _ in range(k))
        return cls(**kwargs)

    def records(self, n: int, seed: int = 0, ids: str | None = "p") -> Iterator[Any]:
        """``n`` records (with ``id`` = ``ids`` + their number when the record has one)."""
        rnd = random.Random(seed)
        has_id = ids is not None and "id" in attrs.fields_dict(self.cls)
        for i in range(n):
            r = self._make(self.cls, self._plan, rnd)
            yield attrs.evolve(r, id=f"{ids}{i}") if has_id else r


def draw_pool(strategy: Any, size: int = 300, seed: int = 0) -> list[Any]:
    """``size`` records drawn by Hypothesis from ``strategy`` (``patients_for(guideline)``
    of ``spinerules.testing.strategies``), repeatably."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    pool: list[Any] = []

    @hseed(seed)
    @settings(max_examples=size, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), derandomize=False)
    @given(strategy)
    def draw(p: Any) -> None:
        pool.append(p)
    draw()
    return pool
