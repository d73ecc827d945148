"""A result of ``evaluate`` with the trace off makes its objects when first read
(``Result.later``, issue #18): whichever way it is read first (a field, equality, ``repr``,
JSON, pickling, ``attrs.evolve``, threads at once), it is the result the closures build."""

from __future__ import annotations

import datetime
import pickle
import threading
from typing import Any

import attrs
import pytest

import spinerules
from spinerules.api import Guideline

AS_OF = datetime.date(2026, 2, 18)
FOUNDING = {"id": "founding", "age": 74, "sex": "female",
            "fractures": [{"level": "L1", "height_loss_pct": 22, "mechanism": "low_energy",
                           "marrow_edema": True}]}


@pytest.fixture(scope="module")
def vcf() -> Guideline:
    return spinerules.load("vcf", warm=True)


def reference(g: Guideline, data: dict[str, Any]) -> spinerules.Result:
    """The closures' result (no generated code), built whole."""
    plain = attrs.evolve(g, plan=attrs.evolve(g.plan, decisions=None))
    result = plain.evaluate(data, as_of=AS_OF)
    assert result._later is None
    return result


def fresh(g: Guideline) -> spinerules.Result:
    result = g.evaluate(dict(FOUNDING), as_of=AS_OF)
    assert result._later is not None  # nothing built yet
    return result


READS = {
    "a field": lambda r: r.missing,
    "the guideline block": lambda r: r.guideline,
    "the date": lambda r: r.as_of,
    "equality": lambda r: r == r,
    "repr": repr,
    "to_json": lambda r: r.to_json(),
    "pickling": lambda r: pickle.loads(pickle.dumps(r)),
    "attrs.evolve": lambda r: attrs.evolve(r, provenance={"x": 1}),
    "attrs.asdict": attrs.asdict,
}


@pytest.mark.parametrize("how", sorted(READS))
def test_any_first_read_gives_the_whole_result(vcf: Guideline, how: str) -> None:
    result = fresh(vcf)
    READS[how](result)
    assert result._later is None
    assert result.dumps() == reference(vcf, FOUNDING).dumps()
    assert result == reference(vcf, FOUNDING)


def test_codes_before_building_are_the_built_ones(vcf: Guideline) -> None:
    result = fresh(vcf)
    codes = result.codes()
    assert result._later is not None  # (read without building)
    assert codes == {r.code for r in result.recommendations}
    assert codes == reference(vcf, FOUNDING).codes()
    assert "genant_grade_1" in codes


def test_a_pickled_result_is_whole(vcf: Guideline) -> None:
    again = pickle.loads(pickle.dumps(fresh(vcf)))
    assert again._later is None
    assert again.dumps() == reference(vcf, FOUNDING).dumps()


def test_threads_reading_at_once_see_one_result(vcf: Guideline) -> None:
    expected = reference(vcf, FOUNDING).dumps()
    for _ in range(20):
        assert _read_at_once(fresh(vcf), 4) == [expected] * 4


def _read_at_once(result: spinerules.Result, n: int) -> list[str]:
    """``result.dumps()`` from ``n`` threads released together."""
    seen: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def read() -> None:
        try:
            start.wait()
            seen.append(result.dumps())
        except BaseException as exc:  # (shown below)
            errors.append(exc)
    threads = [threading.Thread(target=read) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return seen


def test_an_unknown_attribute_is_still_an_error(vcf: Guideline) -> None:
    result = fresh(vcf)
    with pytest.raises(AttributeError, match="no_such_field"):
        result.no_such_field  # noqa: B018
    assert not hasattr(result, "no_such_field")
    assert result._later is not None  # (asking for something else built nothing)
