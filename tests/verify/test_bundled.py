"""`spinerules verify` on every bundled guideline: every invariant proved (lists of up to
3 fractures), and every other finding explained here, with its witness confirmed."""

from __future__ import annotations

import pytest

import spinerules
from spinerules.api import bundled_guidelines
from spinerules.lang import nodes as n

pytest.importorskip("z3")

from spinerules.verify.analyse import verify

WAITS = ("deliberate: the rule waits until the fact is recorded (a missing {what} is not "
         "read as {no}), and the result asks for it")

#: (guideline, kind, subject) -> why the finding stands
EXPLAINED: dict[tuple[str, str, str], str] = {}
for _g in ("vcf", "spine"):
    EXPLAINED.update({
        (_g, "false_test", "S1.healed_fracture"): WAITS.format(
            what="MRI", no="'no marrow edema'"),
        (_g, "false_test", "S15.dexa_scan"): WAITS.format(
            what="DXA status", no="'not done'") + " (S15.dexa_status_missing)",
        (_g, "false_test", "S29.osteoporosis_not_evaluated"): WAITS.format(
            what="DXA or treatment status", no="'none'"),
        (_g, "false_test", "S16.start_pharmacotherapy"): WAITS.format(
            what="treatment status", no="'not treated'"),
        (_g, "false_test", "S16.egfr_missing"): WAITS.format(
            what="treatment status", no="'not treated'"),
    })
for _g in ("trauma", "pathologic"):
    EXPLAINED[(_g, "false_test", "S1.healed_fracture")] = WAITS.format(
        what="MRI", no="'no marrow edema'")
EXPLAINED[("spine", "subsumed", "pathologic.neuro_exam_missing")] = (
    "the pathologic entry's own request for the examination; inside `spine` the vcf request "
    "(S2.neuro_exam_missing, same code) asks whenever it would: kept so that `pathologic` "
    "asks on its own")

NAMES = [b.name for b in bundled_guidelines()]


@pytest.mark.parametrize("name", NAMES)
def test_bundled_guideline_verifies(name: str) -> None:
    g = spinerules.load(name)
    report = verify(g, max_list=3)
    assert not report.diagnostics, report.diagnostics
    invariants = [i for i in g.checked.program.items()
                  if isinstance(i, n.Invariant)]
    assert set(report.proved) == {i.name for i in invariants}, [
        f.message for f in report.findings if f.kind == "invariant"]
    assert not report.internal_errors, [f.problem for f in report.internal_errors]
    found = {(name, f.kind, f.subject) for f in report.findings}
    unexplained = found - set(EXPLAINED)
    assert not unexplained, sorted(unexplained)
    stale = {k for k in EXPLAINED if k[0] == name} - found
    assert not stale, f"explained but no longer found: {sorted(stale)}"
