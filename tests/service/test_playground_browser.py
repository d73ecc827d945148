"""The playground page in a real browser (issue #14): headless Chromium, driven by Playwright,
loads the founding-case example, submits it, and shows the service's cards with their source
links, the missing-fact questions and the explanation of a code; a screenshot is saved.

The service runs in this process on a loopback port (``live_server``). Playwright drives the
system's Chromium (``/usr/bin/chromium``; ``.ci/run`` installs Debian's package): no browser is
downloaded (``playwright install`` is never run). Without Chromium the module is skipped,
except under CI (``CI`` set), where a missing browser fails it, as in
``tests/unit/test_report_browser.py``. Screenshots go to the test's ``tmp_path`` and to the
git-ignored ``test-output/`` folder at the repository root.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AS_OF = "2026-02-18"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("no Chromium at /usr/bin/chromium (.ci/run installs Debian's chromium)",
                allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="the test extra installs playwright")

from .live_server import live_server  # noqa: E402


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    from spinerules.service.app import create_app
    from spinerules.service.config import ServiceConfig

    app = create_app(ServiceConfig(insecure_dev=True, guidelines=("vcf",)))
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), "CI runs need Chromium (.ci/run installs it)"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS,
                              timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000},
                                  service_workers="block")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    problems: list[str] = []
    # script errors and CSP violations; an HTTP error answer is the page's to show, not one
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error"
          and not m.text.startswith("Failed to load resource") else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    # the page is local: any request that leaves the service is a bug (and is refused)
    outside: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(base_url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    pg.route("**/*", route)
    pg.goto(base_url + "/")
    pg.wait_for_selector("body[data-ready=true]")
    yield pg
    context.close()
    assert outside == [], f"the page reached outside the service: {outside}"
    assert problems == [], f"errors in the page (console, CSP, script): {problems}"


def _service_cards(base_url: str, example: str) -> list[tuple[str, str]]:
    """(indicator, summary) of the cards the service gives for the example when called
    directly, with the prefetch built by the service's own helper (not the page's code)."""
    import datetime

    import httpx

    from spinerules.fhir.generate import to_bundle
    from spinerules.records.loader import load_record
    from spinerules.records.spine import Patient
    from spinerules.service.hooks import prefetch_from_bundle

    with httpx.Client(base_url=base_url, timeout=30) as c:
        data = c.get(f"/guidelines/vcf/examples/{example}").json()
        if data.get("resourceType") != "Bundle":  # a record: as the EHR would hold it
            data = to_bundle(load_record(Patient, data),
                             as_of=datetime.date.fromisoformat(AS_OF))
        service = c.get("/cds-services").json()["services"]
        templates = next(s for s in service if s["id"] == "vcf-patient-view")["prefetch"]
        answer = c.post(f"/cds-services/vcf-patient-view?as_of={AS_OF}", json={
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "hook": "patient-view",
            "context": {"userId": "Practitioner/test", "patientId": "p1"},
            "prefetch": prefetch_from_bundle(data, templates, "p1")})
        assert answer.status_code == 200, answer.text
        return [(card["indicator"], card["summary"]) for card in answer.json()["cards"]]


def _evaluate(page: Any, example: str) -> None:
    page.select_option("#guideline", "vcf")
    page.fill("#as-of", AS_OF)
    before = page.get_attribute("body", "data-evaluated") or "0"  # submits done so far
    page.get_by_role("button", name=example, exact=True).click()
    page.wait_for_function(
        "name => document.querySelector(`#examples button[data-example='${name}']`)"
        ".getAttribute('aria-pressed') === 'true'", arg=example)
    assert json.loads(page.input_value("#record"))  # the example is in the text box
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_function("n => (document.body.dataset.evaluated || '0') !== n", arg=before)


def test_founding_case_shows_cards_sources_questions_and_explanations(
        page: Any, base_url: str, tmp_path: Path) -> None:
    _evaluate(page, "founding-case")
    assert page.is_hidden("#error"), page.text_content("#error")
    cards = page.locator("#cards > li.card")
    # the same cards as an EHR gets from the CDS Hooks service for this patient as FHIR
    shown = page.eval_on_selector_all(
        "#cards > li.card", "cs => cs.map(c => [c.dataset.indicator, "
        "c.querySelector('.card-summary').textContent])")
    assert [tuple(x) for x in shown] == _service_cards(base_url, "founding-case")
    # the page shows every card of the service's response (kept in the raw view)
    expected = json.loads(page.text_content("#raw-cards"))["cards"]
    assert cards.count() == len(expected) > 0
    # every card as an EHR shows it: indicator, summary, source link
    for i, card in enumerate(expected):
        shown = cards.nth(i)
        assert shown.get_attribute("data-indicator") == card["indicator"]
        assert shown.locator(".card-summary").inner_text() == card["summary"]
        if card.get("source", {}).get("url"):
            link = shown.locator(".card-source a")
            assert link.first.get_attribute("href") == card["source"]["url"]
            assert link.first.get_attribute("rel") == "noopener noreferrer"
    hrefs = page.eval_on_selector_all("#cards .card-source a", "as => as.map(a => a.href)")
    assert any(h.startswith(("https://doi.org/", "https://pubmed.ncbi.nlm.nih.gov/"))
               for h in hrefs), hrefs
    # the Markdown detail rendered (not shown as raw asterisks)
    assert page.locator("#cards .card-detail p, #cards .card-detail li").count() > 0
    # the missing-fact questions of the result (the eGFR before a bisphosphonate)
    assert page.locator("#missing li[data-code=request_egfr]").count() == 1
    # explanations: a code chosen in the list is explained by its rule and conditions
    page.select_option("#code", "acute_fracture")
    text = page.inner_text("#explanation")
    assert "acute_fracture" in text and "S1.acute_fracture" in text and "fired" in text
    assert page.inner_text("#status").startswith("Done:")
    _screenshot(page, tmp_path / "playground-founding-case.png")


def test_bundle_example_and_bad_json(page: Any, base_url: str) -> None:
    _evaluate(page, "founding-case.bundle")
    assert page.is_hidden("#error"), page.text_content("#error")
    assert page.locator("#cards > li.card").count() == len(
        _service_cards(base_url, "founding-case.bundle")) > 0
    note = page.inner_text("#cards-note")
    assert "vcf-patient-view" in note and "resource(s)" not in note  # all prefetched
    page.fill("#record", "{not json")
    page.get_by_role("button", name="Evaluate").click()
    assert "not valid JSON" in page.inner_text("#error")


def test_order_sign_warns_about_a_draft_order_in_the_bundle(page: Any) -> None:
    """A contrast MRI drafted for the founding case (no infection or tumour suspected): the
    page sends it as the order being signed and shows the service's warning."""
    page.select_option("#guideline", "vcf")
    page.fill("#as-of", AS_OF)
    page.get_by_role("button", name="founding-case.bundle", exact=True).click()
    page.wait_for_function("() => document.querySelector('#record').value.includes('Bundle')")
    bundle = json.loads(page.input_value("#record"))
    bundle["entry"].append({"fullUrl": "urn:uuid:5b0a6c9e-8d1f-4c33-9a57-0c2f1e6d7a10",
                            "resource": {
        "resourceType": "ServiceRequest", "status": "draft", "intent": "order",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "41333006"}]},
        "subject": {"reference": bundle["entry"][0]["fullUrl"]}}})
    page.fill("#record", json.dumps(bundle))
    page.select_option("#hook", "order-sign")
    before = page.get_attribute("body", "data-evaluated") or "0"
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_function("n => (document.body.dataset.evaluated || '0') !== n", arg=before)
    assert page.is_hidden("#error"), page.text_content("#error")
    cards = page.locator("#cards > li.card")
    assert cards.count() == 1
    assert cards.first.get_attribute("data-indicator") == "warning"
    assert "MRI of the spine with IV" in cards.first.locator(".card-summary").inner_text()
    assert "vcf-order-sign for 1 draft order" in page.inner_text("#cards-note")


