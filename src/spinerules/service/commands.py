"""``spinerules serve``: the CDS Hooks service and REST API on uvicorn.

Only click is imported here; FastAPI, uvicorn and the guidelines load when the command runs,
so that ``spinerules --help`` stays fast and works without the ``service`` extra.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import click

__all__ = ["serve_cmd"]

EXIT_USAGE = 2


@click.command("serve")
@click.option("--guideline", "guidelines", multiple=True, metavar="NAME",
              help="A guideline to serve (a bundled name or a path); repeat for more. "
              "Default: every bundled guideline.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="uvicorn worker processes (each loads the guidelines once).")
@click.option("--insecure-dev", is_flag=True,
              help="Accept CDS Hooks calls without a JWT. For development on your own machine "
              "only: anyone who can reach the port can call the service.")
@click.option("--jwks", metavar="FILE|URL",
              help="The JSON Web Key Set of the accepted issuers (a file, or an https URL).")
@click.option("--issuer", "issuers", multiple=True, metavar="ISS",
              help="An accepted JWT issuer (`iss`); repeat for more.")
@click.option("--base-url", metavar="URL",
              help="The service's public URL: a JWT's `aud` must be it plus the path called "
              "(default: the URL each request reached).")
@click.option("--fhir-server", "fhir_servers", multiple=True, metavar="URL",
              help="A FHIR server the service may fetch missing prefetch from (a URL "
              "prefix); repeat for more. Default: whatever fhirServer a call names.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="A web origin allowed to call from a browser (an EHR sandbox such as "
              "https://sandbox.cds-hooks.org); repeat for more.")
@click.option("--audit-log", metavar="PATH", help="Append the JSON-lines audit log here.")
@click.option("--max-body-bytes", default=2_000_000, show_default=True,
              type=click.IntRange(1, None), help="Larger request bodies get 413.")
@click.option("--time-limit", default=10.0, show_default=True,
              type=click.FloatRange(0.01, None),
              help="Seconds one request may take (FHIR fetches included): then 503.")
@click.option("--eval-threads", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Evaluations run at once in each worker; the others wait their turn. "
              "More rarely helps: the interpreter runs one thread at a time.")
def serve_cmd(guidelines: tuple[str, ...], host: str, port: int, workers: int,
              insecure_dev: bool, jwks: str | None, issuers: tuple[str, ...],
              base_url: str | None, fhir_servers: tuple[str, ...],
              cors_origins: tuple[str, ...], audit_log: str | None,
              max_body_bytes: int, time_limit: float, eval_threads: int) -> None:
    """Serve the guidelines as CDS Hooks 2.0 services and a REST API (FastAPI on uvicorn).

    Discovery at /cds-services, the REST API at /evaluate/{guideline} and /guidelines, the
    OpenAPI document at /openapi.json.
    """
    try:
        import uvicorn

        from spinerules.service.config import ENV_VAR, ServiceConfig
    except ImportError as exc:  # pragma: no cover - the extra not installed
        click.echo(f"error: `spinerules serve` needs the service extra "
                   f"(pip install 'spinerules[service]'): {exc}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        config = ServiceConfig(guidelines=guidelines, insecure_dev=insecure_dev,
                               issuers=issuers, jwks=jwks, base_url=base_url,
                               audit_log=audit_log, max_body_bytes=max_body_bytes,
                               time_limit=time_limit, eval_threads=eval_threads,
                               fhir_servers=fhir_servers,
                               cors_origins=cors_origins)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if insecure_dev:
        click.echo("WARNING: --insecure-dev: CDS Hooks calls are accepted WITHOUT "
                   "authentication. Never expose this service beyond your own machine.",
                   err=True)
    if workers == 1:
        from spinerules.service.app import serving_app

        uvicorn.run(_built(lambda: serving_app(config)), host=host, port=port,
                    access_log=False)
        return
    _check_before_forking(config)
    if not insecure_dev:
        # the workers share one record of the token ids they have accepted
        config = dataclasses.replace(config, replay_dir=tempfile.mkdtemp(
            prefix="spinerules-jti-"))
    # each worker process builds the app from the same config, read from the environment
    os.environ[ENV_VAR] = config.to_json()
    from spinerules.service import workers as worker_processes

    if not worker_processes.supported():  # (not Linux: uvicorn's workers, one socket)
        uvicorn.run("spinerules.service.app:app_factory", factory=True, host=host, port=port,
                    workers=workers, access_log=False)
        return
    try:  # a socket per worker: the kernel spreads the connections over them
        sockets = worker_processes.bind_sockets(host, port, workers)
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)
    status = worker_processes.Workers(sockets, {"access_log": False}).run()
    if status:
        sys.exit(status)


def _built(make: Callable[[], Any]) -> Any:
    """The app, or a clean exit naming the problem (a guideline with errors: 1; a JWKS file
    that cannot be read: 2)."""
    from spinerules.lang.diagnostics import GuidelineError

    try:
        return make()
    except GuidelineError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except (ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _check_before_forking(config: Any) -> None:
    """What each worker would fail on, found once in the parent with a clear message: the
    guidelines' errors and the JWKS file."""
    from spinerules import api
    from spinerules.service.auth import Authenticator

    for name in config.guidelines:
        if any(d.is_error for d in api.check(name)):
            _built(functools.partial(api.load, name))  # reports the errors and exits
    if not config.insecure_dev:
        _built(lambda: Authenticator(config))
