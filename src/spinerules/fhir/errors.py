"""Located problems with FHIR input and with mapping files."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["FhirError", "FhirProblem", "MappingError"]


@attrs.frozen
class FhirProblem:
    """One thing wrong with the input: where (a JSON path, a file and line) and what."""

    path: str
    message: str
    file: str | None = None
    line: int | None = None

    def where(self) -> str:
        parts = [p for p in (self.file, str(self.line) if self.line else None) if p]
        loc = ":".join(parts)
        return f"{loc}: {self.path}" if loc else self.path

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "message": self.message}
        if self.file is not None:
            out["file"] = self.file
        if self.line is not None:
            out["line"] = self.line
        return out


class FhirError(Exception):
    """FHIR input could not be read; ``problems`` lists every problem, each located."""

    problems: tuple[FhirProblem, ...]

    def __init__(self, problems: Iterable[FhirProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(*self.problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class MappingError(Exception):
    """A mapping file is wrong; ``problems`` are located by file, line and key path."""

    problems: tuple[FhirProblem, ...]

    def __init__(self, problems: Iterable[FhirProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(*self.problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
