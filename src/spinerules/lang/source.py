"""Source text, spans and the offset-to-position arithmetic every diagnostic needs."""

from __future__ import annotations

import bisect

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
