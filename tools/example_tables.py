"""Regenerate the example-patient tables of docs/guidelines/*.md from the engine.

Each table headed ``| patient | codes from `eval NAME` (most urgent first) | requests | scores |``
lists example patients (``examples/patients/``); this script recomputes every row's codes,
requests and scores by evaluating the patient with guideline NAME as of 2026-02-18, the date
the tests use (``tests/guidelines/test_pathways.py`` checks the tables against the engine).

    python tools/example_tables.py           # rewrite the tables in place
    python tools/example_tables.py --check   # exit 1 if a table is stale
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from functools import cache
from pathlib import Path

import spinerules

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "guidelines"
PATIENTS = ROOT / "examples" / "patients"
AS_OF = datetime.date(2026, 2, 18)
HEADER = re.compile(r"^\| patient \| codes from `eval ([a-z_]+)`[^\n]*\n\|[-| ]+\|\n", re.M)
ROW = re.compile(r"^\| (`?)([a-z0-9-]+)(\.json)?(`?) \|[^\n]*\n", re.M)


@cache
def guideline(name: str) -> spinerules.Guideline:
    return spinerules.load(name)


def row(name: str, cell: str, stem: str) -> str:
    record = json.loads((PATIENTS / f"{stem}.json").read_text(encoding="utf-8"))
    r = guideline(name).evaluate(record, as_of=AS_OF)
    own = {c for c in r.missing_codes() if c != "record_missing_facts"}
    codes = ", ".join(f"`{c}`" for c in dict.fromkeys(x.code for x in r.recommendations))
    missing = ", ".join(f"`{c}`" for c in dict.fromkeys(m.code for m in r.missing
                                                       if m.code in own)) or "-"
    scores = "; ".join(
        f"{k} {_num(s.value)}" if s.value is not None else f"{k} {_num(s.low)}-{_num(s.high)}"
        for k, s in sorted(r.scores.items()))
    return f"| {cell} | {codes or '-'} | {missing} | {scores or '-'} |\n"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def regenerate(text: str) -> str:
    out, pos = [], 0
    for h in HEADER.finditer(text):
        name = h.group(1)
        out.append(text[pos:h.end()])
        pos = h.end()
        rows: dict[str, str] = {}
        while (m := ROW.match(text, pos)) is not None:
            cell = m.group(0).split(" | ")[0][2:]
            rows.setdefault(m.group(2), row(name, cell, m.group(2)))
            pos = m.end()
        out.extend(rows[k] for k in sorted(rows))
    out.append(text[pos:])
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        new = regenerate(text)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(("stale: " if args.check else "wrote ") + str(path.relative_to(ROOT)))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
