"""FHIR in: extraction of one 200-resource patient Bundle, and bulk NDJSON throughput.

Both against ``json.loads`` of the same bytes (the floor: extraction parses the JSON too) and
``fhir.resources`` R4B parsing with validation (the peer). One core, best of several runs.

    python benchmarks/fhir_in.py [--quick]
"""

from __future__ import annotations

import datetime
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Table

sys.path.insert(0, str(REPO / "src"))

from spinerules.fhir.bulk import BulkReport, read_bulk
from spinerules.fhir.extract import extract_bundle_json
from spinerules.fhir.generate import to_bundle
from spinerules.records.loader import load_record_json
from spinerules.records.spine import Patient

AS_OF = datetime.date(2026, 2, 18)
TARGET_FLOOR_X = 3.0  # extraction within 3x the time of json.loads
TARGET_PEER_X = 5.0  # and at least 5x faster than fhir.resources
SNOMED = "http://snomed.info/sct"


def patient_bundle(n_resources: int = 200, seed: str = "founding-case") -> dict[str, Any]:
    """The founding case as a Bundle, padded with the kind of resources real records hold:
    vital signs and pain scores over time, encounters, unmapped conditions, prescriptions."""
    record = load_record_json(Patient, (REPO / "examples" / "patients" / "founding-case.json")
                              .read_text(encoding="utf-8"))
    bundle = to_bundle(record, as_of=AS_OF)
    patient_url = bundle["entry"][0]["fullUrl"]
    k = 0
    while len(bundle["entry"]) < n_resources:
        k += 1
        day = (AS_OF - datetime.timedelta(days=k % 300)).isoformat()
        subject = {"reference": patient_url}
        kind = k % 5
        if kind == 0:
            res = {"resourceType": "Observation", "id": f"t{k}", "status": "final",
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/"
                                             "CodeSystem/observation-category",
                                             "code": "vital-signs"}]}],
                   "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5",
                                        "display": "Body temperature"}]},
                   "subject": subject, "effectiveDateTime": f"{day}T08:00:00Z",
                   "valueQuantity": {"value": 36.5 + (k % 7) / 10, "unit": "C",
                                     "system": "http://unitsofmeasure.org", "code": "Cel"}}
        elif kind == 1:
            res = {"resourceType": "Encounter", "id": f"e{k}", "status": "finished",
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                             "code": "AMB"}, "subject": subject,
                   "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:30:00Z"}}
        elif kind == 2:
            res = {"resourceType": "Condition", "id": f"c{k}",
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/"
                                                  "CodeSystem/condition-clinical",
                                                  "code": "resolved"}]},
                   "code": {"coding": [{"system": SNOMED, "code": "444814009",
                                        "display": "Viral sinusitis (disorder)"}]},
                   "subject": subject, "onsetDateTime": f"{day}T10:00:00Z",
                   "recordedDate": f"{day}T10:00:00Z"}
        elif kind == 3:
            res = {"resourceType": "MedicationRequest", "id": f"m{k}", "status": "completed",
                   "intent": "order",
                   "medicationCodeableConcept": {"coding": [{
                       "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                       "code": "313782", "display": "Acetaminophen 325 MG Oral Tablet"}]},
                   "subject": subject, "authoredOn": f"{day}T10:00:00Z"}
        else:
            res = {"resourceType": "Observation", "id": f"p{k}", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                   "subject": subject, "effectiveDateTime": f"{day}T08:00:00Z",
                   "valueInteger": k % 11}
        bundle["entry"].append({"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{k:012d}",
                                "resource": res})
    bundle["entry"] = bundle["entry"][:n_resources]
    return bundle


def best(fn: Callable[[], object], repeat: int) -> float:
    """The best of ``repeat`` runs, in CPU seconds of this process (one core; a busy
    machine slows wall time more than CPU time)."""
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def best_of_pair(a: Callable[[], object], b: Callable[[], object],
                 repeat: int) -> tuple[float, float]:
    """Best CPU times of ``a`` and ``b``, measured alternately, so that a change in the
    machine's load during the run touches both alike (their ratio is what the targets use)."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(best(a, 1))
        tb.append(best(b, 1))
    return min(ta), min(tb)


def _peer() -> Callable[[dict[str, Any]], object] | None:
    try:
        from fhir.resources.R4B.bundle import Bundle
    except ImportError:
        return None
    return Bundle.model_validate


def run(quick: bool = False) -> dict[str, Any]:
    repeat = 3 if quick else 15
    bundle = patient_bundle()
    raw = json.dumps(bundle).encode()
    n = len(bundle["entry"])
    res: dict[str, Any] = {"resources": n, "bytes": len(raw)}
    loops = 20  # process_time ticks are coarse: time loops of calls

    def many(fn: Callable[[], object]) -> Callable[[], None]:
        def go() -> None:
            for _ in range(loops):
                fn()
        return go

    json_s, extract_s = best_of_pair(many(lambda: json.loads(raw)),
                                     many(lambda: extract_bundle_json(raw, as_of=AS_OF)),
                                     repeat)
    res["json_s"], res["extract_s"] = json_s / loops, extract_s / loops
    peer = _peer()
    if peer is not None:
        res["peer_s"] = best(lambda: peer(json.loads(raw)), max(2, repeat // 3))
    # bulk: patients x resources as NDJSON files, one per type
    n_patients = 20 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files: dict[str, list[bytes]] = {}
        for p in range(n_patients):
            pid = f"pt{p}"
            urls = {e["fullUrl"]: f"{e['resource']['resourceType']}/"
                    f"{e['resource'].get('id') or pid}" for e in bundle["entry"]}
            for e in bundle["entry"]:
                r = dict(e["resource"])
                r["id"] = pid if r["resourceType"] == "Patient" else f"{r['id']}-{pid}" \
                    if "id" in r else f"x-{pid}"
                if "subject" in r:
                    r["subject"] = {"reference": f"Patient/{pid}"}
                if "focus" in r:
                    r["focus"] = [{"reference": f"{urls[f['reference']]}-{pid}"}
                                  for f in r["focus"]]
                files.setdefault(r["resourceType"], []).append(json.dumps(r).encode())
        total = 0
        for rtype, lines in files.items():
            (folder / f"{rtype}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
            total += len(lines)
        all_lines = [x for lines in files.values() for x in lines]
        res["bulk_resources"] = total
        res["bulk_patients"] = n_patients
        def bulk() -> None:
            report = BulkReport()
            for _ in read_bulk(folder, as_of=AS_OF, report=report):
                pass
            assert report.extracted == n_patients, report.summary()

        res["bulk_json_s"], res["bulk_s"] = best_of_pair(
            lambda: [json.loads(x) for x in all_lines], bulk, 3)
        if peer is not None:
            from fhir.resources.R4B import get_fhir_model_class

            sample = all_lines[:: max(1, len(all_lines) // 4000)]  # every type, evenly
            models = {t: get_fhir_model_class(t) for t in files}

            def peer_bulk() -> None:
                for x in sample:
                    d = json.loads(x)
                    models[d["resourceType"]].model_validate(d)

            res["bulk_peer_per_resource_s"] = best(peer_bulk, 2) / len(sample)
    return res


def tables(r: dict[str, Any]) -> list[Table]:
    n = r["resources"]
    rows = [["json.loads (floor)", f"{r['json_s'] * 1e3:.2f} ms", "1.0x"],
            ["spinerules extract_bundle_json", f"{r['extract_s'] * 1e3:.2f} ms",
             f"{r['extract_s'] / r['json_s']:.1f}x"]]
    if "peer_s" in r:
        rows.append(["fhir.resources R4B Bundle.model_validate (+ json.loads)",
                     f"{r['peer_s'] * 1e3:.2f} ms", f"{r['peer_s'] / r['json_s']:.1f}x"])
    one = Table(title=f"One patient Bundle ({n} resources, {r['bytes'] / 1024:.0f} KiB)",
                headers=["what", "time", "against json.loads"], rows=rows)
    per = r["bulk_resources"]
    rows = [["json.loads per line (floor)", f"{per / r['bulk_json_s']:,.0f}"],
            ["spinerules read_bulk (index + extract)", f"{per / r['bulk_s']:,.0f}"]]
    if "bulk_peer_per_resource_s" in r:
        rows.append(["fhir.resources R4B model_validate per line",
                     f"{1 / r['bulk_peer_per_resource_s']:,.0f}"])
    bulk = Table(title=f"Bulk NDJSON ({r['bulk_patients']} patients, {per:,} resources, "
                 "one core)", headers=["what", "resources/s"], rows=rows)
    targets = [["extraction of one Bundle against json.loads", f"<= {TARGET_FLOOR_X:g}x",
                f"{r['extract_s'] / r['json_s']:.1f}x",
                "met" if r["extract_s"] / r["json_s"] <= TARGET_FLOOR_X else "NOT met"]]
    if "peer_s" in r:
        x = r["peer_s"] / r["extract_s"]
        targets.append(["fhir.resources against extraction (one Bundle)",
                        f">= {TARGET_PEER_X:g}x", f"{x:.1f}x",
                        "met" if x >= TARGET_PEER_X else "NOT met"])
    bx = r["bulk_s"] / r["bulk_json_s"]
    targets.append(["bulk throughput against json.loads", f"<= {TARGET_FLOOR_X:g}x",
                    f"{bx:.1f}x", "met" if bx <= TARGET_FLOOR_X else "NOT met"])
    if "bulk_peer_per_resource_s" in r:
        px = r["bulk_peer_per_resource_s"] * per / r["bulk_s"]
        targets.append(["fhir.resources against bulk extraction", f">= {TARGET_PEER_X:g}x",
                        f"{px:.1f}x", "met" if px >= TARGET_PEER_X else "NOT met"])
    return [one, bulk, Table(title="FHIR targets", headers=["target", "goal", "measured",
                                                             "met"], rows=targets)]


if __name__ == "__main__":
    result = run("--quick" in sys.argv)
    for t in tables(result):
        print(t.text())
