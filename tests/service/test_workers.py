"""``spinerules serve --workers N`` on Linux: a listening socket per worker on one port
(``SO_REUSEPORT``), workers restarted when they die, all stopped on SIGINT
(``spinerules.service.workers``)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the service extra installs uvicorn")

from spinerules.service import workers as w

needs_reuseport = pytest.mark.skipif(not w.supported(), reason="Linux SO_REUSEPORT only")
REPO = Path(__file__).resolve().parents[2]


@needs_reuseport
def test_the_sockets_share_one_port_and_each_gets_connections() -> None:
    sockets = w.bind_sockets("127.0.0.1", 0, 2)
    try:
        ports = {s.getsockname()[1] for s in sockets}
        assert len(ports) == 1 and 0 not in ports
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in sockets)
        for s in sockets:
            s.settimeout(0.2)
        port = ports.pop()
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5)
                   for _ in range(64)]
        got = [0, 0]
        for i, s in enumerate(sockets):
            while True:
                try:
                    conn, _ = s.accept()
                except TimeoutError:
                    break
                conn.close()
                got[i] += 1
        for c in clients:
            c.close()
        # the kernel hashes each connection to one socket: both get some, none is lost
        assert sum(got) == 64 and min(got) > 0
    finally:
        for s in sockets:
            s.close()


@needs_reuseport
def test_a_port_in_use_by_another_program_is_refused() -> None:
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen(1)
    try:
        with pytest.raises(OSError):
            w.bind_sockets("127.0.0.1", other.getsockname()[1], 2)
    finally:
        other.close()


class _Fake:
    def __init__(self, alive: bool, exitcode: int | None = None) -> None:
        self.alive, self.exitcode, self.pid = alive, exitcode, None

    def is_alive(self) -> bool:
        return self.alive


def test_a_dead_worker_is_restarted_and_quick_deaths_stop_the_service() -> None:
    logs: list[str] = []
    workers = w.Workers([socket.socket(), socket.socket()], {}, log=logs.append)
    made: list[int] = []

    def start(i: int) -> Any:
        made.append(i)
        return _Fake(alive=False, exitcode=3)  # dies at once

    workers.start = start  # type: ignore[method-assign]
    workers.processes = [_Fake(alive=True), _Fake(alive=False, exitcode=1)]
    workers.started = [time.monotonic() - 100, time.monotonic() - 100]
    workers.keep_alive()  # worker 1 lived long: restarted with its own socket
    assert made == [1] and not workers.stopping.is_set()
    workers.keep_alive()
    workers.keep_alive()  # two quick deaths: restarted again
    assert made == [1, 1, 1] and not workers.stopping.is_set()
    workers.keep_alive()  # a third quick death in a row: the service stops
    assert made == [1, 1, 1] and workers.stopping.is_set() and workers.failed
    assert "restarting" in logs[0] and "stopping" in logs[-1]
    for s in workers.sockets:
        s.close()


def _get(port: int) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/cds-services")
        return c.getresponse().status
    finally:
        c.close()


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(x) for x in text.split()]


@needs_reuseport
@pytest.mark.slow
def test_serve_with_two_workers_restarts_a_killed_worker_and_stops_on_sigint() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "spinerules.cli", "serve", "--guideline", "vcf", "--insecure-dev",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def workers_up(count: int, timeout: float = 120.0) -> list[int]:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                kids = [k for k in _children(proc.pid)
                        if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
                if len(kids) == count:
                    try:
                        if all(_get(port) == 200 for _ in range(20)):
                            return kids
                    except OSError:
                        pass
                time.sleep(0.3)
            raise AssertionError(f"{count} workers did not come up")

        first = workers_up(2)
        os.kill(first[0], signal.SIGKILL)
        time.sleep(1.0)
        again = workers_up(2)
        assert first[0] not in again and first[1] in again  # the dead one replaced
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 0
        out = proc.stdout.read().decode() if proc.stdout else ""
        assert "a listening socket each" in out and "restarting it" in out
        assert "Traceback" not in out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
