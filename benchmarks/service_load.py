"""The CDS Hooks service under load: ``spinerules serve --workers 2`` in a subprocess on
loopback, 16 concurrent clients, 10,000 ``patient-view`` calls with the founding case as a
FHIR Bundle in the prefetch. Counts errors, reports p50 / p99 latency and throughput, and
checks that the audit log holds exactly one entry per call (each call's ``hookInstance``
once).

    python benchmarks/service_load.py               # 3 runs of 10,000 calls; writes its
                                                    # section of docs/performance.md
    python benchmarks/service_load.py --quick       # 1,000 calls; prints only
    python benchmarks/service_load.py --calls N --clients C --workers W [--output FILE]

``python benchmarks/run.py`` runs it as its ``service`` part (``--only service``). The
clients are asyncio connections speaking HTTP/1.1 keep-alive with requests made once (only
the ``hookInstance`` differs), so that the client costs the shared two cores as little as
possible; each latency is from the first byte sent to the last byte received. Exit status:
0 done (targets met or not), 1 an error or a missing audit entry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Table

AS_OF = "2026-02-18"
SERVICE = "vcf-patient-view"
TARGET_P99_MS = 50.0
TARGET_RPS = 500.0
START_TIMEOUT_S = 120.0
CALL_TIMEOUT_S = 30.0
SECTION = "Service under load (CDS Hooks)"
#: the paragraph under the section's heading (here and in ``benchmarks/run.py``)
INTRO = ("Written by `python benchmarks/service_load.py` (also the `service` part of "
         "`benchmarks/run.py`). One command starts `spinerules serve` on loopback and drives "
         "it; see the script for the method. The machine's two CPUs are shared with other "
         "virtual machines of the host: the server's CPU time per call, for the same work, "
         "moves from hour to hour, and the latency with it (the runs' table shows both; "
         "`benchmarks/README.md` records how far it moved over a day of runs).")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _loadavg() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"
    return f"{one:.2f} / {five:.2f}"


def hook_body() -> dict[str, Any]:
    """A patient-view call for the founding case: its record written as a FHIR Bundle by the
    bundled mapping, split into the service's prefetch templates as an EHR sends them."""
    import datetime

    from spinerules.fhir.generate import to_bundle
    from spinerules.fhir.mapping import mapping_for
    from spinerules.records.loader import load_record
    from spinerules.records.spine import Patient
    from spinerules.service.hooks import prefetch_from_bundle, prefetch_templates

    record = json.loads((REPO / "examples" / "patients" / "founding-case.json")
                        .read_text(encoding="utf-8"))
    mapping = mapping_for(Patient)
    bundle = to_bundle(load_record(Patient, record), as_of=datetime.date.fromisoformat(AS_OF),
                       mapping=mapping)
    return {"hookInstance": "", "hook": "patient-view",
            "context": {"userId": "Practitioner/load", "patientId": "founding-case"},
            "prefetch": prefetch_from_bundle(bundle, prefetch_templates(mapping),
                                             "founding-case")}


class Server:
    """``spinerules serve`` in a subprocess (its own process group), always stopped."""

    def __init__(self, *, workers: int, audit_log: Path) -> None:
        self.port = _free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"),
                                             *filter(None, [env.get("PYTHONPATH")])])
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spinerules.cli", "serve", "--guideline", "vcf",
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
             "--insecure-dev", "--audit-log", str(audit_log)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, workers: int) -> None:
        """Until every worker answers: each worker process takes connections of its own, so
        a run of fresh connections reaches them all once they are all up."""
        import http.client

        deadline = time.monotonic() + START_TIMEOUT_S
        ok = 0
        while ok < 10 * workers:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n"
                                   + self.output())
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not answer in {START_TIMEOUT_S:g} s:\n"
                                   + self.output())
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/cds-services")
                ok = ok + 1 if c.getresponse().status == 200 else 0
                c.close()
            except OSError:
                ok = 0
                time.sleep(0.2)
        time.sleep(1.0)  # the last worker to finish loading has finished

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self.log.close()


async def _client(port: int, head: bytes, prefix: bytes, suffix: bytes, todo: list[str],
                  latencies: list[float], errors: list[str], first: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while todo:
            instance = todo.pop()
            body = prefix + instance.encode() + suffix
            request = head + str(len(body)).encode() + b"\r\n\r\n" + body
            t0 = time.perf_counter()
            try:
                # one deadline for the whole call, and the head read in one piece: the
                # client shares the 2 CPUs with the server, so it should cost little
                # (``wait_for`` on each line made a task per line: about a third of its
                # CPU time)
                async with asyncio.timeout(CALL_TIMEOUT_S):
                    writer.write(request)
                    head_bytes = await reader.readuntil(b"\r\n\r\n")
                    status_line, _, rest = head_bytes.partition(b"\r\n")
                    length = None
                    for line in rest.split(b"\r\n"):
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if length is None:
                        raise ValueError(f"no Content-Length ({status_line!r})")
                    data = await reader.readexactly(length)
            except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError) as exc:
                errors.append(f"{instance}: {type(exc).__name__}: {exc}")
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            latencies.append(time.perf_counter() - t0)
            if not status_line.startswith(b"HTTP/1.1 200") or not data.startswith(b'{"cards":['):
                errors.append(f"{instance}: {status_line.strip()!r} {data[:200]!r}")
            elif not first:
                first.append(data)
    finally:
        writer.close()


