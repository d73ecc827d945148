"""Issue #19, point 8: the smaller ones. Text a str cannot encode, arguments of the wrong
type, dates in other ISO forms, control characters on their way to a terminal, and files
of very many broken items (each reported in bounded time, with how many were left)."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest

import spinerules
from spinerules import api
from spinerules.cli import escape_controls

from .conftest import AS_OF, HEADER, RULE, cli, run_bounded

# --- text and argument types ---------------------------------------------------------------


def test_an_unpaired_surrogate_in_loads_is_a_located_error() -> None:
    out = run_bounded("""
        try:
            spinerules.loads('guideline g "G \\ud800"\\n', name="s.rules", root="/nonexistent")
        except spinerules.GuidelineError as exc:
            print([(d.code, d.span.location()) for d in exc.diagnostics])
            print(str(exc))
        """)
    first, *rendered = out.out.splitlines()
    assert first == "[('SR105', 's.rules:1:16')]"
    assert "unpaired surrogate '\\ud800'" in out.out
    assert '1 | guideline g "G \ufffd"' in rendered  # shown, one character for one


@pytest.mark.parametrize(("call", "message"), [
    (lambda: spinerules.loads(b'guideline g "G"'), "expects the guideline text as a str, "
     "got bytes (decode it first"),
    (lambda: spinerules.loads(None), "got NoneType"),
    (lambda: spinerules.loads("x", name=3), "loads() expects a path or a guideline name"),
    (lambda: spinerules.loads("x", root=1), "loads(root=...) expects a folder"),
    (lambda: spinerules.loads("x", limits={"max_bytes": 1}), "expects spinerules.Limits"),
    (lambda: spinerules.loads("x", records=["spine.Patient"]), "loads(records=...) expects"),
    (lambda: spinerules.load(None), "load() expects a path or a guideline name"),
    (lambda: spinerules.load(42), "got int"),
    (lambda: spinerules.check(None), "check() expects a path or a guideline name"),
    (lambda: spinerules.check("x.rules", text=b"x"), "check(text=...) expects a str"),
])
def test_wrong_argument_types_are_a_clear_type_error(call: object, message: str) -> None:
    with pytest.raises(TypeError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)


# --- dates ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vcf() -> spinerules.Guideline:
    return spinerules.load("vcf")


PATIENT = {"age": 72, "fractures": [{"level": "L1", "weeks_since_onset": 2}]}


def test_as_of_may_be_a_date_or_an_iso_date_string(vcf: spinerules.Guideline) -> None:
    day = datetime.date(2026, 2, 18)
    assert vcf.evaluate(PATIENT, as_of="2026-02-18").dumps() == \
        vcf.evaluate(PATIENT, as_of=day).dumps()
    assert vcf.codes(PATIENT, as_of="2026-02-18") == vcf.codes(PATIENT, as_of=day)


@pytest.mark.parametrize(("as_of", "error", "message"), [
    (20260218, TypeError, "as_of must be a datetime.date or a 'YYYY-MM-DD' string, got int"),
    (datetime.datetime(2026, 2, 18, 9), TypeError, "not a datetime (use .date())"),
    (["2026-02-18"], TypeError, "got list"),
    ("2026-W07-3", ValueError, "as_of must be a date as YYYY-MM-DD, got '2026-W07-3'"),
    ("20260218", ValueError, "got '20260218'"),
    ("2026-02-18T00:00", ValueError, "YYYY-MM-DD"),
    ("2026-02-30", ValueError, "YYYY-MM-DD"),
])
def test_as_of_of_another_type_or_form_is_refused(vcf: spinerules.Guideline, as_of: object,
                                                  error: type[Exception], message: str) -> None:
    for run in (lambda: vcf.evaluate(PATIENT, as_of=as_of),  # type: ignore[arg-type]
                lambda: vcf.codes(PATIENT, as_of=as_of)):  # type: ignore[arg-type]
        with pytest.raises(error) as info:
            run()
        assert message in str(info.value)


@pytest.mark.parametrize("as_of", ["2026-W07-3", "2026-049", "20260218", "2026-02-18T00:00"])
@pytest.mark.parametrize("command", ["eval", "fhir extract", "fhir bulk", "sql", "population"])
def test_every_command_takes_only_yyyy_mm_dd(tmp_path: Path, as_of: str, command: str) -> None:
    # (`fhir`, `sql` and `population` read --as-of with Python's own parser once, which
    # takes 20260218 and ISO week dates as well: the same text must mean the same day)
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps(PATIENT))
    args = {"eval": ["eval", "vcf", str(patient)],
            "fhir extract": ["fhir", "extract", str(patient)],
            "fhir bulk": ["fhir", "bulk", str(tmp_path)],
            "sql": ["sql", "vcf"],
            "population": ["population", "vcf", str(patient), "--engine", "python"]}[command]
    out = cli(*args, "--as-of", as_of)
    assert out.exit == 2, (out.out, out.err)
    assert f"--as-of expects a date like 2026-02-18, got {as_of!r}" in out.err


def test_a_case_file_takes_only_yyyy_mm_dd(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("guideline: vcf\nas_of: 2026-W07-3\npatient: {age: 70}\n")
    out = cli("test", str(tmp_path / "c.yaml"))
    assert out.exit == 1
    assert "as_of is not a date like 2026-02-18: '2026-W07-3'" in out.out


# --- control characters never reach the terminal -------------------------------------------

EVIL = "evil\x1b]0;owned\x07\x1b[31mred\u202eabc\u0085\u2066x\r\x00"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_escape_controls() -> None:
    assert escape_controls(EVIL) == \
        "evil\\x1b]0;owned\\x07\\x1b[31mred\\u202eabc\\x85\\u2066x\\x0d\\x00"
    assert escape_controls("tab\tand\nnewline stay; é ✓ 中 too") == \
        "tab\tand\nnewline stay; é ✓ 中 too"


def test_a_patient_id_with_escape_sequences_is_printed_escaped(tmp_path: Path) -> None:
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps({**PATIENT, "id": EVIL}))
    text = cli("eval", "vcf", str(patient), "--as-of", AS_OF)
    assert text.exit == 0
    assert not CONTROL.search(text.out)
    assert "Patient: evil\\x1b]0;owned\\x07\\x1b[31mred\\u202eabc" in text.out
    data = cli("eval", "vcf", str(patient), "--as-of", AS_OF, "--format", "json")
    assert not CONTROL.search(data.out)
    assert json.loads(data.out)["patient"] == EVIL  # the same JSON, only escaped


def test_guideline_text_with_escape_sequences_is_printed_escaped(tmp_path: Path) -> None:
    entry = tmp_path / "g.rules"
    entry.write_text(HEADER.replace('"A source"', '"A \x1b]8;;http://x\x07link\u202e"')
                     + 'rule r:\n  when true\n  recommend x "Do \x1b[2Jthis." cite S\n'
                     + 'rule q\x1b[2J:\n  when true\n  recommend y cite S\n')
    out = cli("check", str(entry))
    assert out.exit == 1
    assert "error[SR101]: unexpected character `\\x1b`" in out.text
    assert not CONTROL.search(out.text)
    entry.write_text(entry.read_text().split("rule q")[0])
    (tmp_path / "p.json").write_text("{}")
    for args in (["eval", str(entry), str(tmp_path / "p.json"), "--as-of", AS_OF, "--trace"],
                 ["explain", str(entry), str(tmp_path / "p.json"), "x", "--as-of", AS_OF]):
        out = cli(*args)
        assert out.exit == 0, out.text
        assert not CONTROL.search(out.text)
        if args[0] == "eval":
            assert "Do \\x1b[2Jthis." in out.out
            assert "A \\x1b]8;;http://x\\x07link\\u202e" in out.out


# --- very many broken items ----------------------------------------------------------------


def test_a_guideline_of_500000_broken_items_stops_after_100(tmp_path: Path) -> None:
    entry = tmp_path / "broken.rules"
    entry.write_text('guideline g "G"\n  record spine.Patient\n' + "rule\n" * 500_000)
    out = cli("check", str(entry))
    assert out.exit == 1
    codes = re.findall(r"^error\[(SR\d{3})\]", out.out, re.M)
    assert codes == ["SR103"] * 100 + ["SR120"]
    assert "error[SR120]: too many problems: stopped after 100 errors in this file; " \
        "499,900 more items were not checked" in out.out
    assert f"--> {tmp_path.name}/broken.rules:103:1" in out.out
    assert "101 error(s)" in out.out


def test_more_diagnostics_than_are_shown_say_how_many_were_left(tmp_path: Path) -> None:
    body = "".join(f"define d{i}: nothing{i}\n" for i in range(150))
    entry = tmp_path / "many.rules"
    entry.write_text(HEADER + RULE + body)
    diags = api.check(str(entry))  # 150 unknown names, and 150 unused defines
    assert len(diags) == 101
    assert {d.code for d in diags[:100]} <= {"SR201", "SR217"}
    last = diags[-1]
    assert (last.code, last.is_error) == ("SR120", True)
    assert last.message == "too many problems: 200 more not shown (only the first 100)"
    assert last.span.line > diags[99].span.line - 1  # where the first left out is


def test_a_case_file_of_many_broken_cases_stops_after_100(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("cases:\n" + "- {as_of: x}\n" * 5000)
    out = cli("test", str(tmp_path / "c.yaml"))
    assert out.exit == 1
    assert out.out.count("FAIL ") == 101
    assert "error[SR120]: too many problems: stopped after 100 broken cases in this file; " \
        "4,900 more cases were not read" in out.out
    assert f"({tmp_path / 'c.yaml'}:case 101)" in out.out


def test_a_case_file_over_its_size_limit_is_not_parsed(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("cases:\n" + "- {as_of: x}\n" * 300_000)
    out = cli("test", str(tmp_path / "c.yaml"))
    assert out.exit == 1
    assert "error[SR107]: the file is too large (3900007 bytes; the limit is 524288)" in out.out


def test_malformed_cases_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("cases:\n- 1\n- {guideline: vcf, want_scores: 3}\n"
                                     "- {guideline: vcf, want_scores: {a: [1]}}\n")
    out = cli("test", str(tmp_path / "c.yaml"))
    assert out.exit == 1
    assert out.out.count("the case is malformed") == 3
    assert "0 passed, 3 failed" in out.out
