"""A service on a loopback port for the tests that need real HTTP (a browser, a load test).

The socket is bound by the test to 127.0.0.1 port 0 (the OS picks a free port) and handed to
uvicorn, which serves in a daemon thread of the test process; leaving the ``with`` block always
stops it, within a bounded time, and a server that does not start or stop in time fails the
test rather than hanging it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def loopback_socket() -> socket.socket:
    """A listening-ready socket on 127.0.0.1 and a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve the ASGI ``app`` on loopback; yields its base URL (``http://127.0.0.1:PORT``)."""
    import uvicorn

    sock = loopback_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test server did not start in {START_TIMEOUT_S:g} s")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        sock.close()
        if thread.is_alive():  # pragma: no cover - a hang: fail rather than block
            server.force_exit = True
            thread.join(STOP_TIMEOUT_S)
            raise RuntimeError(f"the test server did not stop in {STOP_TIMEOUT_S:g} s")
