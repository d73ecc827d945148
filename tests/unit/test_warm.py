"""A guideline loaded with ``warm=True`` has generated its code already (issue #18): the fast
path, the decisions of ``evaluate`` and the trace's values, so that no first call pays for it.
By default nothing is generated at load: each is made on first use (a one-shot command pays
for one of them only)."""

from __future__ import annotations

import datetime

import spinerules


def test_load_generates_every_function() -> None:
    g = spinerules.load("vcf", warm=True)
    assert g.fast.fn is not None
    assert g.fast.json_fn is not None  # (codes() of a record given as JSON)
    assert g.plan.decisions is not None and g.plan.decisions._fn is not None
    assert g.plan.values is not None and g.plan.values._fn is not None
    fns = (g.fast.fn, g.fast.json_fn, g.plan.decisions._fn, g.plan.values._fn)
    record = {"age": 74, "fractures": [{"level": "L1", "height_loss_pct": 22}]}
    as_of = datetime.date(2026, 2, 18)
    g.codes(record, as_of=as_of)
    g.evaluate(record, as_of=as_of)
    g.evaluate(record, as_of=as_of, trace=True)
    # the same functions: none made again on first use
    assert (g.fast.fn, g.fast.json_fn, g.plan.decisions._fn, g.plan.values._fn) == fns


def test_loads_warms_when_asked() -> None:
    text = ('guideline tiny "Tiny"\n  version "1"\n  record spine.Patient\n'
            '  status draft\n  review 2027-01-01\n  description "x"\n'
            'source S:\n  title "A source" year 2020 doi "10.1/s"\n'
            'rule old:\n  when patient.age >= 80 years\n  warn frail "Frail."\n    cite S\n')
    g = spinerules.loads(text, warm=True)
    assert g.fast.fn is not None
    assert g.plan.decisions is not None and g.plan.decisions._fn is not None
    assert g.evaluate({"age": 85}, as_of="2026-02-18").codes() == {"frail"}


def test_by_default_code_is_generated_on_first_use() -> None:
    g = spinerules.load("vcf")
    assert g.fast.fn is None
    assert g.plan.values is not None and g.plan.values._fn is None
    record = {"age": 74, "fractures": [{"level": "L1", "height_loss_pct": 22}]}
    as_of = datetime.date(2026, 2, 18)
    assert g.codes(record, as_of=as_of) == g.evaluate(record, as_of=as_of).codes()
    assert g.fast.fn is not None  # made by the first `codes`
    assert g.plan.values._fn is None  # no trace asked for: not made
