"""The bad-input corpus: every entry fails with exactly the expected codes or paths.

Guidelines (``rules/``): each ``*.rules`` file, and each folder ``rules/<name>/`` with its
entry file ``<name>.rules``, names the error codes it must produce, either on its first line
(``# expect: SR204`` or ``# expect: SR201, SR204``) or, for files that cannot hold a comment
(empty, binary), in a sidecar ``<name>.expect``. The set of error codes from
``spinerules.api.check`` must equal it, and ``spinerules check`` must exit 1.

Case files (``cases/``): each ``*.yaml`` names on its first line the diagnostics it must
produce, with their positions (``# expect: SR601 at 5:3``). ``check_case_file`` must give
exactly those; ``spinerules check`` must show each located (``file:line:column`` and a
caret) and exit 1, and ``spinerules test`` must fail the file rather than pass it.

Patient records (``patients/``): each ``*.json`` has a sidecar ``<name>.expect`` with one
``path: message fragment`` line per expected problem. The set of problem paths from
``load_record_json(Patient, ...)`` must equal the expected paths, each message must contain
its fragment, and ``spinerules eval vcf <patient>`` must exit 3.

No command may print a Python traceback. Inputs too large to keep in the repository (huge
files, very deep nesting) and symlinks are made in a temporary folder at test time.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from spinerules import api
from spinerules.cli import EXIT_GUIDELINE, EXIT_RECORD, main
from spinerules.lang.parser import DEFAULT_LIMITS
from spinerules.records import DEFAULT_MAX_BYTES, MAX_PROBLEMS, RecordError, load_record_json
from spinerules.records.spine import Patient

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules"
PATIENTS = HERE / "patients"
CASES = HERE / "cases"
AS_OF = "2026-02-18"
_EXPECT = re.compile(rb"\A#\s*expect:\s*([^\n]*)")


# --- collecting the corpus -----------------------------------------------------------------


def rule_entries() -> list[Path]:
    files = sorted(p for p in RULES.glob("*.rules"))
    folders = sorted(d / f"{d.name}.rules" for d in RULES.iterdir() if d.is_dir())
    return files + folders


def expected_codes(entry: Path) -> set[str]:
    sidecar = entry.with_suffix(".expect")
    if sidecar.exists():  # lines starting with `#` are comments
        lines = sidecar.read_text(encoding="utf-8").splitlines()
        text = " ".join(line for line in lines if not line.lstrip().startswith("#"))
    else:
        m = _EXPECT.match(entry.read_bytes())
        assert m, f"{entry.name}: no `# expect:` first line and no {sidecar.name}"
        text = m.group(1).decode("utf-8")
    codes = set(re.findall(r"SR\d{3}", text))
    assert codes, f"{entry.name}: the expectation names no code"
    return codes


def patient_entries() -> list[Path]:
    return sorted(PATIENTS.glob("*.json"))


def expected_problems(entry: Path) -> list[tuple[str, str]]:
    sidecar = entry.with_suffix(".expect")
    assert sidecar.exists(), f"{entry.name}: no {sidecar.name}"
    out = []
    for line in sidecar.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            path, _, fragment = line.partition(": ")
            out.append((path, fragment))
    assert out, f"{sidecar.name} lists no problem"
    return out


def _id(p: Path) -> str:
    return p.stem


# --- helpers -------------------------------------------------------------------------------


def error_codes(path: Path, **kwargs: object) -> set[str]:
    return {d.code for d in api.check(str(path), **kwargs) if d.is_error}  # type: ignore[arg-type]


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    # An exception other than SystemExit means the CLI crashed (CliRunner swallows the
    # traceback that a real run would print).
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"spinerules {' '.join(args)} crashed") from result.exception
    assert "Traceback" not in result.output
    return result


def check_cli(path: Path) -> None:
    result = invoke("check", str(path))
    assert result.exit_code == EXIT_GUIDELINE, result.output


def problems_of(data: bytes | str, **kwargs: int) -> list[tuple[str, str]]:
    with pytest.raises(RecordError) as info:
        load_record_json(Patient, data, source="corpus", **kwargs)
    return [(p.path, p.message) for p in info.value.problems]


def assert_problems(found: list[tuple[str, str]], expected: list[tuple[str, str]]) -> None:
    assert sorted({p for p, _ in found}) == sorted({p for p, _ in expected}), found
    for path, fragment in expected:
        messages = [m for p, m in found if p == path]
        assert any(fragment in m for m in messages), (path, fragment, messages)


def eval_cli(path: Path, paths: list[str] | None = None) -> None:
    """``spinerules eval vcf <path>`` exits 3 with SR501, naming each of ``paths``."""
    result = invoke("eval", "vcf", str(path), "--as-of", AS_OF)
    assert result.exit_code == EXIT_RECORD, result.output
    assert "SR501" in result.output
    for where in paths or ():
        assert f"\n  {where}: " in result.output, (where, result.output)


# --- the corpus ----------------------------------------------------------------------------


def test_the_corpus_is_large_enough() -> None:
    assert len(rule_entries()) + len(patient_entries()) >= 50
    assert len(rule_entries()) >= 25 and len(patient_entries()) >= 25


# Entries that fail because of a logged engine bug (/tmp/engine-issues.md); strict, so the
# fix shows up as XPASS and the mark must go.
ENGINE_ISSUES: dict[str, str] = {}


def _marked(entries: list[Path]) -> list[object]:
    return [pytest.param(e, id=e.stem, marks=pytest.mark.xfail(strict=True,
                                                                reason=ENGINE_ISSUES[e.stem]))
            if e.stem in ENGINE_ISSUES else pytest.param(e, id=e.stem) for e in entries]


@pytest.mark.parametrize("entry", _marked(rule_entries()))
def test_bad_guideline(entry: Path) -> None:
    assert error_codes(entry) == expected_codes(entry)
    check_cli(entry)


@pytest.mark.parametrize("entry", patient_entries(), ids=_id)
def test_bad_patient(entry: Path) -> None:
    expected = expected_problems(entry)
    assert_problems(problems_of(entry.read_bytes()), expected)
    eval_cli(entry, [p for p, _ in expected])


_LOCATED = re.compile(r"(SR\d{3}) at (\d+):(\d+)")


def case_file_entries() -> list[Path]:
    return sorted(CASES.glob("*.yaml"))


def expected_located(entry: Path) -> set[tuple[str, int, int]]:
    first = entry.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect:"), f"{entry.name}: no `# expect:` first line"
    found = {(c, int(line), int(col)) for c, line, col in _LOCATED.findall(first)}
    assert found, f"{entry.name}: the expectation names no located code"
    return found


@pytest.mark.parametrize("entry", case_file_entries(), ids=_id)
def test_bad_case_file(entry: Path) -> None:
    from spinerules.testing.runner import check_case_file

    diags, source, unreadable = check_case_file(entry)
    assert unreadable is None and source is not None
    assert {(d.code, d.span.line, d.span.column) for d in diags} == expected_located(entry)
    result = invoke("check", str(entry))
    assert result.exit_code == EXIT_GUIDELINE, result.output
    for d in diags:
        where = f"--> {entry}:{d.span.line}:{d.span.column}"
        assert where in result.output, (where, result.output)
        assert f"error[{d.code}]" in result.output
    assert re.search(r"^\s*\|\s*\^+", result.output, re.M), result.output  # a caret line
    tested = invoke("test", str(entry))
    assert tested.exit_code == EXIT_GUIDELINE, tested.output
    assert "FAIL" in tested.output


def test_the_case_file_corpus_covers_every_case_file_code() -> None:
    codes = {c for e in case_file_entries() for c, _, _ in expected_located(e)}
    assert codes == {"SR601", "SR602", "SR603", "SR604"}


def test_a_misspelt_case_key_or_code_gets_did_you_mean() -> None:
    out = invoke("check", str(CASES / "unknown_key.yaml")).output
    assert "= hint: did you mean `want_codes`?" in out
    out = invoke("check", str(CASES / "unknown_code_in_want_not.yaml")).output
    assert "= hint: did you mean `dexa_scan`?" in out
    out = invoke("check", str(CASES / "unknown_rule.yaml")).output
    assert "did you mean `S15.dexa_scan`?" in out


# --- generated at test time ----------------------------------------------------------------

HEADER = """guideline g "G"
  record spine.Patient
