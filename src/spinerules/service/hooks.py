"""CDS Hooks 2.0: discovery, the hook call (prefetch or FHIR fetch, evaluation, cards),
order-sign checks and feedback.

Services: one per served guideline and hook, ``<guideline>-patient-view`` and
``<guideline>-order-sign``. Their prefetch templates are derived from the guideline's FHIR
mapping (``fhir/spine.yaml`` for the bundled record): one search per resource type the
mapping reads, narrowed to the codes it reads where those codes are exact (LOINC
Observations); ICD-10-CM and ATC codes match by prefix, which FHIR search cannot say
portably, so Conditions and medications are searched for the patient.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
import urllib.parse
from typing import Any

from spinerules import api
from spinerules.service.cards import (
    SUMMARY_MAX,
    Words,
    card_id,
    links_of,
    reason,
    result_cards,
    source_of,
    sources_md,
    summary,
)
from spinerules.service.errors import ServiceError
from spinerules.service.orders import BY_CODE, Order, order_for

log = logging.getLogger("spinerules.service")

HOOKS = ("patient-view", "order-sign")
PATIENT = "{{context.patientId}}"
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_MAX_PAGES = 10

#: the resource types behind each kind of mapping source
_KIND_RESOURCES = {"patient": ("Patient",), "condition": ("Condition",),
                   "fracture": ("Condition",), "observation": ("Observation",),
                   "project": ("Observation",),
                   "medication": ("MedicationStatement", "MedicationRequest"),
                   "report": ("DiagnosticReport",)}


def prefetch_templates(mapping: Any) -> dict[str, str]:
    """The prefetch templates a mapping needs: key -> FHIR query (``{{context.patientId}}``)."""
    from spinerules.fhir.mapping import HIERARCHICAL

    kinds = {s.kind for f in mapping.facts.values() for s in f.sources}
    if mapping.lists:
        kinds.add("fracture")
    types: list[str] = []
    for kind in ("patient", "condition", "fracture", "observation", "project", "medication",
                 "report"):
        if kind in kinds:
            types.extend(t for t in _KIND_RESOURCES[kind] if t not in types)
    codes: dict[str, list[str] | None] = {}
    for f in mapping.facts.values():
        for s in f.sources:
            for rtype in _KIND_RESOURCES.get(s.kind, ()):
                if s.kind == "project":
                    tokens: list[str] | None = [f"{mapping.project_system}|"]
                elif s.value_set is None:
                    tokens = None
                else:
                    pairs = sorted(s.value_set._exact) if not any(
                        sys in HIERARCHICAL for sys, _ in s.value_set._prefixes) else None
                    if pairs is None or s.value_set._prefixes:
                        tokens = None
                    else:
                        tokens = [f"{sys}|{code}" for sys, code in pairs]
                if rtype in codes and codes[rtype] is None:
                    continue
                if tokens is None:
                    codes[rtype] = None
                else:
                    codes[rtype] = sorted(set(codes.get(rtype) or []) | set(tokens))
    out: dict[str, str] = {}
    for rtype in types:
        if rtype == "Patient":
            out["patient"] = f"Patient/{PATIENT}"
            continue
        query = f"{rtype}?patient={PATIENT}"
        wanted = codes.get(rtype)
        if wanted:
            query += "&code=" + ",".join(wanted)
        out[_key(rtype)] = query
    return out


def _key(rtype: str) -> str:
    return rtype[0].lower() + rtype[1:] + "s"


@dataclasses.dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    guideline_id: str
    words: Words
    prefetch: dict[str, str]
    mapping: Any

    def discovery(self) -> dict[str, Any]:
        g = self.words.guideline
        what = ("when a chart is opened: the guideline's recommendations, warnings and the "
                "missing facts that would change them" if self.hook == "patient-view" else
                "when orders are signed: warns about draft orders the guideline advises "
                "against or does not indicate for this patient")
        return {"hook": self.hook, "id": self.id,
                "title": f"{g.title} ({self.hook})",
                "description": f"spinerules guideline {g.id} {g.version or ''}: {what}.",
                "prefetch": dict(self.prefetch),
                "usageRequirements": "Patient data as FHIR R4; the service reads the "
                "resources of its prefetch templates (or fetches them from fhirServer)."}


def make_services(words: dict[str, Words]) -> dict[str, CdsService]:
    from spinerules.fhir.mapping import mapping_for

    out: dict[str, CdsService] = {}
    for gid, w in words.items():
        try:
            mapping = mapping_for(w.guideline.record_type)
        except KeyError:  # no FHIR mapping for its record: REST only
            log.info("guideline %s: no FHIR mapping for its record type, so no CDS "
                     "Hooks service (the REST API serves it)", gid)
            continue
        templates = prefetch_templates(mapping)
        for hook in HOOKS:
            sid = f"{gid}-{hook}"
            out[sid] = CdsService(id=sid, hook=hook, guideline_id=gid, words=w,
                                  prefetch=templates, mapping=mapping)
    return out


# --- the request -------------------------------------------------------------------------


def check_call(service: CdsService, call: dict[str, Any]) -> str:
    """The patient id of a hook call; 400 for an unknown or wrong hook, a bad context."""
    hook = call.get("hook")
    if hook not in HOOKS:
        raise ServiceError(400, "unknown_hook", f"unknown hook {str(hook)[:60]!r}: this "
                           f"service answers {service.hook}", "$.hook")
    if hook != service.hook:
        raise ServiceError(400, "wrong_hook", f"service {service.id} answers {service.hook}, "
                           f"not {hook}", "$.hook")
    context = call.get("context")
    if not isinstance(context, dict):
        raise ServiceError(400, "malformed_context", "context must be an object", "$.context")
    patient = context.get("patientId")
    if not isinstance(patient, str) or not _FHIR_ID.fullmatch(patient):
        raise ServiceError(400, "malformed_context", "context.patientId must be a FHIR id "
                           "(letters, digits, '-' and '.', at most 64)", "$.context.patientId")
    if hook == "order-sign":
        orders = context.get("draftOrders")
        if not isinstance(orders, dict) or orders.get("resourceType") != "Bundle" \
                or not isinstance(orders.get("entry", []), list):
            raise ServiceError(400, "malformed_context", "order-sign needs "
                               "context.draftOrders: a FHIR Bundle of the draft orders",
                               "$.context.draftOrders")
    return patient


def collect_prefetch(service: CdsService, prefetch: Any,
                     ) -> tuple[list[tuple[str, dict[str, Any], str | None]], list[str]]:
    """The resources of the prefetch (JSON path, resource, fullUrl) and the template keys
    it does not hold (absent or null: the EHR did not prefetch them)."""
    if prefetch is not None and not isinstance(prefetch, dict):
        raise ServiceError(400, "malformed_prefetch", "prefetch must be an object of "
                           "resources and Bundles by template key", "$.prefetch")
    data = prefetch or {}
    resources: list[tuple[str, dict[str, Any], str | None]] = []
    missing: list[str] = []
    for key in service.prefetch:
        value = data.get(key)
        if value is None:
            missing.append(key)
            continue
        add_resources(resources, value, f"prefetch.{key}")
    return resources, missing


def add_resources(out: list[tuple[str, dict[str, Any], str | None]], value: Any,
                  path: str) -> None:
    """A resource, or every resource of a Bundle (search results), added to ``out``."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise ServiceError(400, "malformed_prefetch", f"{path} must be a FHIR resource or "
                           "Bundle (an object with resourceType)", f"$.{path}")
    if value["resourceType"] == "OperationOutcome":
        return
    if value["resourceType"] != "Bundle":
        out.append((path, value, None))
        return
    entries = value.get("entry", [])
    if not isinstance(entries, list):
        raise ServiceError(400, "malformed_prefetch", f"{path}.entry must be a list",
                           f"$.{path}.entry")
    for i, entry in enumerate(entries):
        where = f"{path}.entry[{i}]"
        if not isinstance(entry, dict):
            raise ServiceError(400, "malformed_prefetch", f"{where} must be an object",
                               f"$.{where}")
        resource = entry.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise ServiceError(400, "malformed_prefetch", f"{where}.resource must be a FHIR "
                               "resource", f"$.{where}.resource")
        if resource["resourceType"] == "OperationOutcome":
            continue
        full = entry.get("fullUrl")
        out.append((f"{where}.resource", resource, full if isinstance(full, str) else None))


