"""The HTML report in a real browser (issue #12): headless Chromium renders it, and shows the
recommendations and sources.

Chromium's own command line does the work (``--dump-dom`` for the page as the browser built
it, ``--screenshot`` for pixels), so no browser-driver package is needed. ``.ci/run`` installs
the Debian ``chromium`` package; elsewhere the test is skipped when no Chromium is on the
PATH, except under CI (``CI`` set), where a missing browser fails it.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

import spinerules
from spinerules.engine.report import render_html

ROOT = Path(__file__).resolve().parents[2]
FOUNDING = ROOT / "examples" / "patients" / "founding-case.json"
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(b)), None)

if BROWSER is None and not os.environ.get("CI"):
    pytest.skip("no Chromium on the PATH (.ci/run installs it)", allow_module_level=True)


def chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert BROWSER is not None, "CI runs need Chromium (.ci/run installs it)"
    return subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--hide-scrollbars", *args],
                          capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, spinerules.Result]:
    g = spinerules.load("vcf")
    result = g.evaluate(json.loads(FOUNDING.read_text()), as_of="2026-02-18")
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(result, g.glossary()), encoding="utf-8")
    return path, result


def test_chromium_renders_the_recommendations_and_sources(
        page: tuple[Path, spinerules.Result]) -> None:
    path, result = page
    done = chromium("--dump-dom", path.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout.decode("utf-8")
    for r in result.recommendations:
        assert f'data-code="{r.code}"' in dom, r.code
    for key in ("ACR_BMD_2017", "BHOF_2022", "GENANT_1993"):
        assert f"<strong>{key}</strong>" in dom
    assert dom.count('<li id="source-') == 28
    assert "Order bone densitometry (DXA of hip and spine)" in dom


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
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


def test_the_screenshot_is_a_page_not_a_blank(page: tuple[Path, spinerules.Result],
                                              tmp_path: Path) -> None:
    path, _result = page
    shot = tmp_path / "report.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1000,1400", path.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    width, height, pixels = _png_pixels(data)
    assert (width, height) == (1000, 1400)
    assert 20_000 < len(data) < 5_000_000
    # not blank: a page of the same size with nothing on it compresses to far less
    blank_page = tmp_path / "blank.html"
    blank_page.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    blank = tmp_path / "blank.png"
    assert chromium(f"--screenshot={blank}", "--window-size=1000,1400",
                    blank_page.as_uri()).returncode == 0
    assert _png_pixels(blank.read_bytes())[:2] == (1000, 1400)
    assert len(data) > 10 * len(blank.read_bytes())
    assert len(set(pixels)) > 64  # (filtered scanlines: text gives many distinct bytes)
