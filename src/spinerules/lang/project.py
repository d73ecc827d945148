"""Guideline projects: the folder a ``spinerules.toml`` marks, its name, version and entries.

A project file looks like this::

    [project]
    name = "canadian-cspine"
    version = "1.0.0"
    entries = ["ccr.rules"]      # the guidelines' entry files, relative to this folder

The folder holding it is the project's *root*: imports resolve inside it (by relative path,
or by module name, ``import ccr.record`` for ``ccr/record.rules``) and never leave it.
``spinerules eval <root> ...`` uses the entry file listed in ``entries``.

Example:
    >>> from spinerules.lang.resources import guidelines_dir
    >>> p = find_project(guidelines_dir() / "vcf")
    >>> p.name, "vcf/vcf.rules" in p.entries
    ('spinerules', True)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attrs

from spinerules.lang import diagnostics as dg
from spinerules.lang.source import Source, Span, read_limited, resolve, why_unreadable

PROJECT_FILE = "spinerules.toml"
MAX_PROJECT_BYTES = 64 * 1024
_KEYS = ("name", "version", "entries", "description")


@attrs.frozen(kw_only=True)
class Project:
    """A guideline project (``problems`` is empty when its ``spinerules.toml`` is valid)."""

    root: Path
    file: Path
    name: str = ""
    version: str | None = None
    entries: tuple[str, ...] = ()
    problems: tuple[dg.Diagnostic, ...] = ()
    source: Source | None = attrs.field(default=None, repr=False, eq=False)

    def entry_paths(self) -> list[Path]:
        """The entry files, as paths."""
        return [self.root / e for e in self.entries]

    def entry_for(self, folder: Path) -> Path | None:
        """The entry file for ``folder``: the project's only entry when ``folder`` is the
        root, else the one entry directly inside ``folder`` (or named after it)."""
        try:
            here = resolve(folder)
            paths = [(p, resolve(p)) for p in self.entry_paths()]
        except OSError:
            return None
        if here == resolve(self.root) and len(paths) == 1:
            return paths[0][0]
        inside = [p for p, real in paths if real.parent == here]
        if len(inside) == 1:
            return inside[0]
        named = [p for p in inside if resolve(p).stem == here.name]
        return named[0] if len(named) == 1 else None


def find_project(start: Path) -> Project | None:
    """The project whose root is ``start`` (a folder) or the nearest folder above it that
    holds a ``spinerules.toml``; None when there is none (the filesystem's root never
    counts)."""
    try:
        here = resolve(start)
        if not here.is_dir():
            here = here.parent
    except OSError:  # a symlink loop, a name too long: reading it reports that
        return None
    for folder in (here, *here.parents):
        if folder.parent == folder:
            return None
        candidate = folder / PROJECT_FILE
        try:
            present = candidate.is_file()
        except OSError:
            present = False
        if present:
            return read_project(candidate)
    return None


def read_project(file: Path) -> Project:
    """Read and check one ``spinerules.toml``; problems are located diagnostics."""
    root = file.parent
    name = f"{root.name}/{PROJECT_FILE}"
    nowhere = Span(source=name, start=0, end=0, line=1, column=1, end_line=1, end_column=1)

    def broken(span: Span, detail: str, *hints: str) -> Project:
        return Project(root=root, file=file, problems=(dg.make(
            "SR115", span, path=name, detail=detail, hints=hints),), source=source)

    source: Source | None = None
    try:
        raw, size = read_limited(file, MAX_PROJECT_BYTES)
    except OSError as exc:
        return broken(nowhere, why_unreadable(exc))
    if len(raw) > MAX_PROJECT_BYTES:
        return broken(nowhere, f"too large ({size} bytes; the limit is {MAX_PROJECT_BYTES})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return broken(nowhere, "not UTF-8 text")
    source = Source(name, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        at = nowhere
        if m:
            at = _at(source, int(m.group(1)), int(m.group(2)))
        elif "(at end of document)" in str(exc):
            end = len(text.rstrip())
            at = source.span(max(end - 1, 0), end)
        return broken(at, str(exc).split(" (at ")[0], "see docs/authors/projects.md")
    table = data.get("project")
    if not isinstance(table, dict):
        return broken(nowhere, "it has no `[project]` table",
                      'start it with `[project]`, `name = "..."`, `entries = ["x.rules"]`')
    problems: list[dg.Diagnostic] = []

    def problem(key: str, detail: str, *hints: str) -> None:
        problems.append(dg.make("SR115", _key_span(source, key) or nowhere, path=name,
                                detail=detail, hints=hints))

    for key in table:
        if key not in _KEYS:
            problem(key, f"unknown key `{key}`",
                    *(dg.did_you_mean(key, _KEYS) or (f"keys: {', '.join(_KEYS)}",)))
    project_name = table.get("name")
    if not isinstance(project_name, str) or not project_name:
        problem("name", "`name` must be a non-empty string", 'add `name = "my-guideline"`')
        project_name = ""
    version = table.get("version")
    if version is not None and not isinstance(version, str):
        problem("version", "`version` must be a string", 'write `version = "1.0.0"`')
        version = None
    entries = table.get("entries", [])
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        problem("entries", "`entries` must be a list of file names",
                'write `entries = ["my_guideline.rules"]`')
        entries = []
    for e in entries:
        if Path(e).is_absolute() or ".." in Path(e).parts or not e.endswith(".rules"):
            problem("entries", f"entry `{e}` is not a `.rules` file inside the project",
                    "name each entry file relative to the folder of spinerules.toml")
    return Project(root=root, file=file, name=project_name, version=version,
                   entries=tuple(entries), problems=tuple(problems), source=source)


def _at(source: Source, line: int, column: int) -> Span:
    offset = 0
    for _ in range(line - 1):
        nl = source.text.find("\n", offset)
        if nl < 0:
            break
        offset = nl + 1
    offset = min(offset + column - 1, len(source.text))
    return source.span(offset, min(offset + 1, len(source.text)))


def _key_span(source: Source, key: str) -> Span | None:
    m = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", source.text, re.MULTILINE)
    if m is None:
        return None
    start = m.start() + len(m.group()) - len(m.group().lstrip())
    return source.span(start, start + len(key))


# ---------------------------------------------------------------------- `spinerules new`

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")

_TEMPLATES = {
    PROJECT_FILE: """\
