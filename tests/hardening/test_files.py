"""Issue #19, point 3: files. Every path a guideline, a test block or a case file names is
opened only if it is a regular file inside its folder, read no further than the size limit,
and anything else is a located error; each probe runs bounded (see ``conftest.py``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .conftest import HEADER, RULE, Outcome, cli, run_bounded

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(os, "symlink"),
                                reason="needs named pipes and symlinks")

IMPORT_LINE = HEADER.count("\n") + RULE.count("\n") + 1  # the line of the import below


def errors(out: Outcome) -> list[tuple[str, str]]:
    """``(code, file:line:column)`` of each error ``spinerules check`` printed."""
    found = re.findall(r"^error\[(SR\d{3})\]: .*\n\s*--> (\S+)", out.text, re.M)
    return [(code, where) for code, where in found]


def guideline(folder: Path, imports: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    entry = folder / "g.rules"
    entry.write_text(HEADER + RULE + (f'import "{imports}"\n' if imports else ""))
    return entry


# --- imports -------------------------------------------------------------------------------


def test_an_import_of_a_symlink_to_itself(tmp_path: Path) -> None:
    entry = guideline(tmp_path / "g", "self.rules")
    (tmp_path / "g" / "self.rules").symlink_to("self.rules")
    out = cli("check", str(entry))
    assert out.exit == 1
    assert errors(out) == [("SR210", f"g/g.rules:{IMPORT_LINE}:1")]
    assert "symbolic links" in out.text


def test_an_import_of_two_symlinks_to_each_other(tmp_path: Path) -> None:
    entry = guideline(tmp_path / "g", "a.rules")
    (tmp_path / "g" / "a.rules").symlink_to("b.rules")
    (tmp_path / "g" / "b.rules").symlink_to("a.rules")
    out = cli("check", str(entry))
    assert out.exit == 1
    assert errors(out) == [("SR210", f"g/g.rules:{IMPORT_LINE}:1")]


def test_a_file_that_imports_itself(tmp_path: Path) -> None:
    entry = guideline(tmp_path / "g", "g.rules")
    out = cli("check", str(entry))
    assert errors(out) == [("SR211", f"g/g.rules:{IMPORT_LINE}:1")]


def test_an_import_name_of_300_characters(tmp_path: Path) -> None:
    entry = guideline(tmp_path / "g", "x" * 300 + ".rules")
    out = cli("check", str(entry))
    assert out.exit == 1
    assert errors(out) == [("SR210", f"g/g.rules:{IMPORT_LINE}:1")]
    assert "File name too long" in out.text
    assert "x" * 100 not in out.text.split("\n")[0]  # the message shortens the name


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "folder"])
def test_an_import_that_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    entry = guideline(tmp_path / "g", "other.rules")
    other = tmp_path / "g" / "other.rules"
    if kind == "fifo":
        os.mkfifo(other)
    elif kind == "dev_zero":  # a symlink out of the folder is refused before anything else
        other.symlink_to("/dev/zero")
    else:
        other.mkdir()
    out = cli("check", str(entry))
    assert out.exit == 1
    code = "SR209" if kind == "dev_zero" else "SR210"
    assert errors(out) == [(code, f"g/g.rules:{IMPORT_LINE}:1")]


@pytest.mark.parametrize("kind", ["self_loop", "fifo", "dev_zero", "long_name"])
def test_an_entry_file_that_cannot_be_read(tmp_path: Path, kind: str) -> None:
    entry = tmp_path / ("x" * 300 + ".rules" if kind == "long_name" else "e.rules")
    if kind == "self_loop":
        entry.symlink_to("e.rules")
    elif kind == "fifo":
        os.mkfifo(entry)
    elif kind == "dev_zero":
        entry.symlink_to("/dev/zero")
    for out in (cli("check", str(entry)), cli("eval", str(entry), "-"), load(entry)):
        assert out.exit == 1
        assert "error[SR110]: cannot read the file" in out.text


def load(entry: Path) -> Outcome:
    """``spinerules.load(entry)`` in a bounded child: exit 1 and the error on a GuidelineError."""
    return run_bounded(f"""
        try:
            spinerules.load({str(entry)!r})
        except spinerules.GuidelineError as exc:
            print(exc)
            sys.exit(1)
        """)


# --- a folder given to `check` and `test` --------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
@pytest.mark.parametrize("command", ["check", "test"])
def test_a_folder_holding_a_rules_file_that_is_not_a_file(tmp_path: Path, kind: str,
                                                          command: str) -> None:
    guideline(tmp_path / "g")
    odd = tmp_path / "g" / "odd.rules"
    if kind == "fifo":
        os.mkfifo(odd)
    else:
        odd.symlink_to("/dev/zero")
    out = cli(command, str(tmp_path / "g"))
    assert out.exit == 1
    assert ("SR110", "g/odd.rules:1:1") in errors(out)
    detail = "a named pipe" if kind == "fifo" else "a device"
    assert f"not a regular file ({detail})" in out.text


def test_a_case_file_that_is_a_named_pipe(tmp_path: Path) -> None:
    guideline(tmp_path / "g")
    os.mkfifo(tmp_path / "g" / "cases.yaml")
    out = cli("test", str(tmp_path / "g"))
    assert out.exit == 1
    assert "error[SR110]: cannot read the file" in out.text
    assert "not a regular file (a named pipe)" in out.text


# --- test patients: `given` in a test block, `patient_file` in a case file ---------------


def project(tmp_path: Path) -> Path:
    """A project folder (it has a pyproject.toml) holding a guideline folder ``g``."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "pyproject.toml").write_text("")
    (tmp_path / "proj" / "patients").mkdir()
    (tmp_path / "proj" / "patients" / "p.json").write_text('{"age": 70}')
    return tmp_path / "proj"


