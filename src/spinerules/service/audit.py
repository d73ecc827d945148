"""The audit log: one JSON line per answered call, appended and written through.

Each entry holds the time (UTC), the kind of call, the hook and its ``hookInstance``, the
guideline's id, version and hash, the rules that fired and the codes returned; nothing that
identifies a patient (no patient id, no facts, no FHIR server address).

Durability and concurrency (docs/security.md argues the choice):

- the file is opened once per process with ``O_WRONLY | O_APPEND | O_CREAT`` (mode 0600);
- each entry is one ``os.write`` of one complete line: with ``O_APPEND`` the kernel moves to
  the end and writes under the inode's lock, so lines from several uvicorn workers (several
  processes) never interleave or overwrite each other, whatever their length; a lock orders
  the writes of the threads of one process;
- ``os.write`` hands the line to the kernel before the response is sent: a crash of the
  service process loses nothing already answered. ``fsync=True`` also forces it to the disk
  before answering (survives a power loss; costs a disk flush per call).
"""

from __future__ import annotations

import datetime
import json
import os
import threading
from typing import Any


class AuditLog:
    def __init__(self, path: str, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        stamped = {"time": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z"), **entry}
        line = (json.dumps(stamped, separators=(",", ":"), sort_keys=True,
                           ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            written = os.write(self._fd, line)
            if written != len(line):  # pragma: no cover - a full disk
                raise OSError(f"audit log: wrote {written} of {len(line)} bytes")
            if self.fsync:
                os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