async def fetch_missing(service: CdsService, call: dict[str, Any], patient: str,
                        missing: list[str], client: Any,
                        out: list[tuple[str, dict[str, Any], str | None]],
                        allowed: tuple[str, ...] = ()) -> None:
    """Fetch the missing prefetch from ``fhirServer`` with ``fhirAuthorization`` (bearer):
    only from that server (``next`` links elsewhere are not followed), at most
    ``_MAX_PAGES`` pages per query; ``allowed``: the URL prefixes it may be (empty: any)."""
    base = call.get("fhirServer")
    if not missing or not isinstance(base, str):
        return
    if not base.startswith(("https://", "http://")):
        raise ServiceError(400, "malformed_request", "fhirServer must be an http(s) URL",
                           "$.fhirServer")
    base = base.rstrip("/") + "/"
    import httpx

    try:
        parsed = httpx.URL(base)
    except (httpx.InvalidURL, ValueError):
        parsed = None
    if parsed is None or not parsed.host:
        raise ServiceError(400, "malformed_request", "fhirServer is not a valid URL",
                           "$.fhirServer")
    if allowed and not any(base.startswith(a.rstrip("/") + "/") for a in allowed):
        raise ServiceError(403, "fhir_server_not_allowed", "this service does not fetch from "
                           "that fhirServer (send the prefetch, or ask for the server to be "
                           "allowed)", "$.fhirServer")
    headers = {"Accept": "application/fhir+json"}
    auth = call.get("fhirAuthorization")
    if isinstance(auth, dict) and isinstance(auth.get("access_token"), str):
        token = auth["access_token"]
        if not token.isascii() or not token.isprintable() or " " in token.strip():
            raise ServiceError(400, "malformed_request", "fhirAuthorization.access_token "
                               "must be printable ASCII without spaces",
                               "$.fhirAuthorization.access_token")
        headers["Authorization"] = f"Bearer {token.strip()}"

    for key in missing:
        url: str | None = base + service.prefetch[key].replace(
            PATIENT, urllib.parse.quote(patient, safe=""))
        pages = 0
        while url is not None and pages < _MAX_PAGES:
            try:
                response = await client.get(url, headers=headers)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise ServiceError(502, "fhir_server_unreachable", f"the FHIR server did not "
                                   f"answer for {key}: {type(exc).__name__}",
                                   "$.fhirServer") from None
            if response.status_code == 404 and key == "patient":
                break
            if response.status_code != 200:
                raise ServiceError(502, "fhir_server_error", f"the FHIR server answered "
                                   f"{response.status_code} for {key}", "$.fhirServer")
            try:
                body = response.json()
            except ValueError:
                raise ServiceError(502, "fhir_server_error", f"the FHIR server's answer for "
                                   f"{key} is not JSON", "$.fhirServer") from None
            try:
                add_resources(out, body, f"fetched.{key}")
            except ServiceError as exc:
                raise ServiceError(502, "fhir_server_error", exc.message,
                                   "$.fhirServer") from None
            pages += 1
            url = _next_link(body, base)