GIVENS = {
    "dev_zero": ("/dev/zero", "outside the project folder"),
    "etc_passwd": ("/etc/passwd", "outside the project folder"),
    "dotdot": ("../../../../../../../../etc/passwd", "outside the project folder"),
    "link_to_dev_zero": ("zero.json", "outside the project folder"),
    "fifo": ("pipe.json", "not a regular file (a named pipe)"),
    "long_name": ("y" * 300 + ".json", "File name too long"),
}


def _odd_files(folder: Path) -> None:
    (folder / "zero.json").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe.json")


@pytest.mark.parametrize("case", sorted(GIVENS))
def test_a_test_block_names_a_patient_it_may_not_read(tmp_path: Path, case: str) -> None:
    root = project(tmp_path)
    given, why = GIVENS[case]
    entry = guideline(root / "g")
    _odd_files(root / "g")
    with entry.open("a") as fh:
        fh.write(f'test "t":\n  given "{given}"\n  expect x\n')
    test_line = (HEADER + RULE).count("\n") + 1
    out = cli("test", str(entry))
    assert out.exit == 1
    assert f"FAIL t (g/g.rules:{test_line}:1)" in out.text
    assert "error[SR504]: cannot read the test patient" in out.text
    assert why in out.text
    assert "root:" not in out.text  # nothing of /etc/passwd is shown


def test_a_test_block_may_name_a_patient_elsewhere_in_its_project(tmp_path: Path) -> None:
    root = project(tmp_path)
    entry = guideline(root / "g")
    with entry.open("a") as fh:
        fh.write('test "t":\n  given "../patients/p.json"\n  expect x\n')
    out = cli("test", str(entry))
    assert out.exit == 0, out.text
    assert "1 passed, 0 failed" in out.text


@pytest.mark.parametrize("case", sorted(GIVENS))
def test_a_case_file_names_a_patient_file_it_may_not_read(tmp_path: Path, case: str) -> None:
    root = project(tmp_path)
    given, why = GIVENS[case]
    guideline(root / "g")
    _odd_files(root / "g")
    (root / "g" / "c.yaml").write_text(
        f"guideline: g.rules\npatient_file: '{given}'\nwant_codes: [x]\n")
    out = cli("test", str(root / "g" / "c.yaml"))
    assert out.exit == 1
    assert f"FAIL c[0] ({root / 'g' / 'c.yaml'}:case 1)" in out.text
    assert "error[SR504]: cannot read the test patient" in out.text
    assert why in out.text


def test_a_case_file_names_a_guideline_outside_the_project(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "c.yaml").write_text("guideline: /etc/passwd\npatient: {}\nwant_codes: [x]\n")
    out = cli("test", str(root / "c.yaml"))
    assert out.exit == 1
    assert "error[SR110]: cannot read the guideline `/etc/passwd`" in out.text
    assert "outside the project folder" in out.text
    assert "root:" not in out.text


def test_a_case_file_may_name_a_patient_elsewhere_in_its_project(tmp_path: Path) -> None:
    root = project(tmp_path)
    guideline(root / "g")
    (root / "g" / "c.yaml").write_text(
        "guideline: g.rules\npatient_file: ../patients/p.json\nwant_codes: [x]\n")
    out = cli("test", str(root / "g" / "c.yaml"))
    assert out.exit == 0, out.text
