"""The package's layering (issue #17): the import-linter contracts in pyproject.toml.

`make test` runs `lint-imports` on the real tree; these tests run it too, and show that the
contract can fail: a copy of the package in which a language module imports the engine
breaks it, with the chain named.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(package_parent: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-logo", "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=cwd, env={"PYTHONPATH": str(package_parent), "PATH": ""},
        capture_output=True, text=True, timeout=120, check=False)


def test_the_tree_keeps_its_layers(tmp_path: Path) -> None:
    run = _lint(ROOT / "src", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 kept, 0 broken" in run.stdout


def test_a_language_module_importing_the_engine_breaks_the_contract(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "spinerules", copy / "spinerules",
                    ignore=shutil.ignore_patterns("__pycache__"))
    source = copy / "spinerules" / "lang" / "source.py"
    source.write_text(source.read_text() + "\nfrom spinerules.engine import values  # noqa\n")
    run = _lint(copy, tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert "Wings are layered: the language at the bottom, the command line at the top BROKEN" \
        in out
    assert "spinerules.lang.source -> spinerules.engine.values" in out
    assert "1 kept, 1 broken" in out
