"""The FHIR bad-input corpus: each ``fhir/*.json`` fails with exactly the expected located problems.

Each entry has a sidecar ``<name>.expect`` with one ``path: message fragment`` line per
expected problem (JSON paths into the Bundle, ``entry[3].resource.code.coding[0]``). The set
of problem paths from ``extract_bundle_json`` must equal the expected paths, each message must
contain its fragment; ``spinerules fhir extract`` and ``spinerules eval vcf`` must exit 3 and
name every path, with no traceback. The bulk reader's broken lines are in
``tests/fhir_in/test_bulk.py``.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from spinerules.cli import EXIT_RECORD, main
from spinerules.fhir.errors import FhirError
from spinerules.fhir.extract import extract_bundle_json

HERE = Path(__file__).resolve().parent / "fhir"
AS_OF = "2026-02-18"
ENTRIES = sorted(HERE.glob("*.json"))


def expected(entry: Path) -> list[tuple[str, str]]:
    lines = entry.with_suffix(".expect").read_text(encoding="utf-8").splitlines()
    out = [tuple(line.split(": ", 1)) for line in lines if line.strip()
           and not line.startswith("#")]
    assert out, f"{entry.name}: the expectation lists no problem"
    return out  # type: ignore[return-value]


def test_the_corpus_covers_the_issue_list() -> None:
    names = {e.stem for e in ENTRIES}
    assert {"not_json", "not_a_bundle", "resource_without_resourcetype", "unresolved_reference",
            "condition_free_text_only", "unknown_code_system", "observation_value_wrong_type",
            "observation_value_wrong_unit", "two_patients"} <= names
    assert len(ENTRIES) >= 15


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda p: p.stem)
def test_bad_bundle(entry: Path) -> None:
    with pytest.raises(FhirError) as info:
        extract_bundle_json(entry.read_bytes(), as_of=datetime.date(2026, 2, 18),
                            file=entry.name)
    found = [(p.path, p.message) for p in info.value.problems]
    want = expected(entry)
    assert sorted({p for p, _ in found}) == sorted({p for p, _ in want}), found
    for path, fragment in want:
        assert any(fragment in m for p, m in found if p == path), (path, fragment, found)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda p: p.stem)
def test_bad_bundle_cli(entry: Path) -> None:
    runner = CliRunner()
    for args in (["fhir", "extract", str(entry), "--as-of", AS_OF],
                 ["eval", "vcf", str(entry), "--as-of", AS_OF]):
        result = runner.invoke(main, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            result.exception
        assert "Traceback" not in result.output
        assert result.exit_code == EXIT_RECORD, result.output
        for path, _fragment in expected(entry):
            assert f"{path}: " in result.output, (args, path, result.output)
