"""The guidelines a service serves, loaded once (warm) at start, with their example patients.

Examples of a guideline: the bundled example patients (``guidelines/patients``) that its own
files name (its case files and comments), or that are named after it (``<id>-*.json``);
every example if it names none. A guideline with a record type of its own (a project) has
the JSON files of its project's ``patients/`` folder. The founding case also comes as a
FHIR R4 Bundle (``founding-case.bundle``), generated from its record by the bundled
mapping, so that an integrator can try the Bundle path with one click.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from pathlib import Path
from typing import Any

from spinerules import api
from spinerules.lang.resources import guidelines_dir

#: the date the generated example Bundle is written at (birth date from age, onset from
#: weeks): the date the bundled cases are evaluated at
EXAMPLE_AS_OF = datetime.date(2026, 2, 18)
BUNDLE_SUFFIX = ".bundle"
_PATIENT_REF = re.compile(r"patients/([A-Za-z0-9_-]+)\.json")


@dataclasses.dataclass(frozen=True)
class Served:
    """One guideline as served: the loaded guideline, its listing entry, its examples."""

    guideline: api.Guideline
    listing: dict[str, Any]
    examples: dict[str, Path | None]  # name -> file (None: generated, see Catalog.example)

    @property
    def id(self) -> str:
        return self.guideline.id


class Catalog:
    """The served guidelines by id."""

    def __init__(self, names: tuple[str, ...]) -> None:
        wanted = names or tuple(b.name for b in api.bundled_guidelines())
        self.guidelines: dict[str, Served] = {}
        self._bundles: dict[str, dict[str, Any]] = {}
        patients = guidelines_dir() / "patients"
        all_examples = sorted(patients.glob("*.json")) if patients.is_dir() else []
        for name in wanted:
            g = api.load(name, warm=True)
            examples = self._examples_for(g, all_examples)
            listing = {"id": g.id, "title": g.title, "version": g.version, "hash": g.sha256,
                       "examples": list(examples)}
            self.guidelines[g.id] = Served(guideline=g, listing=listing, examples=examples)

    def _examples_for(self, g: api.Guideline, every: list[Path]) -> dict[str, Path | None]:
        from spinerules.records.spine import Patient

        if g.record_type is not Patient:  # a record of its own: its project's patients/
            own = Path(g.program.root) / "patients"
            return {p.stem: p for p in sorted(own.glob("*.json"))} if own.is_dir() else {}
        by_stem = {p.stem: p for p in every}
        named: set[str] = set()
        entry = g.program.paths.get(g.program.entry, g.program.entry)
        for folder in (Path(entry).parent,):  # the guideline's own folder, not its imports
            for f in folder.rglob("*"):
                if f.suffix in (".rules", ".yaml", ".yml") and f.is_file():
                    named.update(_PATIENT_REF.findall(f.read_text(encoding="utf-8",
                                                                  errors="replace")))
        named.update(s for s in by_stem if s.startswith(f"{g.id}-"))
        stems = sorted(s for s in named if s in by_stem) or sorted(by_stem)
        out: dict[str, Path | None] = {}
        for stem in sorted(stems, key=lambda s: (s != "founding-case", s)):
            out[stem] = by_stem[stem]
            if stem == "founding-case":
                out[stem + BUNDLE_SUFFIX] = None
        return out

    def example(self, served: Served, name: str) -> dict[str, Any] | None:
        """The example's JSON (a record, or a generated Bundle), or None if there is none."""
        if name not in served.examples:
            return None
        path = served.examples[name]
        if path is not None:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
        if name not in self._bundles:
            self._bundles[name] = example_bundle(served.guideline, served.examples[
                name.removesuffix(BUNDLE_SUFFIX)])
        return self._bundles[name]


def example_bundle(g: api.Guideline, record_file: Path | None) -> dict[str, Any]:
    """The FHIR R4 Bundle of an example record, at :data:`EXAMPLE_AS_OF`."""
    from spinerules.fhir.generate import to_bundle
    from spinerules.fhir.mapping import mapping_for
    from spinerules.records.loader import load_record

    assert record_file is not None
    record: Any = load_record(g.record_type, json.loads(record_file.read_text(encoding="utf-8")))
    return to_bundle(record, as_of=EXAMPLE_AS_OF, mapping=mapping_for(g.record_type))
