"""The `fuzz` marker (`pytest -m "not fuzz"` leaves the fuzz tests out) and a summary line
saying how often the fuzzers ran into engine issues that are already known."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: Hypothesis fuzz tests (profile: SPINERULES_FUZZ)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from .harness import PROFILE, SEEN_KNOWN

    if SEEN_KNOWN:
        terminalreporter.write_sep("-", f"fuzz ({PROFILE}): known engine issues hit")
        for name, count in sorted(SEEN_KNOWN.items()):
            terminalreporter.write_line(f"{count:6d}  {name}")
