"""Assembling a guideline: reading its files and imports, then the name-level checks.

Imports are confined to a root folder (the project's: the folder of the nearest
``spinerules.toml``; else the entry file's folder; the bundled guidelines share the
``guidelines/`` folder): absolute paths, ``..`` and symlinks that lead outside it are
refused before anything is read. An import names a file relative to the importing file
(``import "red_flags.rules"``), a module by name from the root (``import vcf.red_flags``
is ``<root>/vcf/red_flags.rules``), or a bundled module (``import spinerules:vcf.red_flags``),
which is confined to the bundled folder as a project's files are to theirs.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import attrs

from spinerules.lang import diagnostics as dg
from spinerules.lang import nodes as n
from spinerules.lang.parser import DEFAULT_LIMITS, Limits, decode_source, parse
from spinerules.lang.resources import guidelines_dir
from spinerules.lang.source import Source, Span, read_limited, resolve, why_unreadable


@attrs.frozen(kw_only=True)
class Program:
    """Every file of one guideline, parsed, with the entry header and content hashes."""

    entry: str
    root: str
    header: n.Header | None
    files: tuple[n.File, ...]
    texts: dict[str, Source]
    sha256: dict[str, str]
    paths: dict[str, str] = attrs.field(factory=dict)  # display name -> file on disk

    def items(self) -> Iterator[n.Item]:
        """Top-level items of every file, entry file first."""
        for f in self.files:
            yield from f.items


def _display(path: Path, root: Path) -> str:
    """``path`` as diagnostics and results name it: from the guideline folder's name on
    (``vcf/red_flags.rules``), or whole when that folder sits at the filesystem's root."""
    if root.parent == root.parent.parent:  # /tmp/x.rules, not tmp/x.rules
        return path.as_posix()
    try:
        rel = path.relative_to(root.parent)
    except ValueError:
        return str(path)
    return rel.as_posix()


def confined(target: str, base: Path, root: Path) -> tuple[Path | None, str | None]:
    """Resolve an import path; returns (path, None) or (None, why it was refused).

    Raises :class:`OSError` when the path cannot be resolved (a symlink loop).
    """
    if not target or os.path.isabs(target) or target.startswith(("/", "\\")) or ":" in target:
        return None, "absolute paths are not allowed"
    candidate = base / target
    real_root = resolve(root)
    real = resolve(candidate)
    if real != real_root and real_root not in real.parents:
        if any(part == ".." for part in Path(target).parts):
            return None, "`..` leads out of the guideline folder"
        return None, "the file (or a symlink on the way) lies outside the guideline folder"
    return candidate, None


BUNDLED_PACKAGE = "spinerules"
"""The package name of the bundled modules: ``import spinerules:vcf.red_flags``."""


