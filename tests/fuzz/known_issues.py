"""Engine bugs the fuzzers already found (logged for the lead in /tmp/engine-issues.md).

Each entry recognises one bug by the exception and the engine function it escapes from, and
names its strict-xfail regression test in tests/unit/test_hardening.py. Delete the entry
when that test starts to pass (strict xfail makes the fix visible as XPASS).
"""

from __future__ import annotations

from .harness import EngineFault, KnownIssue


def _quantity_text(exc: BaseException, frames: list[str]) -> bool:
    return isinstance(exc, OverflowError | ValueError) and "units.py:format_quantity" in frames


def _date_overflow(exc: BaseException, frames: list[str]) -> bool:
    """``date + duration`` leaving 1..9999, or a duration too large for ``timedelta``."""
    in_arith = "compile.py:fn" in frames or any(f.endswith(":_fast") for f in frames)
    return isinstance(exc, OverflowError) and in_arith


def _non_finite_json(exc: BaseException, frames: list[str]) -> bool:
    return isinstance(exc, EngineFault) and "result JSON contains" in str(exc)


def _score_cycle(exc: BaseException, frames: list[str]) -> bool:
    return isinstance(exc, UnboundLocalError) and any(f.endswith(":_fast") for f in frames)


def _table_score_source(exc: BaseException, frames: list[str]) -> bool:
    return isinstance(exc, KeyError) and "evaluate.py:<genexpr>" in frames


def _wrapped_recursion(exc: BaseException, frames: list[str]) -> bool:
    from lark.exceptions import VisitError

    return isinstance(exc, VisitError) and isinstance(exc.orig_exc, RecursionError)


KNOWN: tuple[KnownIssue, ...] = (
    KnownIssue("infinite or NaN quantity in a reason (units.format_quantity)",
               "test_hardening.py::test_non_finite_quantity_in_reasons", _quantity_text),
    KnownIssue("date arithmetic out of range (compile.arith, codegen)",
               "test_hardening.py::test_date_arithmetic_out_of_range", _date_overflow),
    KnownIssue("Infinity/NaN in result JSON (Result.dumps)",
               "test_hardening.py::test_result_json_is_strict", _non_finite_json),
    KnownIssue("score that depends on itself (check, codegen)",
               "test_hardening.py::test_score_cycle_is_a_check_error", _score_cycle),
    KnownIssue("undeclared source cited by a table score (check, Planner.plan)",
               "test_corpus.py::test_bad_guideline[table_score_unknown_source]",
               _table_score_source),
    KnownIssue("deep nesting: RecursionError inside a lark callback escapes as VisitError",
               "test_hardening.py::test_deep_nesting_never_escapes_as_a_lark_error",
               _wrapped_recursion),
)
