"""The service under a small load (issue #14): the suite's version of
``benchmarks/service_load.py`` (10,000 calls there, figures in docs/performance.md).

``spinerules serve --workers 2`` in a subprocess on loopback (a free port, always stopped),
16 concurrent clients, 1,000 ``patient-view`` calls with the founding case as FHIR prefetch:
no call may fail, and the audit log must hold exactly one entry per call, each call's
``hookInstance`` once (two worker processes appending to one file lose and mix nothing).
Speed is not asserted here: the benchmark reports it.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the service extra installs uvicorn")

pytestmark = pytest.mark.slow


def _benchmark() -> Any:
    """benchmarks/service_load.py, imported without leaving the benchmarks folder (and its
    ``common`` module) on the path of the rest of the suite."""
    had_common = "common" in sys.modules
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        return importlib.import_module("service_load")
    finally:
        sys.path.pop(0)
        if not had_common:
            sys.modules.pop("common", None)


def test_1000_calls_16_clients_2_workers_no_error_and_exact_audit() -> None:
    service_load = _benchmark()
    r = service_load.run(calls=1000, clients=16, workers=2, log=lambda _s: None)
    assert r["errors"] == 0, r["error_sample"]
    assert r["cards"] > 0
    assert r["audit_lines"] == 1000
    assert r["audit_hook_entries"] == 1000
    assert r["audit_every_call_once"]
    assert service_load.ok(r)