def test_markdown_renderer_never_makes_html_from_text(page: Any) -> None:
    out = page.evaluate("""() => {
        const d = window.spinerulesPlayground.renderMarkdown(
          "<img src=x onerror=alert(1)> **bold** and `code`, _em_ but weeks_since_onset"
          + "\\n\\n- [doi](https://doi.org/10.1/x)"
          + "\\n- [bad](javascript:alert(1))");
        return {html: d.innerHTML, text: d.textContent, ems: d.querySelectorAll('em').length,
                imgs: d.querySelectorAll('img').length, strong: d.querySelectorAll('strong').length,
                links: [...d.querySelectorAll('a')].map(a => a.getAttribute('href'))};
    }""")
    assert out["imgs"] == 0 and "&lt;img" in out["html"]
    assert out["strong"] == 1 and "<code>code</code>" in out["html"]
    assert out["ems"] == 1 and "weeks_since_onset" in out["text"]  # no emphasis inside a word
    assert out["links"] == ["https://doi.org/10.1/x"]  # javascript: is text, not a link


def _png_size(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def _screenshot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    width, height, pixels = _png_size(data)
    assert width == 1280 and height >= 1000, (width, height)
    assert len(data) > 50_000, len(data)  # a page of cards, not a blank or an error box
    assert len(set(pixels)) > 64
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    shutil.copyfile(path, out / path.name)