def _next_link(bundle: Any, base: str) -> str | None:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return None
    for item in bundle.get("link") or []:
        if isinstance(item, dict) and item.get("relation") == "next":
            url = item.get("url")
            if isinstance(url, str) and url.startswith(base):
                return url
    return None


def extract(service: CdsService, resources: list[tuple[str, dict[str, Any], str | None]],
            day: datetime.date) -> Any:
    """The record from the patient's resources (400 naming each problem)."""
    from spinerules.fhir.errors import FhirError
    from spinerules.fhir.extract import extract_resources

    try:
        return extract_resources(resources, as_of=day, mapping=service.mapping).record
    except FhirError as exc:
        first = exc.problems[0]
        path = first.path if first.path.startswith("$") else f"$.{first.path}"
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        raise ServiceError(400, "malformed_prefetch", f"{path}: {first.message}{more}", path,
                           problems=[{"path": p.path, "message": p.message}
                                     for p in exc.problems[:50]]) from None


# --- order-sign ----------------------------------------------------------------------------


def draft_orders(context: dict[str, Any]) -> list[tuple[str, Order]]:
    """The recognised orders of ``context.draftOrders``: (JSON path, order)."""
    found: list[tuple[str, Order]] = []
    for i, entry in enumerate(context["draftOrders"].get("entry", [])):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        rtype = resource.get("resourceType")
        concept = resource.get("code") if rtype == "ServiceRequest" else \
            resource.get("medicationCodeableConcept") if rtype in (
                "MedicationRequest", "MedicationStatement") else None
        if not isinstance(concept, dict):
            continue
        for coding in concept.get("coding") or []:
            if not isinstance(coding, dict):
                continue
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                order = order_for(system, code)
                if order is not None:
                    found.append((f"$.context.draftOrders.entry[{i}].resource", order))
                    break
    return found


