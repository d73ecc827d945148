"""Guideline projects: spinerules.toml, imports by module name, bundled imports, --root,
`spinerules new`, and a copy of the bundled guidelines that checks and tests anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import spinerules
from spinerules.cli import main
from spinerules.lang.project import find_project, new_project, read_project
from spinerules.testing.runner import cases_from_yaml

ROOT = Path(__file__).resolve().parents[2]
GUIDELINES = ROOT / "guidelines"

SOURCE = 'source S:\n  title "A source"\n  url "https://example.org"\n'


def cli(*args: str, cwd: Path | None = None) -> tuple[int, str]:
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        os.chdir(old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(result.output) from result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def project(tmp_path: Path, entry: str = "main/ccr.rules", **files: str) -> Path:
    """A small project: its entry imports a module by name and one by path."""
    return write(tmp_path / "proj", {
        "spinerules.toml": f'[project]\nname = "proj"\nversion = "1.2"\nentries = ["{entry}"]\n',
        entry: 'guideline ccr "C"\n  record spine.Patient\nimport common.sources\n'
               'rule R1:\n  when patient.age >= 65 years\n  recommend image "Image" cite S\n',
        "common/sources.rules": f'module common.sources "Sources"\n{SOURCE}',
        **files,
    })


# ---------------------------------------------------------------------- the project file


def test_the_bundled_guidelines_are_a_project() -> None:
    p = find_project(GUIDELINES / "vcf" / "cases")
    assert p is not None and not p.problems
    assert p.root == GUIDELINES.resolve()
    assert sorted(Path(e).parent.name for e in p.entries) == sorted(
        d.name for d in GUIDELINES.iterdir() if (d / f"{d.name}.rules").is_file())


@pytest.mark.parametrize(("text", "line", "words"), [
    ('[project]\nname = "x"\nentrys = ["a.rules"]\n', 3, "did you mean `entries`?"),
    ('[project]\nname = "x"\nentries = "a.rules"\n', 3, "must be a list"),
    ('[project]\nname = "x"\nentries = ["../a.rules"]\n', 3, "inside the project"),
    ('[project]\nname = 3\n', 2, "non-empty string"),
    ('[project]\nname = "x"\nversion = [1\n', 3, "Unclosed array"),
    ('name = "x"\n', 1, "no `[project]` table"),
])
def test_a_bad_project_file_is_a_located_error(tmp_path: Path, text: str, line: int,
                                               words: str) -> None:
    write(tmp_path / "p", {"spinerules.toml": text,
                           "g.rules": f'guideline g "G"\n{SOURCE}'})
    (problem, *_) = read_project(tmp_path / "p" / "spinerules.toml").problems
    assert problem.code == "SR115"
    assert problem.span.line == line
    rendered = problem.message + " ".join(problem.hints)
    assert words in rendered, rendered
    code, out = cli("check", str(tmp_path / "p" / "g.rules"))
    assert code == 1 and "error[SR115]" in out and f"p/spinerules.toml:{line}:" in out
    assert f"{line} | {text.splitlines()[line - 1]}" in out  # the line itself, shown


# ---------------------------------------------------------------------- imports


def test_imports_by_module_name_resolve_from_the_project_root(tmp_path: Path) -> None:
    root = project(tmp_path)
    g = spinerules.load(root / "main" / "ccr.rules")
    assert "proj/common/sources.rules" in g.program.texts
    assert Path(g.program.root) == root


def test_a_folder_loads_the_projects_declared_entry(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert spinerules.load(root).id == "ccr"
    write(tmp_path, {"p.json": '{"age": 70}'})
    code, out = cli("eval", str(root), str(tmp_path / "p.json"), "--as-of", "2026-01-01",
                    "--format", "json")
    assert code == 0 and '"image"' in out
    code, out = cli("explain", str(root), str(tmp_path / "p.json"), "image",
                    "--as-of", "2026-01-01")
    assert code == 0 and "image" in out


def test_bundled_modules_are_imported_by_name_from_any_project(tmp_path: Path) -> None:
    root = project(tmp_path, **{"main/ccr.rules": (
        'guideline ccr "C"\n  record spine.Patient\nimport spinerules:spine.record\n'
        'import spinerules:vcf.sources\nimport spinerules:vcf.red_flags\n'
        'rule R1:\n  when patient.age >= 65 years\n  recommend image "Image" cite NOGG_2022\n')})
    g = spinerules.load(root / "main" / "ccr.rules")
    assert "spinerules:vcf/red_flags.rules" in g.program.texts
    assert "spinerules:spine/record.rules" in g.program.texts
    assert "image" in g.evaluate({"age": 70}, as_of="2026-01-01").codes()


@pytest.mark.parametrize(("line", "words"), [
    ("import elsewhere:vcf.red_flags", "no package `elsewhere`"),
    ("import common.nothing", "no such file"),
    ("import spinerules:vcf.nothing", "no such file"),
])
def test_a_bad_module_import_is_located(tmp_path: Path, line: str, words: str) -> None:
    root = project(tmp_path, **{"main/ccr.rules": f'guideline ccr "C"\n{line}\n{SOURCE}'})
    problems = spinerules.check(root / "main" / "ccr.rules")
    (d,) = [d for d in problems if d.code == "SR210"]
    assert d.span.line == 2 and words in d.label + d.message, d


def test_module_imports_stay_inside_the_project(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"secret.rules": f'module secret "S"\n{SOURCE}'})
    root = project(tmp_path, **{"main/ccr.rules": 'guideline ccr "C"\nimport leak.secret\n'})
    (root / "leak").symlink_to(outside)
    problems = spinerules.check(root / "main" / "ccr.rules")
    assert [d.code for d in problems if d.is_error] == ["SR209"]


def test_root_narrows_the_folder_imports_are_confined_to(tmp_path: Path) -> None:
    root = project(tmp_path, **{"main/ccr.rules": (
        'guideline ccr "C"\nimport "../common/sources.rules"\n'
        'rule R1:\n  when true\n  recommend image "Image" cite S\n')})
    code, _ = cli("check", str(root / "main" / "ccr.rules"))
    assert code == 0
    code, out = cli("check", "--root", str(root / "main"), str(root / "main" / "ccr.rules"))
    assert code == 1 and "error[SR209]" in out
    write(root, {"p.json": '{"age": 70}', "main/t.cases.yaml": (
        "guideline: ccr.rules\npatient_file: ../p.json\nwant_codes: [image]\n")})
    code, out = cli("test", str(root / "main" / "t.cases.yaml"))
    assert code == 0 and "1 passed, 0 failed" in out, out
    code, out = cli("test", "--root", str(root / "main"), str(root / "main" / "t.cases.yaml"))
    assert code == 1 and "SR209" in out
    code, out = cli("eval", "--root", str(root / "main"), str(root / "main" / "ccr.rules"),
                    str(root / "p.json"))
    assert code == 1 and "SR209" in out


# ---------------------------------------------------------------------- a copy, and `new`


def test_a_copy_of_the_bundled_guidelines_checks_and_tests_anywhere(tmp_path: Path) -> None:
    """The whole copy checks; the test blocks and case files of the pathways run there
    (the 513 cases of the spine component and vcf corpora run in place, under pytest, and
    here every one of them is shown to name a guideline and patient inside the copy)."""
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(GUIDELINES, copy, symlinks=True)
    code, out = cli("check", str(copy))
    assert code == 0, out
    assert "ok: 9 guideline(s)" in out
    big = {copy / "spine" / "cases" / "components.cases.yaml",
           copy / "vcf" / "cases" / "vcf.cases.yaml"}
    for corpus in big:
        cases = list(cases_from_yaml(corpus))
        assert len(cases) > 100
        for case in cases:
            assert case.error is None, case.error
            assert Path(case.guideline).resolve().is_relative_to(copy.resolve())
    others = [str(p) for p in sorted(copy.glob("*/cases/*.yaml")) if p not in big]
    code, out = cli("test", str(copy / "vcf" / "vcf.rules"), *others)
    assert code == 0, out
    tail = out.strip().splitlines()[-1]
    assert tail.endswith("passed, 0 failed") and int(tail.split()[0]) > 200


def test_new_scaffolds_a_project_that_checks_tests_and_formats(tmp_path: Path) -> None:
    code, out = cli("new", "back-pain", cwd=tmp_path)
    assert code == 0, out
    folder = tmp_path / "back-pain"
    assert {p.name for p in folder.rglob("*") if p.is_file()} == {
        "spinerules.toml", "record.rules", "back_pain.rules", "older-with-back-pain.json",
        "back_pain.cases.yaml"}
    assert cli("check", str(folder))[0] == 0
    code, out = cli("test", str(folder))
    assert code == 0 and out.strip().endswith("4 passed, 0 failed"), out
    code, out = cli("fmt", "--check", str(folder))
    assert code == 0, out
    code, out = cli("eval", str(folder), str(folder / "patients/older-with-back-pain.json"),
                    "--as-of", "2026-01-01", "--format", "json")
    assert code == 0 and '"review"' in out
    assert cli("new", "back-pain", cwd=tmp_path)[0] == 2  # the folder is in use
    assert cli("new", "1bad", cwd=tmp_path)[0] == 2


def test_the_pytest_plugin_runs_a_new_project_in_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    new_project(folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout
