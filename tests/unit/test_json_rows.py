"""``codes()`` on JSON keeps the values a guideline reads of each element of a list of
records in a tuple, its row, made as the element is checked (``codegen.JsonGenerator.ROWS``,
``loader.json_check_lines(rows=...)``): loops and quantifiers read an element's values from
its row. Here on a record with two lists of records, a record and a list inside each
element (the list not read: a guideline that iterates one has no JSON function, its
budget count depending on each element), a list named by a define, loops in loops and
quantifiers in loops, against the codes of the loaded record (the record's own generated
function, and the full evaluation)."""

from __future__ import annotations

import ast
import datetime
import itertools
from typing import Any

import attrs
import pytest
from conftest import Kind, Level

import spinerules
from spinerules.engine import codegen
from spinerules.records import load_record
from spinerules.records.schema import fact

AS_OF = datetime.date(2026, 2, 18)


@attrs.frozen(kw_only=True)
class Detail:
    score: int | None = fact(min=0, max=10)
    marked: bool | None = fact()


@attrs.frozen(kw_only=True)
class Part:
    level: Level | None = fact()
    loss: float | None = fact(unit="%", min=0, max=100)
    weeks: float | None = fact(unit="weeks", min=0)
    kind: Kind | None = fact()
    detail: Detail | None = fact()
    notes: tuple[Detail, ...] | None = fact()
    unread: bool | None = fact()


@attrs.frozen(kw_only=True)
class Holder:
    age: int | None = fact(unit="years", min=0, max=120)
    parts: tuple[Part, ...] | None = fact()
    others: tuple[Part, ...] | None = fact()
    unread_parts: tuple[Part, ...] | None = fact()


HEADER = """guideline rows "Rows"
  version "0"
  record test.Holder
source S:
  title "A source" year 2020 doi "10.1/s"
"""

BODY = """
define severe: any(p in patient.parts: p.loss > 40 % and p.kind == burst)
define marked_somewhere: any(p in patient.parts: p.detail.marked)
define others_weeks: count(o in patient.others: o.weeks >= 6 weeks)

rule top_severe:
  when severe
  recommend severe_code cite S

rule top_marked:
  when marked_somewhere and patient.age >= 50 years
  recommend marked_code cite S

rule top_count:
  when others_weeks >= 2
  recommend count_code cite S

for p in patient.parts:
  define scored: p.detail.score >= 5
  rule part_scored:
    when scored and p.level in T11..L2
    recommend scored_code cite S
  rule part_peer:
    when any(q in patient.parts: q.level == p.level and q.weeks > p.weeks)
    recommend peer_code cite S
  for o in patient.others:
    rule pair:
      when o.kind == p.kind and o.loss < p.loss
      recommend pair_code cite S

for o in patient.others:
  rule other_age:
    when patient.age < 40 years
    recommend other_age_code cite S
"""

GUIDELINE = spinerules.loads(HEADER + BODY, name="rows.rules",
                             records={"test.Holder": Holder})

#: the same, its list named by a define too (the budget count then depends on more than
#: the lists' lengths: its JSON function counts steps itself, made without ``Work``)
ALIASED = spinerules.loads(
    HEADER + "define all_parts: patient.parts\n" + BODY.replace(
        "any(p in patient.parts:", "any(p in all_parts:").replace(
        "for p in patient.parts:", "for p in all_parts:"),
    name="aliased.rules", records={"test.Holder": Holder})


