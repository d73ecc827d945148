"""Patients for the property search to start from, built by the solver (aimed sampling).

Uniform drawing of a dozen known facts and two thresholds almost never lands in the narrow
band where a deep conjunction holds. The solver builds one record per target instead:

- each rule firing (every rule that can fire);
- each invariant's codes: each code firing while the invariant's condition holds;
- each MC/DC pair of a rule with several conditions: the rule firing, and each condition
  false while the others hold (the record that shows the condition matters).

``testing.properties.around`` then searches near these records. The seeds are built for one
``as_of`` (the property search's date).
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

import z3  # type: ignore[import-untyped]

from spinerules.verify.encode import Encoder, Unsupported, rule_parts

if TYPE_CHECKING:
    from spinerules.api import Guideline


def aimed_seeds(g: Guideline, *, as_of: datetime.date, max_list: int = 3,
                mcdc: bool = True) -> list[dict[str, Any]]:
    """Seed records (JSON) for ``g`` at ``as_of``: see the module's docstring. A guideline
    the encoding does not cover gets no seeds (the search is then uniform, as before)."""
    try:
        enc = Encoder(g.checked, max_list=max_list).encode()
    except Unsupported:
        return []
    solver = z3.Solver()
    solver.add(*enc.base, enc.as_of == as_of.toordinal())
    goals: list[Any] = []
    for rule in enc.all_rules():
        goals.append(enc.rule_fires(rule))
    for inv, when in enc.invariants:
        for code in inv.codes:
            goals.append(z3.And(enc.fired(code), when.t) if when is not None
                         else enc.fired(code))
        if when is not None:
            goals.append(when.t)
    if mcdc:
        for ri in enc.rules:
            if ri.env is None:
                continue
            parts = rule_parts(ri.rule)
            if len(parts) < 2:
                continue
            values = [(enc.expr(p, ri.env), needed) for p, needed in parts]
            for i in range(len(values)):
                others = [v.t if needed else v.f for j, (v, needed) in enumerate(values)
                          if j != i]
                v, needed = values[i]
                goals.append(z3.And(ri.active, v.f if needed else v.t, *others))
    seeds: dict[str, dict[str, Any]] = {}
    for goal in goals:
        solver.push()
        solver.add(goal)
        if solver.check() == z3.sat:
            record, _ = enc.witness(solver.model())
            seeds.setdefault(json.dumps(record, sort_keys=True), record)
        solver.pop()
    return list(seeds.values())


