"""``spinerules serve --workers N`` on Linux: N uvicorn processes, each with a listening
socket of its own on the same port (``SO_REUSEPORT``), so that the kernel spreads new
connections evenly over the workers.

Why not uvicorn's own ``--workers``: there, the workers share one listening socket, and
the first to wake takes every connection waiting in it. An EHR (or a proxy) keeps a few
connections open and sends its calls down them; opened together, they could all land on
one worker while the other sat idle. Measured with the load benchmark (16 connections, 2
workers, docs/performance.md): in some runs one worker held all 16 (365 calls/s, p50
44 ms), in others 12 and 4; with a socket per worker, the kernel hashes each connection to
one of the sockets.

The parent binds the sockets (port 0: the first socket's port for all), starts one process
per socket (``spawn``, as uvicorn does), restarts a worker that dies, with its own socket,
and stops them all on SIGINT or SIGTERM (each shuts down as uvicorn does: the calls in
progress are answered). A worker that dies within seconds of its start, three times in a
row, stops the service (exit status 1) rather than restarting for ever.

On other systems (macOS gives a reused port's connections to the last socket bound, not to
all), :func:`supported` is False and ``spinerules serve`` uses uvicorn's workers.

Security: Linux lets only processes of the same user join a port's ``SO_REUSEPORT`` group,
so another user cannot bind the port and take a share of the calls (docs/security.md).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

#: a worker that exits sooner than this after its start failed to start
QUICK_DEATH_S = 10.0
#: quick deaths in a row (of one worker) that stop the service
MAX_QUICK_DEATHS = 3
#: seconds the workers have to finish the calls in progress after SIGTERM
STOP_TIMEOUT_S = 30.0
BACKLOG = 2048


def supported() -> bool:
    """Whether the kernel spreads the connections of a reused port over its sockets."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on ``host:port``, in one ``SO_REUSEPORT`` group; with
    port 0, the port the system picks for the first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(BACKLOG)  # (queues connections while its worker is (re)starting)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _serve_one(sock: socket.socket, options: dict[str, Any]) -> None:  # pragma: no cover
    """A worker process: uvicorn serving the app factory on its own socket (the config
    comes from the environment, as for uvicorn's workers)."""
    import uvicorn

    config = uvicorn.Config("spinerules.service.app:app_factory", factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


class Workers:
    """The worker processes and their sockets (see the module's text)."""

    def __init__(self, sockets: list[socket.socket], options: dict[str, Any],
                 log: Any = None) -> None:
        self.sockets = sockets
        self.options = options
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[Any] = []
        self.started: list[float] = []
        self.quick_deaths = [0] * len(sockets)
        self.stopping = threading.Event()
        self.failed = False

    def start(self, i: int) -> Any:
        process = self.context.Process(target=_serve_one, args=(self.sockets[i], self.options),
                                       name=f"spinerules-worker-{i}", daemon=False)
        process.start()
        return process

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM (0), or until a worker cannot start (1)."""
        previous = {sig: signal.signal(sig, lambda *_: self.stopping.set())
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for i in range(len(self.sockets)):
                self.processes.append(self.start(i))
                self.started.append(time.monotonic())
            host, port = self.sockets[0].getsockname()[:2]
            self.log(f"spinerules: {len(self.sockets)} workers on {host}:{port}, a listening "
                     "socket each (SO_REUSEPORT)")
            while not self.stopping.wait(0.5):
                self.keep_alive()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sock in self.sockets:
                sock.close()
        return 1 if self.failed else 0

    def keep_alive(self) -> None:
        for i, process in enumerate(self.processes):
            if process.is_alive() or self.stopping.is_set():
                continue
            lived = time.monotonic() - self.started[i]
            self.quick_deaths[i] = self.quick_deaths[i] + 1 if lived < QUICK_DEATH_S else 0
            if self.quick_deaths[i] >= MAX_QUICK_DEATHS:
                self.log(f"spinerules: worker {i} exited ({process.exitcode}) "
                         f"{MAX_QUICK_DEATHS} times within {QUICK_DEATH_S:g} s of its start; "
                         "stopping")
                self.failed = True
                self.stopping.set()
                return
            self.log(f"spinerules: worker {i} exited ({process.exitcode}); restarting it")
            self.processes[i] = self.start(i)
            self.started[i] = time.monotonic()

    def stop(self) -> None:
        """SIGTERM to each worker (uvicorn answers the calls in progress, then exits);
        SIGKILL to one still there after ``STOP_TIMEOUT_S``."""
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)