async def _drive(port: int, body: dict[str, Any], instances: list[str],
                 clients: int) -> tuple[list[float], list[str], float, bytes]:
    text = json.dumps(body, separators=(",", ":"))
    prefix, suffix = text.split('"hookInstance":""', 1)
    prefix_b = (prefix + '"hookInstance":"').encode()
    suffix_b = ('"' + suffix).encode()
    head = (f"POST /cds-services/{SERVICE}?as_of={AS_OF} HTTP/1.1\r\nHost: 127.0.0.1:{port}"
            "\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
            "Content-Length: ").encode()
    todo = list(reversed(instances))
    latencies: list[float] = []
    errors: list[str] = []
    first: list[bytes] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(port, head, prefix_b, suffix_b, todo, latencies, errors,
                                   first) for _ in range(clients)))
    return latencies, errors, time.perf_counter() - t0, first[0] if first else b""


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def run(quick: bool = False, *, calls: int | None = None, clients: int = 16,
        workers: int = 2, log: Any = print) -> dict[str, Any]:
    """Start the service, make the calls, stop it, read the audit log."""
    calls = calls if calls is not None else (1000 if quick else 10_000)
    body = hook_body()
    instances = [str(uuid.uuid4()) for _ in range(calls)]
    with tempfile.TemporaryDirectory(prefix="spinerules-load-") as tmp:
        audit = Path(tmp) / "audit.jsonl"
        load_before = _loadavg()
        server = Server(workers=workers, audit_log=audit)
        try:
            server.wait_ready(workers)
            log(f"service up on 127.0.0.1:{server.port} ({workers} workers); "
                f"{calls:,} calls from {clients} clients ...")
            cpu0 = _children_cpu(server.proc.pid)
            mine0 = time.process_time()
            latencies, errors, seconds, sample = asyncio.run(
                _drive(server.port, body, instances, clients))
            client_cpu = time.process_time() - mine0
            cpu1 = _children_cpu(server.proc.pid)
        finally:
            server.stop()
        load_after = _loadavg()
        lines = audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []
    entries = [json.loads(line) for line in lines]
    hooks = [e for e in entries if e.get("kind") == "hook"]
    seen = [e.get("hookInstance") for e in hooks]
    lat = sorted(latencies)
    return {
        "calls": calls, "clients": clients, "workers": workers,
        "errors": len(errors), "error_sample": errors[:5],
        "seconds": seconds, "rps": calls / seconds if seconds else 0.0,
        "p50_ms": _quantile(lat, 0.50) * 1e3, "p90_ms": _quantile(lat, 0.90) * 1e3,
        "p99_ms": _quantile(lat, 0.99) * 1e3, "max_ms": (lat[-1] if lat else 0.0) * 1e3,
        "cards": len(json.loads(sample)["cards"]) if sample else 0,
        "response_bytes": len(sample), "request_bytes": len(json.dumps(body)) + 36,
        "audit_lines": len(lines), "audit_hook_entries": len(hooks),
        "audit_every_call_once": sorted(seen) == sorted(instances),
        "server_cpu_s": cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None,
        "client_cpu_s": client_cpu,
        "load_before": load_before, "load_after": load_after,
    }


def _children_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of the server's worker processes so far (Linux /proc)."""
    total = 0.0
    try:
        tick = os.sysconf("SC_CLK_TCK")
        pids = [pid, *_descendants(pid)]
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    except (OSError, ValueError, IndexError):
        return None
    return total


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += [int(child), *_descendants(int(child))]
    return out


def ok(r: dict[str, Any]) -> bool:
    return r["errors"] == 0 and r["audit_hook_entries"] == r["calls"] \
        and r["audit_lines"] == r["calls"] and r["audit_every_call_once"]