def order_cards(service: CdsService, orders: list[tuple[str, Order]], result: Any,
                record: Any, day: datetime.date, hook_instance: str) -> list[dict[str, Any]]:
    """A warning card for each draft order a rule advises against, warns about, or that
    the guideline could give but does not for this patient."""
    words = service.words
    g = words.guideline
    given = result.codes()
    cards: list[dict[str, Any]] = []
    traced = None
    for path, order in orders:
        against = [r for r in result.recommendations
                   if r.code in order.cautions
                   or (r.code == order.code and r.action == "advise_against")]
        for r in against:
            why = reason(r, words.glossary, words.cache)
            detail = [f"**Draft order:** {order.display}",
                      f"**{'Avoid' if r.action == 'advise_against' else 'Caution'}:** "
                      f"{r.text or r.code}"]
            if why:
                detail.append(f"**Why:** {why}")
            detail.append(sources_md(r.citations))
            head = order.display if len(order.display) <= 60 else order.display[:59] + "…"
            text = summary(r.text or r.code, SUMMARY_MAX - len(head) - 2)
            cards.append(_card(hook_instance, f"{path}\0{r.code}", f"{head}: {text}", detail,
                               r.citations, words))
        action = words.actions.get(order.code)
        if action is None or action[0] not in ("recommend", "consider") or \
                order.code in given or against:
            continue
        if traced is None:
            traced = g.evaluate(record, as_of=day, trace=True)
        explanation = traced.explain(order.code)
        instead = [r for r in result.recommendations
                   if (other := BY_CODE.get(r.code)) is not None and other.category ==
                   order.category and r.action in ("recommend", "consider")]
        detail = [f"**Draft order:** {order.display}",
                  f"{g.title} does not indicate this order for this patient.",
                  "**Why not:**\n\n```text\n" + explanation.replace("```", "'''") + "\n```"]
        if instead:
            detail.append("**The guideline recommends instead:** " + "; ".join(
                r.text or r.code for r in instead))
        cites = action[2]
        detail.append(sources_md(cites))
        cards.append(_card(hook_instance, f"{path}\0not-indicated",
                           f"Not indicated by {g.id}: {order.display}", detail, cites, words))
    return cards


def _card(hook_instance: str, key: str, text: str, detail: list[str], cites: Any,
          words: Words) -> dict[str, Any]:

    card: dict[str, Any] = {"uuid": card_id(hook_instance, "order", key),
                            "summary": summary(text), "indicator": "warning",
                            "detail": "\n\n".join(d for d in detail if d),
                            "source": source_of(cites, words)}
    links = links_of(cites)
    if links:
        card["links"] = links
    return card


def hook_cards(service: CdsService, call: dict[str, Any], record: Any, day: datetime.date,
               patient: str) -> tuple[list[dict[str, Any]], Any]:
    """The cards of one hook call, and the result they come from."""
    g: api.Guideline = service.words.guideline
    result = g.evaluate(record, as_of=day)
    instance = str(call.get("hookInstance"))
    if service.hook == "order-sign":
        orders = draft_orders(call["context"])
        return order_cards(service, orders, result, record, day, instance), result
    return result_cards(result, service.words, instance, f"Patient/{patient}"), result


def prefetch_from_bundle(bundle: dict[str, Any], templates: dict[str, str],
                         patient_id: str) -> dict[str, Any]:
    """The prefetch an EHR would send for the resources of ``bundle`` (one patient's): the
    Patient (given ``patient_id`` as its id) and one searchset Bundle per template key,
    with every reference rewritten to the relative ``Type/id`` form a FHIR server uses.
    For tests, the playground and the load benchmark: a generated Bundle's ``urn:uuid``
    references do not resolve once its entries are split across prefetch keys."""
    import copy

    resources: list[tuple[str | None, dict[str, Any]]] = [
        (e.get("fullUrl"), copy.deepcopy(e["resource"])) for e in bundle.get("entry", [])
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    rename: dict[str, str] = {}
    for n_, (full, res) in enumerate(resources):
        rtype = res["resourceType"]
        if rtype == "Patient":
            res["id"] = patient_id
        res.setdefault("id", f"{rtype.lower()}-{n_}")
        if full:
            rename[full] = f"{rtype}/{res['id']}"

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and ref in rename:
                node["reference"] = rename[ref]
            for v in node.values():
                fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)

    by_type = {t.split("?")[0].split("/")[0]: key for key, t in templates.items()}
    out: dict[str, Any] = {}
    for _full, res in resources:
        fix(res)
        key = by_type.get(res["resourceType"])
        if key is None:
            continue
        if key == "patient":
            out[key] = res
        else:
            out.setdefault(key, {"resourceType": "Bundle", "type": "searchset", "entry": []})
            out[key]["entry"].append({"fullUrl": f"{res['resourceType']}/{res['id']}",
                                      "resource": res})
    return out
