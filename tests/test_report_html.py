"""The rendered HTML: golden file of the sample book, escaping, self-containment, structure, size at scale.

Regenerate the golden file (and reports/example.html, the same bytes) on purpose only:
    UPDATE_GOLDEN=1 python -m pytest tests/test_report_html.py
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import StrictUndefined, UndefinedError

from policy_engine.report import render_report, write_report
from policy_engine.report.render import environment
from tests.test_report_support import (
    EXAMPLE,
    GOLDEN,
    HOSTILE_ADVISOR,
    HOSTILE_CLIENT,
    HOSTILE_SYMBOL,
    NOW,
    SAMPLE_HOSTILE,
    large_report,
    sample_result,
    tiny_result,
)

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def sample_html() -> str:
    return render_report(sample_result(), NOW)


@pytest.fixture(scope="module")
def tiny_html() -> str:
    return render_report(tiny_result(), NOW)


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of <script> and <style>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def test_golden_sample_report(sample_html):
    if UPDATE:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(sample_html, encoding="utf-8", newline="\n")
        EXAMPLE.parent.mkdir(parents=True, exist_ok=True)
        EXAMPLE.write_text(sample_html, encoding="utf-8", newline="\n")
    assert GOLDEN.exists(), "no golden file: run UPDATE_GOLDEN=1 python -m pytest tests/test_report_html.py"
    expected = GOLDEN.read_text(encoding="utf-8")
    assert sample_html == expected, "the report changed: review it, then UPDATE_GOLDEN=1 to accept"


def test_committed_example_is_the_golden_report():
    assert EXAMPLE.read_bytes() == GOLDEN.read_bytes(), "reports/example.html is stale: UPDATE_GOLDEN=1"


def test_rendering_is_byte_identical_for_the_same_result_and_clock(tmp_path):
    result = sample_result()
    a, b = write_report(result, tmp_path / "a.html", NOW), write_report(result, tmp_path / "b" / "b.html", NOW)
    assert a.read_bytes() == b.read_bytes()
    assert render_report(sample_result(), NOW).encode() == a.read_bytes()


@pytest.mark.parametrize("payload", [HOSTILE_CLIENT, HOSTILE_ADVISOR, HOSTILE_SYMBOL])
def test_hostile_names_are_text(tiny_html, payload):
    assert payload not in tiny_html
    escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    assert escaped in tiny_html
    tags = parse(tiny_html)
    assert not [t for t, _ in tags.tags if t in ("img", "iframe", "object", "embed")]
    assert [t for t, _ in tags.tags].count("script") == 1
    assert [t for t, _ in tags.tags].count("svg") == 3  # the three charts, none from the data
    assert any(payload in text for text in tags.text)  # the name is there, as text


def test_sample_hostile_client_is_text(sample_html):
    assert SAMPLE_HOSTILE not in sample_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in sample_html
    assert "<img" not in sample_html


@pytest.mark.parametrize("which", ["sample", "tiny"])
def test_the_file_is_self_contained(which, sample_html, tiny_html):
    html = sample_html if which == "sample" else tiny_html
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<link\b|@import|url\(|<[a-z][^>]*\ssrc\s*=", html, re.IGNORECASE)
    for tag, attrs in parse(html).tags:
        assert "src" not in attrs, tag
        for name in ("href", "action", "xlink:href", "formaction"):
            if name in attrs:
                assert (attrs[name] or "").startswith("#"), (tag, attrs)
    # content server-rendered: every section exists without the script
    for anchor in ('id="summary"', 'id="clients"', 'id="rules"', 'id="run"'):
        assert anchor in html


def test_accessible_structure(sample_html):
    tags = parse(sample_html).tags
    assert sample_html.count("<table") == sample_html.count("<caption>")
    assert all(a.get("scope") in ("col", "row") for t, a in tags if t == "th")
    svgs = [a for t, a in tags if t == "svg"]
    assert len(svgs) == 3 and all(a.get("role") == "img" and a.get("aria-labelledby") for a in svgs)
    assert sample_html.count("<title id=") == 3 and sample_html.count("<desc id=") == 3
    assert not [t for t, a in tags if "aria-sort" in a]  # only the script sets it, on the sorted header
    assert '<html lang="en">' in sample_html
    for name in ("critical", "breach", "warning"):  # severity as a word and a shape, not colour alone
        assert re.search(rf'<span class="badge sev-{name}">[◆■▲] {name}</span>', sample_html)


def test_print_and_dark_mode_styles(sample_html):
    css = sample_html.split("<style>")[1].split("</style>")[0]
    assert "color-scheme: light dark" in css and "@media (prefers-color-scheme: dark)" in css
    assert re.search(r"@page \{ size: auto; margin: [^}]+\}", css)
    print_css = css.split("@media print")[1]
    assert ".client { break-before: page; }" in print_css
    assert "tbody tr[hidden] { display: table-row !important; }" in print_css  # a filter never hides rows on paper
    assert "details" not in [t for t, _ in parse(sample_html).tags]  # nothing essential is collapsed
    assert "beforeprint" in sample_html


def test_templates_are_strict_and_escape():
    env = environment()
    assert env.undefined is StrictUndefined
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing }}").render()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert env.get_template("report.html").render  # found as package data by PackageLoader


def test_templates_ship_as_package_data():
    from importlib.resources import files

    names = {p.name for p in files("policy_engine").joinpath("templates").iterdir()}
    assert {"report.html", "report_macros.html", "report.css", "report.js"} <= names
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"templates/*"' in pyproject


def test_optional_sections_in_html_escape_their_data():
    html = render_report(tiny_result(waived=[{"account_id": "ACC-A", "rule_id": "max-allocation",
                                             "reason": "<script>window.__xss=4</script>", "ticket": "RISK-1"}]), NOW)
    assert '<section id="waived"' in html and "Waived findings" in html
    assert "<script>window.__xss=4" not in html and "&lt;script&gt;window.__xss=4" in html


def test_cli_writes_the_report(tmp_path, root):
    from tests.conftest import run_cli

    out = tmp_path / "reports" / "report.html"
    proc = run_cli("check", "--policies", "policies", "--positions", "samples/positions.csv", "--accounts",
                   "samples/accounts.csv", "--market", "samples/market.json", "--report", str(out), "--quiet", cwd=root)
    assert proc.returncode == 1, proc.stderr  # the sample book breaches on purpose
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Executive summary" in html


def test_large_run_stays_small_and_fast(tmp_path_factory):
    html, seconds, findings = large_report(tmp_path_factory.mktemp("large"))
    assert findings >= 100_000
    size = len(html.encode("utf-8"))
    assert size < 5_000_000, f"{size:,} bytes"
    assert seconds < 10, f"rendering took {seconds:.1f} s"
    assert "more findings not shown here" in html and "more positions not shown here" in html
    assert html.count("<tr>") < 12_000