def repeated(quick: bool = False, *, repeat: int = 3, calls: int | None = None,
             clients: int = 16, workers: int = 2, log: Any = print) -> dict[str, Any]:
    """``run`` ``repeat`` times (a fresh service each time): the run with the median p99,
    with every run's figures under ``"runs"`` (the machine is shared: one run can be
    unlucky either way)."""
    results = []
    for i in range(repeat):
        log(f"run {i + 1} of {repeat}")
        results.append(run(quick, calls=calls, clients=clients, workers=workers, log=log))
    median = sorted(results, key=lambda r: r["p99_ms"])[len(results) // 2]
    return {**median, "runs": results}


def tables(r: dict[str, Any]) -> list[Table]:
    rows = [
        ["calls", f"{r['calls']:,} `patient-view` (founding case, {r['request_bytes']:,}-byte "
                  f"request, {r['cards']} cards, {r['response_bytes']:,}-byte answer)"],
        ["clients / server", f"{r['clients']} concurrent keep-alive connections / "
                             f"`spinerules serve --workers {r['workers']}`, loopback"],
        ["errors", f"{r['errors']:,}"],
        ["latency p50 / p90 / p99 / max",
         f"{r['p50_ms']:.1f} / {r['p90_ms']:.1f} / {r['p99_ms']:.1f} / {r['max_ms']:.1f} ms"],
        ["throughput", f"{r['rps']:,.0f} calls/s ({r['seconds']:.1f} s)"],
        ["audit log", f"{r['audit_lines']:,} lines, {r['audit_hook_entries']:,} hook entries; "
                      "every call's hookInstance exactly once: "
                      + ("yes" if r["audit_every_call_once"] else "NO")],
    ]
    if r.get("server_cpu_s") is not None:
        rows.append(["server CPU per call", f"{r['server_cpu_s'] / r['calls'] * 1e3:.1f} ms "
                     f"({r['server_cpu_s']:.1f} CPU-s in all, both workers)"])
    if r.get("client_cpu_s") is not None:
        rows.append(["load generator CPU per call (the same 2 CPUs)",
                     f"{r['client_cpu_s'] / r['calls'] * 1e3:.2f} ms"])
    rows.append(["load average (1 / 5 min) before / after", f"{r['load_before']} / "
                 f"{r['load_after']}"])
    run_table = Table(title=f"{r['calls']:,} CDS Hooks calls, {r['clients']} clients, "
                      f"{r['workers']} uvicorn workers", headers=["what", "value"], rows=rows)

    def met(good: bool) -> str:
        return "met" if good else "NOT met"

    targets = Table(title="Service targets", headers=["target", "goal", "measured", "met"],
                    rows=[["errors", "0", f"{r['errors']}", met(r["errors"] == 0)],
                          ["audit entries", f"exactly {r['calls']:,}",
                           f"{r['audit_hook_entries']:,}",
                           met(r["audit_lines"] == r["audit_hook_entries"] == r["calls"]
                               and r["audit_every_call_once"])],
                          ["p99 latency", f"< {TARGET_P99_MS:g} ms", f"{r['p99_ms']:.1f} ms",
                           met(r["p99_ms"] < TARGET_P99_MS)],
                          ["throughput", f"> {TARGET_RPS:g} calls/s", f"{r['rps']:,.0f}/s",
                           met(r["rps"] > TARGET_RPS)]])
    if len(r.get("runs", ())) > 1:
        runs = r["runs"]
        each = Table(
            title=f"Each of the {len(runs)} runs (above: the run with the median p99)",
            headers=["run", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "calls/s",
                     "server CPU per call", "audit entries"],
            rows=[[str(i + 1), f"{x['errors']}", f"{x['p50_ms']:.1f}", f"{x['p90_ms']:.1f}",
                   f"{x['p99_ms']:.1f}", f"{x['max_ms']:.1f}", f"{x['rps']:,.0f}",
                   f"{x['server_cpu_s'] / x['calls'] * 1e3:.1f} ms"
                   if x.get("server_cpu_s") is not None else "",
                   f"{x['audit_hook_entries']:,}"] for i, x in enumerate(runs)])
        return [run_table, targets, each]
    return [run_table, targets]


def write_section(path: Path, tables_: list[Table]) -> None:
    """Replace (or add, before the machine table) this benchmark's section of the report."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    block = [f"## {SECTION}", "", INTRO, ""]
    block += [t.markdown(3) for t in tables_]
    section = "\n".join(block).rstrip() + "\n"
    head = f"## {SECTION}\n"
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + section + ("\n" + text[nxt + 1:] if nxt >= 0 else "")
    elif "\n## Machine\n" in text:
        at = text.index("\n## Machine\n") + 1
        text = text[:at] + section + "\n" + text[at:]
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="1,000 calls; writes nothing")
    ap.add_argument("--calls", type=int)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs, each with a fresh service (the median p99 is reported)")
    ap.add_argument("--output", type=Path, help="write the section into this file")
    args = ap.parse_args(argv)
    r = repeated(args.quick, repeat=max(1, args.repeat), calls=args.calls,
                 clients=args.clients, workers=args.workers)
    ts = tables(r)
    for t in ts:
        print(t.text())
    if r["error_sample"]:
        print("errors, first ones:", *r["error_sample"], sep="\n  ")
    output = args.output
    if output is None and not args.quick and args.calls is None:
        output = REPO / "docs" / "performance.md"
    if output is not None:
        write_section(output, ts)
        print(f"wrote the section '{SECTION}' of {output}")
    return 0 if all(ok(x) for x in r["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
