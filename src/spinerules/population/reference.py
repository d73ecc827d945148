"""The Python engine's results in the shape of the SQL query's rows, for parity checks
and for ``spinerules population --engine python`` (the reference).

A row: ``patient``, ``codes``, ``missing`` (the guideline's own requests; the engine's
``record_missing_facts`` request is not part of the SQL translation and is left out),
``fired`` and ``undetermined`` (rule ids, from the engine's trace and its list of
undetermined rules), ``scores`` (name -> (value, low, high)).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from spinerules.engine.result import ASK_CODE

Row = dict[str, Any]


def python_row(guideline: Any, record: Any, as_of: datetime.date,
               rule_ids: frozenset[str]) -> Row:
    """One patient through ``Guideline.evaluate`` with the trace on (each rule's outcome)."""
    res = guideline.evaluate(record, as_of=as_of, trace=True)
    fired = {o.rule for o in res.trace.outcomes if o.status == "fire" and o.rule in rule_ids}
    return {
        "patient": getattr(record, "id", None),
        "codes": sorted(res.codes()),
        "missing": sorted(res.missing_codes() - {ASK_CODE}),
        "fired": sorted(fired),
        "undetermined": sorted({u.rule for u in res.undetermined if u.rule in rule_ids}),
        "scores": {k: (v.value, v.low, v.high) for k, v in res.scores.items()},
    }


def sql_row(row: Mapping[str, Any]) -> Row:
    """A row of the SQL query (as a mapping of its columns) in the same shape."""
    return {
        "patient": row["patient"],
        "codes": sorted(row["codes"] or ()),
        "missing": sorted(row["missing"] or ()),
        "fired": sorted(set(row["fired"] or ())),
        "undetermined": sorted(set(row["undetermined"] or ())),
        "scores": {s["name"]: (s["value"], s["low"], s["high"]) for s in row["scores"] or ()},
    }


def compare(expected: Iterable[Row], got: Iterable[Row]) -> tuple[int, dict[str, int],
                                                                  list[str]]:
    """Patients compared, mismatches per part (codes, missing, fired, undetermined,
    scores, patient absent) and the first few differences described."""
    by_patient = {r["patient"]: r for r in got}
    counts: dict[str, int] = {}
    examples: list[str] = []
    n = 0
    for e in expected:
        n += 1
        g = by_patient.get(e["patient"])
        if g is None:
            counts["absent"] = counts.get("absent", 0) + 1
            continue
        for part in ("codes", "missing", "fired", "undetermined", "scores"):
            if e[part] != g[part]:
                counts[part] = counts.get(part, 0) + 1
                if len(examples) < 10:
                    examples.append(f"{e['patient']}: {part}: python {e[part]!r}, "
                                    f"sql {g[part]!r}")
    return n, counts, examples
