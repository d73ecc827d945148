"""The pytest plugin collects guideline test blocks and YAML case files."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

pytest_plugins = ["pytester"]

GUIDELINE = """guideline mini "Mini"
  record spine.Patient
source S:
  title "A source" year 2020 doi "10.1/s"
rule old:
  when patient.age >= 65 years
  recommend fall_prevention "Fall prevention." cite S
test "old":
  given "p.json"
  as_of 2026-02-18
  expect fall_prevention
test "wrong on purpose":
  given "p.json"
  as_of 2026-02-18
  expect no fall_prevention
"""

CASES = """guideline: mini.rules
as_of: 2026-02-18
cases:
  - name: young
    patient: {age: 30}
    want_not: [fall_prevention]
  - name: old
    patient: {age: 80}
    want_codes: [fall_prevention]
"""


def test_plugin_runs_blocks_and_cases(pytester: pytest.Pytester) -> None:
    pytester.makefile(".rules", mini=GUIDELINE)
    (pytester.path / "p.json").write_text(json.dumps({"age": 72}))
    (pytester.path / "mini.cases.yaml").write_text(CASES)
    installed = any(ep.name == "spinerules"
                    for ep in importlib.metadata.entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "spinerules.testing.pytest_plugin"]  # a source checkout
    result = pytester.runpytest(*plugin, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*`fall_prevention` was emitted, but the case forbids it*",
                                 "*rule old*fired, because*"])
