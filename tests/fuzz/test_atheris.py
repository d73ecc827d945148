"""Smoke test of the optional atheris target: a short run of each target must find nothing.

Skipped when atheris is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fuzz
pytest.importorskip("atheris")

SCRIPT = Path(__file__).with_name("atheris_target.py")


@pytest.mark.parametrize("target", ["rules", "patient"])
def test_atheris_target_runs_clean(tmp_path: Path, target: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    runs = "20000" if os.environ.get("SPINERULES_FUZZ") == "long" else "300"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), target, str(corpus), f"-runs={runs}", "-max_len=2048",
         "-seed=1", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
