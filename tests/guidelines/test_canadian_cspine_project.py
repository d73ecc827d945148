"""The Canadian C-spine rule as a project of its own (examples/projects/canadian-cspine):
its own record declaration, no Python; it checks, evaluates, tests (CLI and pytest in its
folder) and formats, in a copy outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from spinerules.cli import main

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "examples" / "projects" / "canadian-cspine"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(result.output) from result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "somewhere" / "canadian-cspine"
    shutil.copytree(PROJECT, target)
    return target


def test_the_project_holds_no_python() -> None:
    files = {p.suffix for p in PROJECT.rglob("*") if p.is_file()}
    assert files == {".toml", ".rules", ".json", ".yaml"}


def test_it_checks_and_evaluates_with_its_own_record(copy: Path) -> None:
    code, out = cli("check", str(copy))
    assert code == 0 and "ok: 1 guideline(s), no problems" in out, out
    code, out = cli("eval", str(copy), str(copy / "patients" / "rollover-70.json"),
                    "--as-of", "2026-02-18", "--format", "json")
    assert code == 0, out
    result = json.loads(out)
    assert result["guideline"]["id"] == "ccr"
    codes = {r["code"] for r in result["recommendations"]}
    assert codes == {"cspine_imaging"}
    code, out = cli("explain", str(copy), str(copy / "patients" / "rear-end-30.json"),
                    "cspine_imaging", "--as-of", "2026-02-18")
    assert code == 0 and "cspine_imaging" in out


def test_a_record_that_breaks_the_declaration_is_refused(copy: Path) -> None:
    bad = copy / "bad.json"
    bad.write_text('{"age": 40, "gcs": 16, "mechanisms": ["rollover"]}', encoding="utf-8")
    code, out = cli("eval", str(copy), str(bad), "--as-of", "2026-02-18")
    assert code == 3
    assert "gcs: expected a whole number from 3 to 15, got 16" in out
    assert 'mechanisms[0]: expected one of "fall_from_height"' in out


def test_its_tests_pass_from_the_command_line(copy: Path) -> None:
    code, out = cli("test", str(copy))
    assert code == 0, out
    assert out.strip().endswith("18 passed, 0 failed"), out


def test_its_tests_pass_under_pytest_in_its_folder(copy: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "18 passed" in run.stdout


def test_it_formats(copy: Path) -> None:
    code, out = cli("fmt", "--check", str(copy))
    assert code == 0, out
    record = copy / "record.rules"
    text = record.read_text(encoding="utf-8")
    squeezed = text.replace(",\n  ", ", ").replace("\n  field", "  field")
    assert squeezed != text
    record.write_text(squeezed, encoding="utf-8")
    assert cli("fmt", "--check", str(copy))[0] == 1
    assert cli("fmt", str(copy))[0] == 0
    assert record.read_text(encoding="utf-8") == text
    assert cli("check", str(copy))[0] == 0
