"""Gate outputs: SARIF (schema + GitHub code scanning's rules), JUnit, GitHub annotations, Markdown, JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import polars as pl
import pytest

from policy_engine.gate import document, github, junit, markdown, sarif
from policy_engine.gate.run import GateResult
from tests.conftest import ROOT
from tests.test_gate_diff import BOOK, TRADES
from tests.test_gate_helpers import gate

SCHEMAS = [
    ROOT / "tests" / "data" / "sarif-schema-2.1.0.json",
    ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json",
]


@pytest.fixture
def result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GateResult:
    monkeypatch.chdir(tmp_path)  # URIs are relative to the current directory
    return gate(tmp_path, BOOK, TRADES)


def validate_sarif(doc: dict) -> None:
    for path in SCHEMAS:
        if path.exists():
            schema = json.loads(path.read_text(encoding="utf-8"))
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
            assert not errors, "\n".join(e.message for e in errors[:5])


def test_sarif_is_valid_and_meets_code_scanning_rules(result: GateResult, tmp_path: Path) -> None:
    sarif.write(result, str(tmp_path / "gate.sarif"))
    doc = json.loads((tmp_path / "gate.sarif").read_text(encoding="utf-8"))
    validate_sarif(doc)
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    assert run["automationDetails"]["id"] == "policy-engine/gate/"
    assert run["invocations"][0] == {
        "executionSuccessful": True,
        "exitCode": 1,
        "exitCodeDescription": "blocking findings",
    }
    driver = run["tool"]["driver"]
    assert driver["name"] == "policy-engine" and driver["semanticVersion"]
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [
        "gate-test/alloc",
        "gate-test/gross",
        "gate-test/max-leverage",
        "gate-test/stop",
    ]
    for rule in rules:
        assert rule["name"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"] and rule["properties"]["tags"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    assert (
        rules[0]["fullDescription"]["text"]
        == "Margin of one position at most 5% of equity (near-limit warning from 4%)."
    )
    results = run["results"]
    assert {r["baselineState"] for r in results} == {
        "new",
        "updated",
        "unchanged",
    }  # resolved ones are not results
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        region = r["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and r["message"]["text"]
        assert r["partialFingerprints"]["primaryLocationLineHash"]
    p1 = result.findings.filter((pl.col("rule_id") == "alloc") & (pl.col("position_id") == "P1"))
    new = next(r for r in results if r["properties"]["findingId"] == p1["finding_id"][0])
    assert new["level"] == "error" and new["baselineState"] == "new"
    assert new["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "trades.csv"},
        "region": {"startLine": 3},
    }
    assert "Caused by trade T2 (line 3)" in new["message"]["text"]
    unchanged = [r for r in results if r["baselineState"] == "unchanged"]
    assert unchanged and all(r["level"] == "note" for r in unchanged)


def test_sarif_fingerprints_do_not_move_with_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = sarif.render(gate(tmp_path, BOOK, TRADES))
    moved = sarif.render(gate(tmp_path, BOOK, [TRADES[4], *TRADES[:4]]))  # T5 moves from line 6 to line 2

    def prints(doc: dict) -> dict[str, tuple[str, int]]:
        return {
            r["properties"]["findingId"]: (
                r["partialFingerprints"]["primaryLocationLineHash"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"],
            )
            for r in doc["runs"][0]["results"]
        }

    a, b = prints(first), prints(moved)
    assert a.keys() == b.keys() and all(a[k][0] == b[k][0] for k in a)
    assert any(a[k][1] != b[k][1] for k in a)


def test_junit_has_a_unique_case_per_trade_and_check(result: GateResult, tmp_path: Path) -> None:
    junit.write(result, str(tmp_path / "gate.xml"))
    root = ET.parse(tmp_path / "gate.xml").getroot()
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    names = [c.get("name") for c in cases]
    assert len(names) == len(set(names)) == 5 * 4  # 5 trades x 4 checks (alloc, max-leverage, gross, stop)
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert sorted(failed) == [
        "T2 line 3 alloc[allocation] BTCUSDT",
        "T3 line 4 alloc[allocation] SOLUSDT",
        "T5 line 6 max-leverage[require] DOGEUSDT",
        "T5 line 6 stop[missing] DOGEUSDT",
    ]
    assert failed["T3 line 4 alloc[allocation] SOLUSDT"].get("type") == "breach worsened"
    assert root.get("tests") == "20" and root.get("failures") == "4"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "4" and suite.get("errors") == "0"
    assert {c.get("classname") for c in cases} == {"gate-test"}
    assert all(c.get("file") == "trades.csv" for c in cases)


def test_junit_clean_run_has_a_passing_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = junit.render(gate(tmp_path, BOOK, [])).getroot()
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["no new findings"]
    assert root.get("failures") == "0" and cases[0].find("failure") is None
    strict = junit.render(gate(tmp_path, BOOK, [], strict=True)).getroot()  # pre-existing breaches as cases
    names = [c.get("name") for c in strict.findall("./testsuite/testcase")]
    assert names == ["book A1 P2 alloc[allocation]", "book A2 P4 max-leverage[require]"]
    assert strict.get("failures") == "2"


def test_annotation_escaping() -> None:
    assert github.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = github.command("error", "bad\n::warning::injected", file="dir/t,1.csv", line=3, title="x: y")
    assert line == "::error file=dir/t%2C1.csv,line=3,title=x%3A y::bad%0A::warning::injected"
    assert "\n" not in line


def test_annotations_stay_within_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # 25 new DOGE-like positions at 8x without stops: 50 blocking findings, 10 annotated
    trades = [
        {
            "trade_id": f"N{i}",
            "account_id": "A1",
            "symbol": f"C{i:02d}USDT",
            "side": "buy",
            "quantity": 1,
            "price": 1,
            "leverage": 8,
        }
        for i in range(25)
    ]
    out = github.render(gate(tmp_path, BOOK, trades)).splitlines()
    assert sum(line.startswith("::error ") for line in out) == 10
    assert sum(line.startswith("::warning ") for line in out) == 0
    assert out[-1].startswith(
        "::notice title=policy-engine gate::policy-engine gate blocked: 50 blocking findings"
    )
    assert "40 more new or blocking findings not annotated" in out[-1]
    assert out[0].startswith(
        "::error file=trades.csv,line=2,title=gate-test/max-leverage [require]%3A new breach (trade N0)::"
    )


def test_markdown_summary(result: GateResult, tmp_path: Path) -> None:
    markdown.write(result, str(tmp_path / "summary.md"))
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert text.startswith("## ❌ policy-engine gate: 4 blocking findings")
    assert "| T2 (trades.csv:3) | gate-test/alloc \\[allocation\\] | breach | new |" in text
    assert "<details><summary>Pre-existing findings (1)</summary>" in text
    assert "<details><summary>Resolved by the trades (1)</summary>" in text
    assert markdown.cell("a|b <img> `x`\nnext") == "a\\|b &lt;img&gt; &#96;x&#96; next"


def test_markdown_stays_under_one_mebibyte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    trades = [
        {
            "trade_id": "N" + "x" * 2000 + str(i),
            "account_id": "A1",
            "symbol": f"C{i:03d}USDT",
            "side": "buy",
            "quantity": 1,
            "price": 1,
            "leverage": 8,
        }
        for i in range(400)
    ]
    g = gate(tmp_path, BOOK, trades)
    assert len(markdown.render(g, limit=1000).encode()) > markdown.LIMIT_BYTES  # uncut, it would not fit
    text = markdown.render_bounded(g)
    assert len(text.encode()) < markdown.LIMIT_BYTES and "not shown: see the SARIF or JSON output" in text


def test_json_output_has_run_gate_and_findings_with_change(result: GateResult, tmp_path: Path) -> None:
    document.write(result, str(tmp_path / "gate.json"))
    doc = json.loads((tmp_path / "gate.json").read_text(encoding="utf-8"))
    assert doc["run"]["inputs"][-1]["role"] == "trades"
    assert [t["trade_id"] for t in doc["gate"]] == ["T1", "T2", "T3", "T4", "T5"]
    assert doc["gate_summary"]["blocking"] == 4 and doc["gate_summary"]["exit_code"] == 1
    assert doc["summary"]["total"] == 5  # post-trade findings; the resolved one is listed, not counted
    changes = sorted(f["change"] for f in doc["findings"])
    assert changes == ["new", "new", "new", "resolved", "unchanged", "worsened"]
    assert all(
        isinstance(f["trade_ids"], list) and isinstance(f["trade_lines"], list) for f in doc["findings"]
    )
    document.write(result, str(tmp_path / "gate.csv"))
    csv = pl.read_csv(tmp_path / "gate.csv")
    assert "change" in csv.columns and csv.filter(pl.col("change") == "new")["trade_ids"].to_list() == [
        "T2",
        "T5",
        "T5",
    ]


def test_markdown_cells_neutralise_hostile_data() -> None:
    from policy_engine.gate.markdown import cell

    # a backslash cannot undo the pipe escape; links, mentions and code spans stay text
    assert cell("ETH|U`S`\\|D") == "ETH\\|U&#96;S&#96;\\\\\\|D"
    assert cell("[x](https://evil) @octocat") == "\\[x\\](https://evil) &#64;octocat"
    assert cell("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert cell("two\nlines") == "two lines"