[project]
name = "{name}"
version = "0.1.0"
description = "{title}"
entries = ["{id}.rules"]
""",
    "record.rules": """\
module {id}.record "The facts {id} reads"

enum {id}.Sex "Sex recorded for the patient": female, male

type {id}.Patient "A patient":
  field id: string "patient or case identifier"
  field age: integer years 0..120 "age in whole years"
  field sex: Sex "female or male"
  field back_pain: boolean "back pain now"
""",
    "{id}.rules": """\
guideline {id} "{title}"
  version "0.1.0"
  record {id}.Patient
  status draft

import record

source PLACEHOLDER:
  title "Replace with the guideline or study this rule comes from"
  url "https://example.org/replace-me"
  unverified "a placeholder: cite the published source before use"

rule R1.older_with_back_pain:
  when patient.age >= 65 years and patient.back_pain
  recommend review "Review the older patient with back pain"
    cite PLACEHOLDER

test "an older patient with back pain is reviewed":
  given "patients/older-with-back-pain.json"
  as_of 2026-01-01
  expect review
""",
    "patients/older-with-back-pain.json": """\
{{
  "id": "older-with-back-pain",
  "age": 72,
  "sex": "female",
  "back_pain": true
}}
""",
    "cases/{id}.cases.yaml": """\
# Cases for `spinerules test` and `pytest`: one per branch, both sides of each threshold.
guideline: ../{id}.rules
as_of: '2026-01-01'
cases:
- name: 65 with back pain is reviewed
  patient: {{age: 65, back_pain: true}}
  want_codes: [review]
- name: 64 with back pain is not
  patient: {{age: 64, back_pain: true}}
  want_not: [review]
- name: 80 without back pain is not
  patient: {{age: 80, back_pain: false}}
  want_not: [review]
""",
}


def new_project(folder: Path, name: str | None = None) -> list[Path]:
    """Write a new guideline project into ``folder`` (which must not exist, or be empty):
    ``spinerules.toml``, a record declaration, a guideline with a source, a rule and a
    test block, a test patient and a case file. Returns the files written; raises
    ``ValueError`` (a bad name, a folder in use) or ``OSError``."""
    name = name or folder.name
    if not _NAME.match(name):
        raise ValueError(f"`{name}` is not a project name: use letters, digits, `-` and `_`, "
                         "starting with a letter")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"`{folder}` already exists and is not an empty folder")
    ident = name.replace("-", "_")
    title = f"{name}: a new guideline"
    written = []
    for path, text in _TEMPLATES.items():
        target = folder / path.format(id=ident)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.format(id=ident, name=name, title=title), encoding="utf-8")
        written.append(target)
    return written
