"""Bad input to `spinerules verify` and `spinerules diff`: a clear message and exit status,
never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from spinerules.cli import main

pytest.importorskip("z3")


def test_verify_a_missing_file_is_a_located_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["verify", str(tmp_path / "nope.rules")])
    assert res.exit_code == 1
    assert "SR110" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("value", ["-1", "9", "many"])
def test_verify_max_list_out_of_range_is_a_usage_error(value: str) -> None:
    res = CliRunner().invoke(main, ["verify", "vcf", "--max-list", value])
    assert res.exit_code == 2
    assert "--max-list" in res.output and "Traceback" not in res.output


def test_verify_a_guideline_with_errors_reports_them(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text('guideline bad "Bad"\n  record spine.Patient\nrule r:\n  when patient.agee > 1\n'
                   '  recommend x cite S\n', encoding="utf-8")
    res = CliRunner().invoke(main, ["verify", str(bad)])
    assert res.exit_code == 1
    assert "bad.rules:4:" in res.output and "Traceback" not in res.output


def test_diff_of_guidelines_on_different_record_types_is_a_usage_error(tmp_path: Path) -> None:
    other = tmp_path / "other.rules"
    other.write_text(
        'guideline other "Other"\n  record o.Rec\n'
        'type o.Rec "A record":\n  field flag: boolean "a flag"\n'
        'source S:\n  title "A source" year 2020 doi "10.1/s"\n'
        'rule r:\n  when patient.flag\n  recommend x cite S\n', encoding="utf-8")
    res = CliRunner().invoke(main, ["diff", "vcf", str(other)])
    assert res.exit_code == 2
    assert "different record types" in res.output and "Traceback" not in res.output
