"""Engine bugs the fuzzers already found (logged for the lead in /tmp/engine-issues.md).

Each entry recognises one bug by the exception and the engine function it escapes from, and
names its strict-xfail regression test in tests/unit/test_hardening.py. Delete the entry
when that test starts to pass (strict xfail makes the fix visible as XPASS).
"""

from __future__ import annotations

from .harness import KnownIssue

# Every bug the fuzzers have found so far is fixed; add an entry here, with a strict-xfail
# regression test, when a new one is found and cannot be fixed at once.
KNOWN: tuple[KnownIssue, ...] = ()
