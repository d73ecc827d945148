"""Authentication that accepts (the rejections are the bad-input corpus,
tests/bad_inputs/service/), the JWKS from a URL, the audit log under concurrent writers,
and `spinerules serve`'s configuration."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from spinerules.service.audit import AuditLog
from spinerules.service.auth import Authenticator
from spinerules.service.config import ENV_VAR, ServiceConfig

from .helpers import AS_OF, BASE, ISSUER, check_cds, check_error

PATH = "/cds-services/vcf-patient-view"


def test_a_signed_call_is_answered(secure_client: Any, make_token: Callable[..., str],
                                   hook_call: Callable[..., dict[str, Any]]) -> None:
    response = secure_client.post(f"{PATH}?as_of={AS_OF}", json=hook_call(),
                                  headers={"Authorization": f"Bearer {make_token(PATH)}"})
    assert response.status_code == 200, response.text
    check_cds("cdsServiceResponse", response.json())
    assert response.json()["cards"]


def test_discovery_and_rest_need_no_token(secure_client: Any) -> None:
    check_cds("discovery", secure_client.get("/cds-services").json())
    assert secure_client.get("/guidelines").status_code == 200


def test_the_token_must_name_this_endpoint(secure_client: Any,
                                           make_token: Callable[..., str]) -> None:
    feedback = {"feedback": [{"card": "c", "outcome": "accepted",
                              "outcomeTimestamp": "2026-02-18T10:00:00Z"}]}
    check_error(secure_client.post(f"{PATH}/feedback", json=feedback,
                                   headers={"Authorization": f"Bearer {make_token(PATH)}"}),
                401, "wrong_audience")
    ok = secure_client.post(f"{PATH}/feedback", json=feedback, headers={
        "Authorization": f"Bearer {make_token(PATH + '/feedback')}"})
    assert ok.status_code == 200, ok.text


def test_jwks_from_a_url(jwks_file: Path, make_token: Callable[..., str]) -> None:
    body = jwks_file.read_bytes()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        auth = Authenticator(ServiceConfig(issuers=(ISSUER,), jwks=url))
        claims = auth.check(f"Bearer {make_token(PATH)}", BASE + PATH)
        assert claims["iss"] == ISSUER
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_auth_is_off_only_when_asked() -> None:
    with pytest.raises(ValueError, match="insecure_dev"):
        ServiceConfig()
    with pytest.raises(ValueError, match="asymmetric"):
        ServiceConfig(issuers=(ISSUER,), jwks="keys.json", algorithms=("HS256",))


def _write_many(path: str, worker: int, count: int) -> None:
    log = AuditLog(path)
    pad = "x" * 9000  # longer than PIPE_BUF (4096): O_APPEND keeps each line whole anyway
    for i in range(count):
        log.write({"kind": "test", "worker": worker, "i": i, "pad": pad})
    log.close()


def test_the_audit_log_loses_no_line_under_concurrent_writers(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.jsonl")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(path, w, 150)) for w in range(3)]
    for p in procs:
        p.start()
    threads = [threading.Thread(target=_write_many, args=(path, 10 + t, 150))
               for t in range(2)]
    for t in threads:
        t.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for t in threads:
        t.join(timeout=60)
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]  # every line is whole JSON
    assert len(entries) == 5 * 150
    assert {(e["worker"], e["i"]) for e in entries} == {
        (w, i) for w in (0, 1, 2, 10, 11) for i in range(150)}
    assert all(e["time"].endswith("Z") for e in entries)


def test_serve_refuses_to_start_without_auth_and_warns_in_dev(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from spinerules.cli import main

    runs: list[tuple[Any, dict[str, Any]]] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: runs.append((app, kw)))
    refused = CliRunner().invoke(main, ["serve", "--guideline", "vcf"])
    assert refused.exit_code == 2 and "--insecure-dev" in refused.output
    assert not runs
    dev = CliRunner().invoke(main, ["serve", "--guideline", "vcf", "--insecure-dev",
                                    "--port", "0"])
    assert dev.exit_code == 0, dev.output
    assert "WARNING" in dev.output and "WITHOUT authentication" in dev.output
    assert runs[0][1]["port"] == 0 and runs[0][1]["host"] == "127.0.0.1"
    runs.clear()
    monkeypatch.setenv(ENV_VAR, "{}")  # restored after the test
    from spinerules.service import workers as worker_processes

    started: list[list[int]] = []

    def fake_run(self: Any) -> int:  # the worker processes (tests/service/test_workers.py)
        started.append([s.getsockname()[1] for s in self.sockets])
        for s in self.sockets:
            s.close()
        return 0

    monkeypatch.setattr(worker_processes.Workers, "run", fake_run)
    multi = CliRunner().invoke(main, ["serve", "--guideline", "vcf", "--insecure-dev",
                                      "--workers", "2", "--audit-log", "/tmp/a.jsonl",
                                      "--port", "0"])
    assert multi.exit_code == 0, multi.output
    if worker_processes.supported():  # two sockets on one port, a worker each
        assert not runs and len(started) == 1
        assert len(started[0]) == 2 and started[0][0] == started[0][1] != 0
    else:  # uvicorn's workers
        app, kw = runs[0]
        assert app == "spinerules.service.app:app_factory" and kw["factory"] is True
        assert kw["workers"] == 2
    import os

    config = ServiceConfig.from_json(os.environ[ENV_VAR])
    assert config == ServiceConfig(guidelines=("vcf",), insecure_dev=True,
                                   audit_log="/tmp/a.jsonl")


def test_workers_share_the_replay_record(tmp_path: Path, jwks_file: Path,
                                         make_token: Callable[..., str]) -> None:
    config = ServiceConfig(issuers=(ISSUER,), jwks=str(jwks_file), replay_dir=str(tmp_path))
    first, second = Authenticator(config), Authenticator(config)  # two worker processes
    token = make_token(PATH)
    first.check(f"Bearer {token}", BASE + PATH)
    with pytest.raises(Exception, match="already used") as info:
        second.check(f"Bearer {token}", BASE + PATH)
    assert getattr(info.value, "code", None) == "token_replayed"
    second.check(f"Bearer {make_token(PATH)}", BASE + PATH)  # a new token passes
    assert len(list(tmp_path.iterdir())) == 2


def test_serve_reports_a_broken_guideline_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from spinerules.cli import main

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("started"))
    for workers in ("1", "2"):
        result = CliRunner().invoke(main, ["serve", "--guideline", "no-such-guideline",
                                           "--insecure-dev", "--workers", workers])
        assert result.exit_code == 1, result.output
        assert "SR" in result.output and "Traceback" not in result.output


def test_cors_only_for_the_configured_origins() -> None:
    from fastapi.testclient import TestClient

    from spinerules.service.app import create_app

    sandbox = "https://sandbox.cds-hooks.org"
    app = create_app(ServiceConfig(insecure_dev=True, guidelines=("vcf",),
                                   cors_origins=(sandbox,)))
    with TestClient(app) as c:
        pre = c.options(PATH, headers={"Origin": sandbox,
                                       "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == sandbox
        other = c.get("/cds-services", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
        assert c.get("/cds-services", headers={"Origin": sandbox}) \
            .headers["access-control-allow-origin"] == sandbox