def _part(i: int) -> dict[str, Any]:
    levels, kinds = list(Level), list(Kind)
    part: dict[str, Any] = {}
    if i % 5:
        part["level"] = levels[(i // 2) % len(levels)].value
    if i % 3:
        part["loss"] = (i * 37) % 101
    if i % 4:
        part["weeks"] = (i * 3) % 13 + 0.5
    if i % 2:
        part["kind"] = kinds[i % len(kinds)].value
    if i % 6 != 1:
        part["detail"] = {"score": i % 11, "marked": i % 4 == 0} if i % 7 else {}
    if i % 3 == 0:
        part["notes"] = [{"score": (i + k) % 11, "marked": k % 2 == 0} for k in range(i % 4)]
    if i % 8 == 3:
        part["unread"] = True
    return part


def _patients() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{}, {"parts": []}, {"parts": None, "others": [{}]}]
    for n_parts, n_others, age in itertools.product((1, 2, 3), (0, 1, 2), (None, 30, 70)):
        seed = n_parts * 7 + n_others * 3 + (age or 0)
        patient: dict[str, Any] = {
            "parts": [_part(seed + k) for k in range(n_parts)],
            "others": [_part(seed * 2 + k) for k in range(n_others)],
            "unread_parts": [_part(seed + 1)] if seed % 2 else []}
        if age is not None:
            patient["age"] = age
        out.append(patient)
    return out


def _json_fn() -> Any:
    fn = GUIDELINE.fast.generate_json()
    assert fn is not None
    return fn


@pytest.mark.parametrize("raw", _patients())
def test_codes_read_from_rows_equal_the_loaded_records(raw: dict[str, Any]) -> None:
    g = GUIDELINE
    record = load_record(Holder, raw)
    want = g.codes(record, as_of=AS_OF)  # (counts the record's budget)
    assert want == g.evaluate(record, as_of=AS_OF).codes()
    read = g.fast.json_codes(raw, AS_OF, g.limits.max_steps, g.limits)
    assert read is not None  # read from the JSON
    assert frozenset(read) == want
    aliased = codegen.generate_json(ALIASED.checked)
    assert ALIASED.codes(record, as_of=AS_OF) == want
    assert frozenset(aliased(raw, AS_OF, 10**6, 1000, 10**6)) == want


def test_the_patients_fire_every_rule() -> None:
    # (else the comparison above would not reach every kind of read)
    fired: set[str] = set()
    for raw in _patients():
        fired |= GUIDELINE.codes(raw, as_of=AS_OF)
    assert fired == {"severe_code", "marked_code", "count_code", "scored_code", "peer_code",
                     "pair_code", "other_age_code"}


@pytest.mark.parametrize("aliased", [False, True])
def test_the_lists_read_are_rows_and_their_loops_unpack_them(aliased: bool) -> None:
    if aliased:
        gen = codegen.JsonGenerator(ALIASED.checked)
    else:
        gen = codegen.JsonGenerator(GUIDELINE.checked, GUIDELINE.plan.work)
    text = ast.unparse(gen.module())
    assert set(gen.rows) == {("parts",), ("others",)}  # (not unread_parts: not read)
    # each element's values the guideline reads, once: parts' level, loss, weeks, kind,
    # detail.score, detail.marked; others' weeks, kind, loss
    assert sorted(gen.rows[("parts",)]) == [("detail", "marked"), ("detail", "score"),
                                            ("kind",), ("level",), ("loss",), ("weeks",)]
    assert sorted(gen.rows[("others",)]) == [("kind",), ("loss",), ("weeks",)]
    # after the check, nothing is read from a dict: every element's value from its row
    assert ".get(_j" in text.split("except Exception")[0]  # (the check's)
    assert ".get('" not in text.split("except Exception")[1]
    # the loops over parts (or all_parts, another name of its rows) and those over others
    # unpack their rows, their positions not used: ``for a, _, b in rows``
    assert len(gen.row_loops) == 3
    assert all(isinstance(loop.target, ast.Tuple) and isinstance(loop.iter, ast.Name)
               for loop in gen.row_loops)
    assert "enumerate" not in text


@pytest.mark.parametrize("bad", [
    {"parts": [{"level": "L9"}]}, {"parts": [{"nope": None}]}, {"parts": [{"loss": 101}]},
    {"parts": [{"detail": {"score": 11}}]}, {"parts": [{"notes": [{"x": 1}]}]},
    {"parts": [{}, 1]}, {"parts": {}}, {"others": [{"kind": None, "unread": 0}]},
    {"unread_parts": [{"weeks": -1}]},
])
def test_a_bad_element_is_refused_and_loaded_for_its_errors(bad: dict[str, Any]) -> None:
    fn = _json_fn()
    g = GUIDELINE
    assert fn(bad, AS_OF, g.limits.max_steps, g.limits.max_list_length,
              g.limits.max_steps) is None
    with pytest.raises(spinerules.RecordError):
        g.codes(bad, as_of=AS_OF)