def assemble(entry: Path, *, root: Path | None = None, limits: Limits = DEFAULT_LIMITS,
             text: str | None = None) -> tuple[Program, list[dg.Diagnostic]]:
    """Read the entry file and, transitively, its imports."""
    entry = Path(entry)
    root = Path(root) if root is not None else entry.parent
    problems: list[dg.Diagnostic] = []
    files: list[n.File] = []
    texts: dict[str, Source] = {}
    hashes: dict[str, str] = {}
    paths: dict[str, str] = {}
    ids = iter(range(1, 1 << 62))
    seen: dict[Path, str] = {}
    program_root = root

    def unreadable(at: Span | None, display: str, exc: OSError) -> None:
        code = "SR210" if at is not None else "SR110"
        problems.append(dg.make(code, at or _nowhere(display), path=_shorten(display),
                                detail=why_unreadable(exc)))

    def load_file(path: Path, display: str, raw: bytes | None, stack: tuple[Path, ...],
                  at: Span | None, root: Path = root) -> None:
        try:
            real = resolve(path)
        except OSError as exc:  # a symlink loop
            unreadable(at, display, exc)
            return
        if real in stack:
            cycle = " -> ".join(seen.get(p, str(p)) for p in (*stack, real))
            problems.append(dg.make("SR211", at or _nowhere(display), cycle=cycle))
            return
        if real in seen:
            return
        if len(seen) >= limits.max_files:
            problems.append(dg.make("SR111", at or _nowhere(display), what="files",
                                    count=len(seen) + 1, limit=limits.max_files,
                                    hints=("import fewer files, or raise "
                                           "`Limits.max_files`",)))
            return
        seen[real] = display
        size = len(raw) if raw is not None else 0
        if raw is None:
            try:  # a regular file only, never more than the limit (and one byte) in memory
                raw, size = read_limited(path, limits.max_bytes)
            except OSError as exc:
                unreadable(at, display, exc)
                return
        if len(raw) > limits.max_bytes:
            problems.append(dg.make("SR107", _nowhere(display), size=size,
                                    limit=limits.max_bytes,
                                    hints=("split the guideline into modules with `import`",)))
            return
        hashes[display] = hashlib.sha256(raw).hexdigest()
        paths[display] = str(path)
        source, decode_problems = decode_source(raw, display)
        problems.extend(decode_problems)
        if source is None:
            return
        texts[display] = source
        file, parse_problems = parse(source, limits, ids, recover=True)
        problems.extend(parse_problems)
        if file is None:
            return
        files.append(file)
        for item in file.items:
            if isinstance(item, n.Import):
                here_root, base, wanted = root, path.parent, item.path
                if item.module is not None:
                    wanted = "/".join(item.module.split(".")) + ".rules"
                    base = root
                    if item.package is not None:
                        if item.package != BUNDLED_PACKAGE:
                            problems.append(dg.make(
                                "SR210", item.span, path=f"{item.package}:{item.module}",
                                detail=f"no package `{_shorten(item.package)}`",
                                hints=(f"bundled modules are imported as "
                                       f"`{BUNDLED_PACKAGE}:<module>`; a module of this "
                                       "project by its name alone",)))
                            continue
                        here_root = base = guidelines_dir()
                shown = _shorten(item.path if item.module is None else (
                    f"{item.package}:" if item.package else "") + item.module)
                try:
                    target, why = confined(wanted, base, here_root)
                    real_root = resolve(here_root)
                    real_target = resolve(target) if target is not None else None
                except OSError as exc:  # a symlink loop on the way
                    problems.append(dg.make("SR210", item.span, path=shown,
                                            detail=why_unreadable(exc)))
                    continue
                if target is None or real_target is None:
                    problems.append(dg.make("SR209", item.span, path=shown,
                                            root=_display(real_root, real_root),
                                            notes=(why,) if why else ()))
                    continue
                if _missing(target):
                    problems.append(dg.make("SR210", item.span, path=shown,
                                            detail="no such file", hints=(
                                                (f"a module name is a path from the project "
                                                 f"root: `{wanted}`",)
                                                if item.module is not None else ())))
                    continue
                shown_as = _display(real_target, real_root)
                if resolve(here_root) != resolve(program_root):
                    shown_as = f"{BUNDLED_PACKAGE}:{real_target.relative_to(real_root).as_posix()}"
                load_file(target, shown_as, None, (*stack, real), item.span, here_root)

    entry_display = str(entry) if not entry.is_absolute() else _display(entry, root)
    raw_entry: bytes | None = None
    if text is not None:
        try:
            raw_entry = text.encode("utf-8")
        except UnicodeEncodeError as exc:  # an unpaired surrogate: not text a file can hold
            shown = Source(entry_display, printable(text))
            problems.append(dg.make("SR105", shown.span(exc.start, exc.start + 1),
                                    detail=f"unpaired surrogate {text[exc.start]!a}",
                                    hints=("a guideline is UTF-8 text",)))
            return Program(entry=entry_display, root=str(root), header=None, files=(),
                           texts={entry_display: shown}, sha256={}, paths={}), problems
    load_file(entry, entry_display, raw_entry, (), None)
    return _program(entry_display, root, files, texts, hashes, paths, problems), problems


def rebuild(entry: str, root: str, sources: list[tuple[str, str, bytes]],
            limits: Limits = DEFAULT_LIMITS) -> tuple[Program, list[dg.Diagnostic]]:
    """The program of files already read, without touching the filesystem.

    ``sources`` lists ``(display name, path on disk, bytes)`` in the order ``assemble``
    read them (``Program.texts`` keeps that order), so nodes get the same ids; what the
    files import is not looked up again. Used to rebuild a pickled ``Guideline``.
    """
    problems: list[dg.Diagnostic] = []
    files: list[n.File] = []
    texts: dict[str, Source] = {}
    hashes: dict[str, str] = {}
    paths: dict[str, str] = {}
    ids = iter(range(1, 1 << 62))
    for display, path, raw in sources:
        hashes[display] = hashlib.sha256(raw).hexdigest()
        paths[display] = path
        source, decode_problems = decode_source(raw, display)
        problems.extend(decode_problems)
        if source is None:
            continue
        texts[display] = source
        file, parse_problems = parse(source, limits, ids)
        problems.extend(parse_problems)
        if file is not None:
            files.append(file)
    return _program(entry, Path(root), files, texts, hashes, paths, problems), problems


def _program(entry_display: str, root: Path, files: list[n.File], texts: dict[str, Source],
             hashes: dict[str, str], paths: dict[str, str],
             problems: list[dg.Diagnostic]) -> Program:
    """The program of the files read; header problems are added to ``problems``."""
    header = None
    if files:
        headers = [i for i in files[0].items if isinstance(i, n.Header)]
        header = headers[0] if headers else None
        if header is None and not problems:
            problems.append(dg.make("SR213", _nowhere(entry_display)))
        for extra in headers[1:]:
            problems.append(dg.make("SR214", extra.span))
        for f in files[1:]:
            for i in f.items:
                if isinstance(i, n.Header):
                    problems.append(dg.make("SR214", i.span,
                                            hints=("an imported file starts with `module`",)))
    return Program(entry=entry_display, root=str(root), header=header, files=tuple(files),
                   texts=texts, sha256=hashes, paths=paths)


def printable(text: str) -> str:
    """``text`` with each unpaired surrogate replaced by U+FFFD (one for one: offsets hold)."""
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _missing(path: Path) -> bool:
    """Nothing at all at ``path`` (other problems are reported when it is opened)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def _shorten(text: str, width: int = 80) -> str:
    """An import path as a message shows it: at most ``width`` characters."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _nowhere(name: str) -> Span:
    return Span(source=name, start=0, end=0, line=1, column=1, end_line=1, end_column=1)
