"""Source text, spans and the offset-to-position arithmetic every diagnostic needs."""

from __future__ import annotations

import bisect
import errno
import os
import stat
from pathlib import Path

import attrs


@attrs.frozen(kw_only=True)
class Span:
    """A range of one source file: offsets (end exclusive) plus 1-based line and column."""

    source: str
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    def location(self) -> str:
        """``file:line:column``, the form every message uses."""
        return f"{self.source}:{self.line}:{self.column}"


NO_SPAN = Span(source="<none>", start=0, end=0, line=1, column=1, end_line=1, end_column=1)


@attrs.frozen
class Source:
    """A named source text with a line index for offset lookups.

    Example:
        >>> s = Source("a.rules", "rule x:\\n  when y")
        >>> s.position(10)
        (2, 3)
    """

    name: str
    text: str
    _line_starts: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        starts = [0]
        find = self.text.find
        i = find("\n")
        while i != -1:
            starts.append(i + 1)
            i = find("\n", i + 1)
        object.__setattr__(self, "_line_starts", tuple(starts))

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of an offset; a tab counts as one column."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def span(self, start: int, end: int) -> Span:
        """A span from offsets."""
        line, column = self.position(start)
        end_line, end_column = self.position(max(start, end))
        return Span(
            source=self.name, start=start, end=end, line=line, column=column,
            end_line=end_line, end_column=end_column,
        )

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]

    def slice(self, span: Span) -> str:
        """The text a span covers."""
        return self.text[span.start : span.end]


# --- reading files that may be hostile ----------------------------------------------------

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


class NotRegularFileError(OSError):
    """A path names a folder, named pipe, device or socket, not a regular file."""


def read_limited(path: str | os.PathLike[str], max_bytes: int) -> tuple[bytes, int]:
    """At most ``max_bytes + 1`` bytes of a regular file, and its size on disk.

    The file is opened without blocking (a named pipe would wait for a writer forever) and
    checked to be a regular file before anything is read (``/dev/zero`` never ends); the
    caller compares ``len(data)`` with ``max_bytes``. Raises :class:`OSError` (its
    ``strerror`` says why: ``not a regular file (a named pipe)``, ``Too many levels of
    symbolic links``, ``File name too long``...).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "something else")
            raise NotRegularFileError(errno.EINVAL, f"not a regular file ({kind})", str(path))
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data, max(info.st_size, len(data))
    finally:
        os.close(fd)


def resolve(path: str | os.PathLike[str]) -> Path:
    """``Path(path).resolve()``, with a symlink loop an :class:`OSError` (``ELOOP``) as on
    every Python version (3.11 raises ``RuntimeError``)."""
    try:
        return Path(path).resolve()
    except RuntimeError:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from None


def why_unreadable(exc: OSError) -> str:
    """What an :class:`OSError` from reading a file says, without the path (shown apart)."""
    return exc.strerror or str(exc)


def is_folder(path: str | os.PathLike[str]) -> bool:
    """``Path.is_dir()``, false (not an exception) for a name too long to look up."""
    try:
        return Path(path).is_dir()
    except OSError:
        return False
