"""CDS Hooks 2.0: discovery, patient-view cards, order-sign warnings, feedback, fetching
missing prefetch from the EHR's FHIR server (a fake on loopback). Every response is
validated against tests/service/cds-hooks-2.0.schema.json."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from spinerules.fhir.mapping import bundled_mapping
from spinerules.service.orders import ORDER_SYSTEM

from .helpers import AS_OF, check_cds, check_error

Call = Callable[..., dict[str, Any]]
URL = f"/cds-services/vcf-patient-view?as_of={AS_OF}"
ORDER_URL = f"/cds-services/vcf-order-sign?as_of={AS_OF}"


def cards_of(client: Any, call: dict[str, Any], url: str = URL) -> list[dict[str, Any]]:
    response = client.post(url, json=call)
    assert response.status_code == 200, response.text
    body = response.json()
    check_cds("cdsServiceResponse", body)
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def test_discovery_has_a_service_per_guideline_and_hook(client: Any) -> None:
    body = client.get("/cds-services").json()
    check_cds("discovery", body)
    assert [(s["id"], s["hook"]) for s in body["services"]] == [
        ("vcf-patient-view", "patient-view"), ("vcf-order-sign", "order-sign")]
    prefetch = body["services"][0]["prefetch"]
    # derived from the mapping: every resource type it reads, and no other
    assert set(prefetch) == {"patient", "conditions", "observations", "medicationStatements",
                             "medicationRequests", "diagnosticReports"}
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    loinc = {c for vs in bundled_mapping().value_sets.values() for s, c in vs._exact
             if s == "http://loinc.org"}
    asked = set(prefetch["observations"].split("&code=")[1].split(","))
    observation_codes = {t.split("|")[1] for t in asked if t.startswith("http://loinc.org|")}
    assert observation_codes and observation_codes <= loinc
    assert f"{bundled_mapping().project_system}|" in asked  # project-coded findings


def test_patient_view_cards_for_the_founding_case(client: Any, hook_call: Call) -> None:
    cards = cards_of(client, hook_call())
    assert all(len(c["summary"]) <= 140 for c in cards)
    # the warning first: warnings and advice against are never shown as info
    assert cards[0]["indicator"] == "warning"
    assert cards[0]["summary"].startswith("Caution: No bone-density test")
    dexa = next(c for c in cards if c["summary"].startswith("Order bone densitometry"))
    assert dexa["indicator"] == "info"  # urgency soon
    assert "**Why:**" in dexa["detail"] and "bone densitometry" in dexa["detail"].lower()
    assert dexa["source"]["url"].startswith("https://doi.org/")
    assert all(link["url"].startswith(("https://doi.org/", "https://pubmed.ncbi.nlm.nih.gov/",
                                       "https://")) for link in dexa["links"])
    assert len(dexa["links"]) >= 2  # every citation linked, not only the source
    resource = dexa["suggestions"][0]["actions"][0]["resource"]
    assert resource["resourceType"] == "ServiceRequest"
    assert resource["code"]["coding"][0] == {
        "system": ORDER_SYSTEM, "code": "dexa_scan",
        "display": "Bone densitometry (DXA of hip and lumbar spine)"}
    assert resource["code"]["coding"][1] == {
        "system": "http://snomed.info/sct", "code": "312681000",
        "display": "Bone density scan (procedure)"}
    assert resource["subject"] == {"reference": "Patient/pt-1"}
    findings = [c for c in cards if c["summary"].startswith("Findings:")]
    assert len(findings) == 1 and "Genant grade 1" in findings[0]["summary"]
    missing = [c for c in cards if c["summary"].startswith("Missing:")]
    assert any("glomerular filtration" in c["summary"] for c in missing)
    assert len({c["detail"].split("Fact `")[1].split("`")[0] for c in missing}) == \
        len(missing)  # one card per fact


def test_urgency_maps_to_indicator(client: Any, hook_call: Call) -> None:
    cards = cards_of(client, hook_call("infection-red-flag"))
    mri = next(c for c in cards if "gadolinium" in c["detail"])
    assert mri["indicator"] == "critical"  # urgency critical
    assert mri["suggestions"][0]["actions"][0]["resource"]["code"]["coding"][0]["code"] == \
        "mri_with_contrast"


def test_card_ids_are_stable_for_a_hook_instance(client: Any, hook_call: Call) -> None:
    call = hook_call()
    first = [c["uuid"] for c in cards_of(client, call)]
    assert first == [c["uuid"] for c in cards_of(client, call)]
    assert len(set(first)) == len(first)


def _order(code: str, resource: str = "ServiceRequest", system: str = ORDER_SYSTEM,
           ) -> dict[str, Any]:
    concept = {"coding": [{"system": system, "code": code}]}
    key = "code" if resource == "ServiceRequest" else "medicationCodeableConcept"
    return {"resourceType": resource, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/pt-1"}, key: concept}


def test_order_sign_warns_on_augmentation_with_a_contraindication(
        client: Any, hook_call: Call) -> None:
    call = hook_call("augmentation-contraindicated", "order-sign",
                     orders=[_order("vertebral_augmentation_referral")])
    cards = cards_of(client, call, ORDER_URL)
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "warning"
    assert "contraindication" in card["summary"].lower()
    assert "Variant 3" in card["detail"]  # the cited locator of the warning's source
    assert card["source"]["url"] == "https://doi.org/10.1016/j.jacr.2018.09.019"


def test_order_sign_warns_on_contrast_mri_without_suspicion(client: Any,
                                                            hook_call: Call) -> None:
    snomed = _order("41333006", system="http://snomed.info/sct")  # lumbar, with contrast
    call = hook_call("founding-case", "order-sign", orders=[snomed])
    cards = cards_of(client, call, ORDER_URL)
    assert [c["indicator"] for c in cards] == ["warning"]
    assert cards[0]["summary"].startswith("Not indicated by vcf: MRI of the spine with IV")
    assert "infection_or_tumour_suspected" in cards[0]["detail"]  # the why-not
    assert "usually not appropriate" in cards[0]["detail"]  # the rule's source, cited


def test_order_sign_is_silent_for_an_indicated_order(client: Any, hook_call: Call) -> None:
    call = hook_call("infection-red-flag", "order-sign",
                     orders=[_order("mri_with_contrast"),
                             {"resourceType": "ServiceRequest", "status": "draft",
                              "code": {"text": "something the table does not know"}}])
    assert cards_of(client, call, ORDER_URL) == []


def test_order_sign_reads_medication_orders_by_atc(client: Any, hook_call: Call) -> None:
    call = hook_call("renal-impairment-egfr-28", "order-sign",
                     orders=[_order("M05BA04", "MedicationRequest",
                                    "http://www.whocc.no/atc")])
    cards = cards_of(client, call, ORDER_URL)
    assert len(cards) == 1 and cards[0]["summary"].startswith("Bisphosphonate: ")
    assert "**Avoid:**" in cards[0]["detail"]


def test_feedback_is_recorded_in_the_audit_log(client: Any, hook_call: Call,
                                               audit_path: Path) -> None:
    card = cards_of(client, hook_call())[0]
    feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                              "overrideReason": {"reason": {
                                  "system": "http://example.org/reasons", "code": "not-now"},
                                  "userComment": "the patient, Jane Doe, declined"},
                              "outcomeTimestamp": "2026-02-18T10:00:00Z"}]}
    check_cds("feedbackRequest", feedback)
    response = client.post("/cds-services/vcf-patient-view/feedback", json=feedback)
    assert response.status_code == 200, response.text
    check_cds("feedbackResponse", response.json())
    lines = [json.loads(x) for x in audit_path.read_text(encoding="utf-8").splitlines()]
    last = lines[-1]
    assert last["kind"] == "feedback" and last["card"] == card["uuid"]
    assert last["overrideReason"] == "not-now"
    assert "Jane" not in audit_path.read_text(encoding="utf-8")  # free text is not kept


def test_audit_entries_hold_no_patient_identifier(client: Any, hook_call: Call,
                                                  audit_path: Path) -> None:
    call = hook_call()
    cards_of(client, call)
    entries = [json.loads(x) for x in audit_path.read_text(encoding="utf-8").splitlines()]
    entry = next(e for e in entries if e.get("hookInstance") == call["hookInstance"])
    assert set(entry) == {"time", "kind", "service", "hook", "hookInstance", "guideline",
                          "rules", "codes", "cards"}
    assert entry["guideline"]["id"] == "vcf" and len(entry["guideline"]["hash"]) == 64
    assert "S15.dexa_scan" in entry["rules"] and "dexa_scan" in entry["codes"]
    text = audit_path.read_text(encoding="utf-8")
    assert "pt-1" not in text and "founding-case" not in text


# --- fetching from the EHR's FHIR server -----------------------------------------------------


class _Fhir(BaseHTTPRequestHandler):
    resources: ClassVar[dict[str, Any]] = {}
    token = "secret-token"
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._send(401, {"resourceType": "OperationOutcome"})
            return
        url = urlparse(self.path)
        rtype = url.path.strip("/").split("/")[1]  # /fhir/<type>[/<id>]
        if rtype == "Patient":
            self._send(200, self.resources["patient"])
            return
        query = parse_qs(url.query)
        assert query["patient"] == ["pt-1"]
        key = {"Condition": "conditions", "Observation": "observations"}.get(rtype)
        bundle = self.resources.get(key) if key else None
        self._send(200, bundle or {"resourceType": "Bundle", "type": "searchset",
                                   "entry": []})

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fhir_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fhir)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_missing_prefetch_is_fetched_from_the_fhir_server(client: Any, hook_call: Call,
                                                          fhir_server: str) -> None:
    full = hook_call()
    _Fhir.resources = full["prefetch"]
    _Fhir.seen = []
    call = dict(full, prefetch={"patient": full["prefetch"]["patient"]},
                fhirServer=fhir_server,
                fhirAuthorization={"access_token": _Fhir.token, "token_type": "Bearer",
                                   "expires_in": 300, "scope": "patient/*.read",
                                   "subject": "cds-service"})
    fetched = cards_of(client, call)
    expected = cards_of(client, full)
    assert [c["summary"] for c in fetched] == [c["summary"] for c in expected]
    paths = sorted(p.split("?")[0] for p, _ in _Fhir.seen)
    assert paths == ["/fhir/Condition", "/fhir/DiagnosticReport", "/fhir/MedicationRequest",
                     "/fhir/MedicationStatement", "/fhir/Observation"]  # not the Patient
    assert {auth for _, auth in _Fhir.seen} == {f"Bearer {_Fhir.token}"}


def test_a_refusing_fhir_server_is_a_502(client: Any, hook_call: Call,
                                         fhir_server: str) -> None:
    call = dict(hook_call(), prefetch=None, fhirServer=fhir_server,
                fhirAuthorization={"access_token": "wrong", "token_type": "Bearer",
                                   "expires_in": 300, "scope": "patient/*.read",
                                   "subject": "cds-service"})
    err = check_error(client.post(URL, json=call), 502, "fhir_server_error")
    assert "401" in err["message"]


def test_unreachable_fhir_server_is_a_502_within_the_timeout(client: Any,
                                                             hook_call: Call) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    call = dict(hook_call(), prefetch=None, fhirServer=f"http://127.0.0.1:{port}/fhir")
    check_error(client.post(URL, json=call), 502, "fhir_server_unreachable")


def test_card_ids_are_rfc_4122_name_based_uuids() -> None:
    import uuid

    from spinerules.service.cards import _NS, card_id

    for args in (("abc", "code", "dexa_scan"), ("é", "missing", "labs.egfr")):
        assert card_id(*args) == str(uuid.uuid5(_NS, "\0".join(args)))


def test_rest_cards_are_the_hook_s_cards(client: Any, hook_call: Call) -> None:
    from .helpers import bundle_of, record

    hook = cards_of(client, hook_call())
    for body in (record("founding-case"), bundle_of("founding-case")):
        response = client.post(f"/cards/vcf?as_of={AS_OF}", json=body)
        assert response.status_code == 200, response.text
        check_cds("cdsServiceResponse", response.json())
        rest = response.json()["cards"]
        assert [c["summary"] for c in rest] == [c["summary"] for c in hook]
        assert [c["detail"] for c in rest] == [c["detail"] for c in hook]
    check_error(client.post("/cards/vcf", json={"age": "old"}), 400, "invalid_record")


def test_card_reasons_read_the_conditions_as_the_text_report_does() -> None:
    from spinerules import api
    from spinerules.engine.report import Glossary, condition_words, split_because
    from spinerules.service.cards import own_conditions, reason

    from .helpers import record

    g = api.load("vcf")
    glossary = g.glossary()
    cache: dict[object, object] = {}
    seen = 0
    for name in ("founding-case", "infection-red-flag", "augmentation-contraindicated",
                 "pathologic-unstable", "neuro-deficit"):
        for r in g.evaluate(record(name), as_of=AS_OF).recommendations:
            own, bound, _ = split_because(r)
            assert own_conditions(r) == (own, bound)
            plain = "; ".join(dict.fromkeys(
                w for e, v in own if (w := condition_words(e, v, glossary)) is not None))
            assert reason(r, glossary, cache).endswith(plain)
            assert reason(r, glossary, cache) == reason(r, glossary)  # cached alike
            seen += 1
    assert seen > 40 and isinstance(glossary, Glossary)


def test_a_cached_reason_is_never_given_for_another_because_list() -> None:
    import attrs

    from spinerules import api
    from spinerules.engine.trace import Because
    from spinerules.service.cards import reason

    from .helpers import record

    g = api.load("vcf")
    glossary = g.glossary()
    cache: dict[object, object] = {}
    r = g.evaluate(record("founding-case"), as_of=AS_OF).get("dexa_scan")[0]
    first = reason(r, glossary, cache)
    assert first and reason(r, glossary, cache) == first
    # an equal list made anew, and another list for the same rule
    same = attrs.evolve(r, because=tuple(r.because))
    assert reason(same, glossary, cache) == first
    other = attrs.evolve(r, because=(Because(expression="fractures[0]", value="fractures[0]"),))
    assert reason(other, glossary, cache) == reason(other, glossary) != first
