"""Generate the record reference: docs/reference/records.md and one JSON Schema per record.

Every record type a guideline may name (``spinerules.api.default_records()``), every field
with its type, unit, range and doc, read from the record classes
(``spinerules.records.describe``), and the patient JSON Schema that ``spinerules schema
spine`` prints.

    python tools/gen_record_docs.py            # rewrite both files
    python tools/gen_record_docs.py --check    # exit 1 if a committed file is stale

tests/unit/test_record_docs.py fails when a committed file differs from what this writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spinerules.api import default_records
from spinerules.records.describe import json_schema, reference_markdown

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"


def outputs() -> dict[Path, str]:
    """Each generated file and its text."""
    records = default_records()
    out = {REFERENCE / "records.md": reference_markdown(records)}
    for name, record in records.items():
        out[REFERENCE / f"{name}.schema.json"] = json.dumps(
            json_schema(record, name=name), indent=2) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        print(f"stale: {path.relative_to(ROOT)} (run python tools/gen_record_docs.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
