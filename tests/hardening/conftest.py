"""Bounded probes: each hostile input is tried in a child process with hard limits.

:func:`run_bounded` runs a snippet of Python in a fresh interpreter whose address space
is limited to :data:`MEMORY` bytes (``resource.setrlimit(RLIMIT_AS)``, set before
``spinerules`` is imported) and whose probe must end within :data:`SECONDS` seconds (an
interval timer started after the imports and a warm-up check, so that the time counts the
probe and not the interpreter's start; ``SIGALRM`` ends the process). A probe that runs
out of memory, hangs, or prints a Python traceback fails the test that ran it; the test
then checks the exact code and location in what the probe printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest

resource = pytest.importorskip("resource")  # POSIX only

import spinerules  # noqa: E402

SRC = Path(spinerules.__file__).resolve().parents[1]
MEMORY = 500 * 1024 * 1024
"""Address space of a probe's process, in bytes."""
SECONDS = 5.0
"""Time a probe may take once the interpreter has started."""
STARTUP_SECONDS = 60.0
"""Time allowed for the interpreter to start and import (a shared machine may be slow)."""

AS_OF = "2026-02-18"
HEADER = """guideline g "G"
  record spine.Patient
source S:
  title "A source"
  url "https://example.org/s"
"""
RULE = "rule r:\n  when true\n  recommend x cite S\n"

_PRELUDE = f"""
import resource, signal, sys
resource.setrlimit(resource.RLIMIT_AS, ({MEMORY}, {MEMORY}))
import spinerules, spinerules.cli, spinerules.testing
spinerules.check("<warm-up>.rules", text='guideline w "W"\\n', root="/nonexistent")
signal.setitimer(signal.ITIMER_REAL, {SECONDS})
"""


@attrs.frozen
class Outcome:
    """What a probe printed, and how it ended (``exit`` is the exit status)."""

    exit: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_bounded(code: str, *, cwd: Path | None = None) -> Outcome:
    """Run ``code`` (Python, dedented) in a child process under the limits above.

    Fails the calling test if the probe is killed by the timer, runs out of memory or
    prints a traceback.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])}
    try:
        proc = subprocess.run([sys.executable, "-c", _PRELUDE + textwrap.dedent(code)],
                              capture_output=True, text=True, env=env, cwd=cwd,
                              timeout=STARTUP_SECONDS + SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the probe did not end within {STARTUP_SECONDS + SECONDS} s")
    out = Outcome(proc.returncode, proc.stdout, proc.stderr)
    if proc.returncode == -14:  # SIGALRM: the interval timer fired
        pytest.fail(f"the probe took more than {SECONDS} s\n{out.text[-2000:]}")
    if "MemoryError" in out.text:
        pytest.fail(f"the probe ran out of memory\n{out.text[-2000:]}")
    if "Traceback" in out.text:
        pytest.fail(f"the probe printed a traceback\n{out.text[-4000:]}")
    if proc.returncode < 0:
        pytest.fail(f"the probe was killed by signal {-proc.returncode}")
    return out


def cli(*args: str, cwd: Path | None = None) -> Outcome:
    """``spinerules <args>`` in a bounded child process."""
    return run_bounded(f"sys.argv = ['spinerules', *{list(args)!r}]\n"
                       "spinerules.cli.main()\n", cwd=cwd)