source S:
  title "A source"
  url "https://example.org/s"
rule r:
  when true
  recommend x cite S
"""


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A guideline folder ``g/`` next to a folder ``outside/`` it must not reach."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.rules").write_text('module secret "Secret"\n')
    (tmp_path / "g").mkdir()
    return tmp_path


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
@pytest.mark.parametrize("how", ["file", "folder"])
def test_import_through_a_symlink_that_leads_out(outside: Path, how: str) -> None:
    g = outside / "g"
    if how == "file":
        (g / "link.rules").symlink_to(outside / "outside" / "secret.rules")
        target = "link.rules"
    else:
        (g / "linked").symlink_to(outside / "outside", target_is_directory=True)
        target = "linked/secret.rules"
    entry = g / "g.rules"
    entry.write_text(HEADER + f'import "{target}"\n')
    assert error_codes(entry) == {"SR209"}
    check_cli(entry)


def test_import_of_a_symlink_that_stays_inside_is_allowed(outside: Path) -> None:
    g = outside / "g"
    (g / "real.rules").write_text('module real "Real"\ndefine d: true\n')
    (g / "alias.rules").symlink_to(g / "real.rules")
    entry = g / "g.rules"
    entry.write_text(HEADER + 'import "alias.rules"\nrule r2:\n  when d\n  recommend y cite S\n')
    assert error_codes(entry) == set()


def test_huge_guideline_file(tmp_path: Path) -> None:
    entry = tmp_path / "huge.rules"
    filler = "# " + "x" * 1000 + "\n"
    entry.write_text(HEADER + filler * (DEFAULT_LIMITS.max_bytes // len(filler) + 1))
    assert entry.stat().st_size > DEFAULT_LIMITS.max_bytes
    assert error_codes(entry) == {"SR107"}
    check_cli(entry)


def test_huge_imported_file(tmp_path: Path) -> None:
    (tmp_path / "big.rules").write_bytes(b'module big "Big"\n' + b"#" * DEFAULT_LIMITS.max_bytes)
    entry = tmp_path / "g.rules"
    entry.write_text(HEADER + 'import "big.rules"\n')
    assert error_codes(entry) == {"SR107"}
    check_cli(entry)


def test_huge_patient_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    path.write_text('{"id": "' + "x" * DEFAULT_MAX_BYTES + '"}')
    found = problems_of(path.read_bytes())
    assert [p for p, _ in found] == ["$"] and "too large" in found[0][1]
    eval_cli(path, ["$"])


def test_very_deeply_nested_patient(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert problems_of(path.read_bytes()) == [
        ("$", "not valid JSON: arrays and objects are nested too deeply")]
    eval_cli(path)


def test_patient_with_more_problems_than_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({f"k{i:04d}": i for i in range(5000)}))
    found = problems_of(path.read_bytes())
    assert len(found) == MAX_PROBLEMS + 1
    assert {p for p, _ in found[:-1]} == {f"k{i:04d}" for i in range(MAX_PROBLEMS)}
    assert found[-1][0] == "$" and "more problems" in found[-1][1]
    eval_cli(path)


def test_patient_file_that_is_a_folder(tmp_path: Path) -> None:
    eval_cli(tmp_path)


def test_patient_file_that_does_not_exist(tmp_path: Path) -> None:
    eval_cli(tmp_path / "nobody.json")


# --- issue #2: every hostile input gets a clean diagnostic -----------------------------------
# Kept in the corpus above (each checked through api.check and the CLI): an empty file
# (empty.rules), binary data (binary_png.rules, nul_byte.rules), imports that escape the
# folder (import_dotdot.rules, import_absolute.rules, import_dotdot_from_subfolder/), and
# patient records with a wrong type, an out-of-range value, an unknown key, a bad level,
# text that is not JSON and a top-level array. Generated here: random junk, 50,000 nested
# parentheses and a 10 MB file.

ISSUE_2_CORPUS = {
    "rules": ["empty", "binary_png", "nul_byte", "import_dotdot", "import_absolute"],
    "patients": ["age_as_string", "age_out_of_range", "unknown_top_level_key",
                 "level_unknown", "not_json", "top_level_array"],
}


def test_the_inputs_of_issue_2_are_in_the_corpus() -> None:
    for name in ISSUE_2_CORPUS["rules"]:
        assert (RULES / f"{name}.rules").is_file(), name
    for name in ISSUE_2_CORPUS["patients"]:
        assert (PATIENTS / f"{name}.json").is_file(), name
    level = dict(expected_problems(PATIENTS / "level_unknown.json"))
    assert '"L9"' in level["fractures[0].level"]


def clean_errors(path: Path) -> set[str]:
    """The error codes of ``path`` through api.check and the CLI, which must agree."""
    codes = error_codes(path)
    assert codes, "no error reported"
    result = invoke("check", str(path))
    assert result.exit_code == EXIT_GUIDELINE, result.output
    assert set(re.findall(r"^error\[(SR\d{3})\]", result.output, re.M)) == codes
    result = invoke("check", "--format", "json", str(path))
    assert {d["code"] for d in json.loads(result.output)["diagnostics"]} >= codes
    return codes


@pytest.mark.parametrize("seed", range(8))
def test_random_junk_bytes(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "junk.rules"
    path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5000))))
    assert clean_errors(path) <= {"SR101", "SR102", "SR103", "SR104", "SR105"}


@pytest.mark.parametrize("seed", range(8))
def test_random_junk_text(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "abcxyz019 \t\n()[]{}:.,-+*/<>=!\"'#%&|\\@$^~`?;\u00e9\u2603"
    path = tmp_path / "junk.rules"
    path.write_text("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 3000))),
                    encoding="utf-8")
    assert clean_errors(path) <= {"SR101", "SR102", "SR103", "SR104", "SR106", "SR108",
                                  "SR109", "SR213"}


@pytest.mark.parametrize("shape", ["balanced", "open", "close"])
def test_fifty_thousand_nested_parentheses(tmp_path: Path, shape: str) -> None:
    deep = {"balanced": "(" * 50_000 + "true" + ")" * 50_000,
            "open": "(" * 50_000, "close": "true" + ")" * 50_000}[shape]
    path = tmp_path / "deep.rules"
    path.write_text(HEADER + f"define d: {deep}\nrule r2:\n  when d\n  recommend y cite S\n")
    expected = {"SR106"} if shape != "close" else {"SR102"}
    assert clean_errors(path) == expected


def test_ten_megabyte_guideline_file(tmp_path: Path) -> None:
    path = tmp_path / "ten.rules"
    rule = "rule r{}:\n  when patient.age > 50 years\n  recommend x cite S\n"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        i = 0
        while fh.tell() < 10 * 1024 * 1024:
            fh.write(rule.format(i))
            i += 1
    assert clean_errors(path) == {"SR107"}


def test_ten_megabyte_patient_file(tmp_path: Path) -> None:
    path = tmp_path / "ten.json"
    path.write_text(json.dumps({"fractures": [{"level": "L1"}] * 700_000}))
    assert path.stat().st_size > 10 * 1024 * 1024
    found = problems_of(path.read_bytes(), max_bytes=20 * 1024 * 1024)
    assert [p for p, _ in found] == ["fractures"]  # loaded, then refused at the list
    eval_cli(path, ["$"])  # the CLI refuses it by size


def test_guideline_file_that_does_not_exist(tmp_path: Path) -> None:
    assert error_codes(tmp_path / "nothing.rules") == {"SR110"}
    check_cli(tmp_path / "nothing.rules")
