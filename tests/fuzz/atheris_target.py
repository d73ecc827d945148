"""Coverage-guided fuzzing with atheris (libFuzzer): an optional, open-ended companion to the
Hypothesis fuzz tests, with the same property (see harness.py and docs/security.md).

    pip install atheris
    python tests/fuzz/atheris_target.py rules   CORPUS_DIR [libFuzzer options]
    python tests/fuzz/atheris_target.py patient CORPUS_DIR -max_total_time=600

The first argument picks the target: ``rules`` (the bytes are a `.rules` file: read, parse,
check, load and, if it loads, evaluate) or ``patient`` (the bytes are a patient record for
the bundled `vcf` guideline). libFuzzer writes new inputs into CORPUS_DIR, so give it a copy
(for example of tests/bad_inputs/rules or examples/patients), never the repository folder.
A crash input is saved as ``crash-<sha1>``; replay it with
``python tests/fuzz/atheris_target.py rules crash-<sha1>``.

Without atheris installed the script says so and exits 0, and the smoke test skips.
"""

from __future__ import annotations

import datetime
import importlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT / "src", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

try:
    import atheris
except ImportError:  # pragma: no cover - depends on the environment
    atheris = None

TARGETS = ("rules", "patient")


def _import_instrumented() -> None:
    """Import the library under atheris' coverage instrumentation."""
    assert atheris is not None
    with atheris.instrument_imports(include=["spinerules"]):
        for name in ("spinerules", "spinerules.api", "spinerules.records", "spinerules.cli"):
            importlib.import_module(name)


def make_target(kind: str) -> object:
    """The function libFuzzer calls with each input."""
    from fuzz import harness

    if kind == "rules":
        folder = Path(tempfile.mkdtemp(prefix="spinerules-atheris-"))

        def rules(data: bytes) -> None:
            harness.check_rules_bytes(data, folder)

        return rules

    import spinerules
    from spinerules.records import load_record_json
    from spinerules.records.spine import Patient

    try:
        g: spinerules.Guideline | None = spinerules.load("vcf")
    except spinerules.GuidelineError:
        g = None
    as_of = datetime.date(2026, 2, 18)

    def patient(data: bytes) -> None:
        def step() -> None:
            record = load_record_json(Patient, data)
            if g is not None:
                result = g.evaluate(record, as_of=as_of, trace=True)
                harness.strict_json(result.dumps())
                g.codes(record, as_of=as_of)

        harness.guarded("patient", data, step)

    return patient


def main(argv: list[str]) -> int:
    if atheris is None:
        print("atheris is not installed (pip install atheris); nothing to do")
        return 0
    if len(argv) < 2 or argv[1] not in TARGETS:
        print(__doc__)
        return 2
    kind = argv[1]
    _import_instrumented()
    atheris.Setup([argv[0], *argv[2:]], make_target(kind))
    atheris.Fuzz()
    return 0  # pragma: no cover - atheris.Fuzz() exits the process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
