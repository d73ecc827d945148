"""The `fuzz` marker: `pytest -m "not fuzz"` leaves the fuzz tests out."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: Hypothesis fuzz tests (profile: SPINERULES_FUZZ)")
