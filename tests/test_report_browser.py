"""The report in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Opened from disk (file://), the report must render every section with and without JavaScript, make
no network request, log no console error, never run a hostile name as code, sort and filter its
tables, print to more than one A4 / Letter page, and open quickly with 100,000 findings.

On CI (CI=true) this module must run: a missing Chromium or Playwright is a failure, not a skip.
With UPDATE_GOLDEN=1 it also refreshes the screenshots in the docs (docs/img/report.png, report-chart.png).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policy_engine.report import render_report
from tests.test_report_support import (
    HOSTILE_CLIENT,
    HOSTILE_SYMBOL,
    NOW,
    ROOT,
    large_report,
    sample_result,
    tiny_result,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = ROOT / "docs" / "img" / "report.png"
ON_CI = os.environ.get("CI", "").lower() == "true"


def _require_browser() -> Any:
    """The Playwright module; skip without a browser locally, fail on CI."""
    problem = None
    try:
        from playwright import sync_api
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    if problem:
        if ON_CI:
            pytest.fail(f"the browser test must run on CI: {problem}")
        pytest.skip(problem)
    return sync_api


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = _require_browser()
    with sync_api.sync_playwright() as p:
        # launch() gives every run a fresh, temporary user-data directory
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("report")
    out = {"sample": d / "sample.html", "tiny": d / "tiny.html"}
    out["sample"].write_text(render_report(sample_result(), NOW), encoding="utf-8")
    out["tiny"].write_text(render_report(tiny_result(), NOW), encoding="utf-8")
    return out


class Watch:
    """Console errors, page errors, requests and dialogs of one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))


def open_page(browser: Any, path: Path, **context: Any) -> tuple[Any, Any, Watch]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 1100}, color_scheme="light", **context)
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(path.as_uri(), wait_until="load")
    return ctx, page, watch


def test_sample_report_renders_from_disk_without_network_or_errors(browser, files, tmp_path):
    ctx, page, watch = open_page(browser, files["sample"])
    try:
        page.screenshot(path=str(tmp_path / "report.png"))
        page.screenshot(path=str(tmp_path / "report-full.png"), full_page=True)
        page.locator("#chart-allocation").screenshot(path=str(tmp_path / "chart.png"))
        if os.environ.get("UPDATE_GOLDEN") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp_path / "report.png", SCREENSHOT)
            shutil.copyfile(tmp_path / "chart.png", SCREENSHOT.with_name("report-chart.png"))
        assert watch.errors == []
        assert watch.requests == [files["sample"].as_uri()]
        assert watch.dialogs == []
        assert page.locator("#summary").is_visible()
        assert page.locator("#summary .sev-card").count() == 4
        sections = page.locator("section.client")
        assert sections.count() == 8
        for i in range(8):
            assert sections.nth(i).is_visible()
            assert sections.nth(i).locator("table.positions tbody tr").count() > 0
        names = page.locator("section.client h3").all_inner_texts()
        assert "<img src=x onerror=alert(1)>" in names and "Zoë O'Neil & Søn" in names
        assert page.locator("svg[role=img]").count() == 3
        assert page.locator("#rules section.rule").count() == 8
    finally:
        ctx.close()


def test_hostile_payloads_never_execute(browser, files):
    ctx, page, watch = open_page(browser, files["tiny"])
    try:
        page.wait_for_timeout(200)
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert watch.dialogs == [] and watch.errors == []
        assert page.locator("img").count() == 0
        assert page.locator("script").count() == 1
        assert page.locator("section.client h3", has_text=HOSTILE_CLIENT).count() == 1  # shown, as text
        assert page.get_by_text(HOSTILE_SYMBOL).first.is_visible()
    finally:
        ctx.close()


def test_complete_without_javascript(browser, files):
    ctx, page, watch = open_page(browser, files["sample"], java_script_enabled=False)
    try:
        assert watch.errors == [] and watch.requests == [files["sample"].as_uri()]
        for selector in ("#run", "#summary", "#charts", "#clients", "#rules"):
            assert page.locator(selector).is_visible()
        assert page.locator("section.client").count() == 8
        assert page.locator("section.client table.findings").first.is_visible()
        assert page.locator("th button").count() == 0  # no dead controls without the script
        assert page.locator(".filter").count() == 0
    finally:
        ctx.close()


def test_sorting_and_filtering(browser, files):
    ctx, page, watch = open_page(browser, files["sample"])
    try:
        table = page.locator("#summary-clients")
        header = table.locator("thead th").nth(3)  # Breaches
        header.locator("button").click()
        assert header.get_attribute("aria-sort") == "ascending"
        assert table.locator("thead th[aria-sort]").count() == 1
        values = [int(v) for v in table.locator("tbody tr td:nth-child(4)").all_inner_texts()]
        assert values == sorted(values)
        header.locator("button").click()
        assert header.get_attribute("aria-sort") == "descending"
        values = [int(v) for v in table.locator("tbody tr td:nth-child(4)").all_inner_texts()]
        assert values == sorted(values, reverse=True)
        first = page.locator("section.client").first
        box = first.locator(".filter input").first
        rows = first.locator("table.positions tbody tr")
        total = rows.count()
        box.fill("BTCUSDT")
        visible = first.locator("table.positions tbody tr:not([hidden])").count()
        assert 0 < visible < total
        box.fill("")
        assert first.locator("table.positions tbody tr:not([hidden])").count() == total
        assert watch.errors == []
    finally:
        ctx.close()


def test_prints_to_several_pages_with_every_client(browser, files, tmp_path):
    ctx, page, watch = open_page(browser, files["sample"])
    try:
        page.emulate_media(media="print")
        assert page.locator("section.client").nth(1).evaluate("e => getComputedStyle(e).breakBefore") == "page"
        assert page.locator(".masthead nav").evaluate("e => getComputedStyle(e).display") == "none"
        for fmt_name in ("A4", "Letter"):
            pdf = tmp_path / f"report-{fmt_name}.pdf"
            page.pdf(path=str(pdf), format=fmt_name, print_background=True)
            data = pdf.read_bytes()
            pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
            assert pages > 8, f"{fmt_name}: {pages} pages"  # at least a page per client
        if shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "report-A4.pdf"), "-"],
                                  capture_output=True, text=True, check=True).stdout
            for name in page.locator("section.client h3").all_inner_texts():
                assert name in text
            assert "Executive summary" in text and "Coverage" in text
        assert watch.errors == []
    finally:
        ctx.close()


def test_large_report_opens_in_a_few_seconds(browser, tmp_path_factory):
    html, _, findings = large_report(tmp_path_factory.mktemp("large"))
    path = tmp_path_factory.mktemp("large-html") / "large.html"
    path.write_text(html, encoding="utf-8")
    ctx = browser.new_context(viewport={"width": 1440, "height": 1100})
    try:
        page = ctx.new_page()
        watch = Watch(page)
        start = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load", timeout=60_000)
        seconds = time.perf_counter() - start
        assert findings >= 100_000
        assert seconds < 10, f"the 100,000-finding report took {seconds:.1f} s to load"
        assert watch.errors == [] and watch.requests == [path.as_uri()]
        assert page.locator("section.client").count() == 200
        assert page.evaluate("typeof window.__xss") == "undefined"
    finally:
        ctx.close()


def test_a_missing_browser_fails_on_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setitem(globals(), "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setitem(globals(), "ON_CI", True)
    with pytest.raises(pytest.fail.Exception, match="must run on CI"):
        _require_browser()
    monkeypatch.setitem(globals(), "ON_CI", False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        _require_browser()
