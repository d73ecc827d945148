"""Engine bugs the fuzzers already found (logged for the lead in /tmp/engine-issues.md).

Each entry recognises one bug by the exception and the engine function it escapes from, and
names its strict-xfail regression test in tests/unit/test_hardening.py. Delete the entry
when that test starts to pass.
"""

from __future__ import annotations

from .harness import KnownIssue

KNOWN: tuple[KnownIssue, ...] = ()
