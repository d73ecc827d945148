"""A pytest plugin: guideline tests run under plain ``pytest``.

Registered through the ``pytest11`` entry point. It collects

- `.rules` entry files (with a ``guideline`` header) that hold ``test`` blocks: one item
  per block;
- YAML case files named ``*.cases.yaml`` (or any ``.yaml`` inside a folder named ``cases``)
  with a ``guideline`` or ``cases`` key: one item per case.

A failing item prints expected against actual and the explanation of the codes involved.
Disable with ``-p no:spinerules``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spinerules.testing.runner import (
    DEFAULT_AS_OF,
    Case,
    GuidelineCache,
    cases_from_guideline,
    cases_from_yaml,
    describe_failure,
    run_case,
)


def _is_case_file(path: Path) -> bool:
    if path.suffix not in (".yaml", ".yml"):
        return False
    if not (path.name.endswith((".cases.yaml", ".cases.yml")) or path.parent.name == "cases"):
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:20_000]
    except OSError:
        return False
    return any(line.startswith(("guideline:", "cases:")) for line in head.splitlines())


def _is_tested_guideline(path: Path) -> bool:
    if path.suffix != ".rules":
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    lines = text.splitlines()
    has_header = any(line.startswith("guideline ") for line in lines)
    return has_header and ("\ntest \"" in text or any(
        line.lstrip().startswith("import ") for line in lines))


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect guideline files with test blocks and YAML case files."""
    if _is_case_file(file_path):
        return CaseFile.from_parent(parent, path=file_path)
    if _is_tested_guideline(file_path):
        return GuidelineFile.from_parent(parent, path=file_path)
    return None


_CACHE = pytest.StashKey[GuidelineCache]()
"""The session's loaded guidelines: each loaded once for all the cases that name it."""


class CaseFailedError(Exception):
    """A guideline case whose outcome differs from its expectation."""


class CaseItem(pytest.Item):
    """One case: evaluate the patient and compare with the expectation."""

    def __init__(self, *, case: Case, guideline: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.guideline = guideline

    def runtest(self) -> None:
        cache = self.session.stash.setdefault(_CACHE, GuidelineCache())
        result = run_case(self.case, self.guideline, cache=cache)
        if not result.passed:
            raise CaseFailedError(describe_failure(result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailedError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"guideline case: {self.case.name}"


class CaseFile(pytest.File):
    """A YAML case file."""

    def collect(self) -> Iterator[CaseItem]:
        cache = self.session.stash.setdefault(_CACHE, GuidelineCache())
        for case in cases_from_yaml(self.path, cache):
            yield CaseItem.from_parent(self, name=case.name, case=case)


class GuidelineFile(pytest.File):
    """A guideline entry file; its (and its imports') test blocks become items."""

    def collect(self) -> Iterator[CaseItem]:
        from spinerules.api import load
        from spinerules.lang import diagnostics as dg

        try:
            g = load(self.path)
        except dg.GuidelineError as exc:
            case = Case(name="loads", origin=str(self.path), guideline=str(self.path),
                        patient=None, as_of=DEFAULT_AS_OF,
                        error=f"the guideline does not load:\n{exc}")
            yield CaseItem.from_parent(self, name="loads", case=case)
            return
        for case in cases_from_guideline(g):
            yield CaseItem.from_parent(self, name=case.name, case=case, guideline=g)
