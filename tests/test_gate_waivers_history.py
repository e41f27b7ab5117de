"""`policy-engine gate --waivers/--history`: check's semantics, end to end through the CLI (subprocess).

The sample book (samples/) and the sample trade list samples/trades/breaching.csv, whose blocking
findings are (docs/gate.md):

* B-002 (line 3) opens a 3x DOGEUSDT long in ACC-1001: core-risk/leverage-by-volatility and
  core-risk/stop-loss, both new;
* B-003 (line 4) adds to the SOLUSDT long P1008-24 of ACC-1008: core-risk/max-allocation, worsened.

Waivers are written to tmp_path and selected by rule + account + symbol/position, as a risk officer
would write them; every test checks first that they target what actually blocks.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli
from tests.test_gate_outputs import SCHEMAS, validate_sarif

SAMPLES = ROOT / "samples"
BREACHING = SAMPLES / "trades" / "breaching.csv"
AS_OF = "2026-06-30"
EXPIRES = "2026-07-31"

pytestmark = pytest.mark.skipif(not (SAMPLES / "positions.csv").exists(), reason="sample book not generated")

SOL = {
    "id": "W-SOL",
    "rule": "core-risk/max-allocation",
    "account": "ACC-1008",
    "position": "P1008-24",
    "reason": "SOL concentration accepted while the book is rebalanced",
    "approved_by": "Jane Doe (CRO)",
    "ticket": "RISK-2001",
}
DOGE_LEVERAGE = {
    "id": "W-DOGE-LEV",
    "rule": "leverage-by-volatility",
    "account": "ACC-1001",
    "symbol": "DOGEUSDT",
    "reason": "3x DOGE approved by the client's mandate review",
    "approved_by": "Marc Dubois (Head of Trading)",
    "ticket": "RISK-2002",
}
DOGE_STOP = {
    "id": "W-DOGE-STOP",
    "rule": "core-risk/stop-loss",
    "account": "ACC-1001",
    "symbol": "DOGEUSDT",
    "reason": "stop placed manually on the venue",
    "approved_by": "Marc Dubois (Head of Trading)",
    "ticket": "RISK-2003",
}
# (policy/rule, account, position or symbol) of each blocking finding of breaching.csv, and its waiver
BLOCKING = {
    ("core-risk/max-allocation", "ACC-1008", "P1008-24"): "W-SOL",
    ("core-risk/leverage-by-volatility", "ACC-1001", "DOGEUSDT"): "W-DOGE-LEV",
    ("core-risk/stop-loss", "ACC-1001", "DOGEUSDT"): "W-DOGE-STOP",
}


def write_waivers(path: Path, *waivers: dict[str, Any], expires: str = EXPIRES) -> Path:
    lines = ["waivers:"]
    for w in waivers:
        lines.append(f"  - id: {w['id']}")
        lines += [f"    {k}: {json.dumps(v)}" for k, v in w.items() if k != "id"]
        lines.append(f"    expires: {expires}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def gate(tmp: Path, *extra: str, as_of: str = AS_OF) -> Any:
    return run_cli(
        "gate",
        "--policies",
        str(ROOT / "policies"),
        "--positions",
        str(SAMPLES / "positions.csv"),
        "--accounts",
        str(SAMPLES / "accounts.csv"),
        "--market",
        str(SAMPLES / "market.json"),
        "--as-of",
        as_of,
        *extra,
        str(BREACHING),
        cwd=tmp,
    )


def key(f: dict[str, Any]) -> tuple[str, str, str]:
    where = f["position_id"] if f["rule_id"] == "max-allocation" else f["symbol"]
    return f"{f['policy_id']}/{f['rule_id']}", f["account_id"], where


def blocking(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {key(f) for f in doc["findings"] if f["blocking"]}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The gate without waivers: what blocks (the waivers below must target exactly that)."""
    tmp = tmp_path_factory.mktemp("baseline")
    proc = gate(tmp, "--output", "g.json", "-q")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads((tmp / "g.json").read_text())
    assert blocking(doc) == set(BLOCKING)
    return doc


@pytest.fixture(scope="module")
def all_waived(tmp_path_factory: pytest.TempPathFactory, baseline: dict[str, Any]) -> tuple[Any, Path]:
    """Every blocking finding waived; every output requested."""
    tmp = tmp_path_factory.mktemp("all-waived")
    write_waivers(tmp / "waivers.yaml", SOL, DOGE_LEVERAGE, DOGE_STOP)
    proc = gate(
        tmp,
        "--waivers",
        "waivers.yaml",
        "--sarif",
        "g.sarif",
        "--junit",
        "g.xml",
        "--markdown",
        "g.md",
        "--output",
        "g.json",
        "--github",
    )
    return proc, tmp


def test_a_waiver_takes_its_finding_out_of_the_blocking_ones(
    tmp_path: Path, baseline: dict[str, Any]
) -> None:
    write_waivers(tmp_path / "waivers.yaml", SOL)
    proc = gate(tmp_path, "--waivers", "waivers.yaml", "--output", "g.json")
    assert proc.returncode == 1, proc.stderr  # the DOGE findings still block
    doc = json.loads((tmp_path / "g.json").read_text())
    assert blocking(doc) == set(BLOCKING) - {("core-risk/max-allocation", "ACC-1008", "P1008-24")}
    assert all(f["rule_id"] != "max-allocation" or f["position_id"] != "P1008-24" for f in doc["findings"])
    (waived,) = doc["waived"]
    assert key(waived) == ("core-risk/max-allocation", "ACC-1008", "P1008-24")
    assert (
        waived["id"],
        waived["change"],
        waived["would_block"],
        waived["trade_ids"],
        waived["trade_lines"],
    ) == ("W-SOL", "worsened", True, ["B-003"], [4])
    summary = doc["gate_summary"]
    assert (summary["blocking"], summary["worsened"], summary["waived"], summary["exit_code"]) == (2, 0, 1, 1)
    trades = {t["trade_id"]: t for t in doc["gate"]}
    assert trades["B-003"]["blocked"] is False and trades["B-003"]["waived_findings"] == [
        waived["finding_id"]
    ]
    assert trades["B-002"]["blocked"] is True
    assert "BLOCKED: 2 blocking findings; 1 waived finding would otherwise block" in proc.stdout
    assert "waived: 1 findings by 1 waivers as of 2026-06-30" in proc.stdout
    (sol,) = [line for line in proc.stdout.splitlines() if "breaching.csv:4 [B-003]" in line]
    assert sol.startswith("  WAIVED ") and "breach worsened core-risk/max-allocation [allocation]" in sol
    assert "waiver W-SOL (ticket RISK-2001, expires 2026-07-31)" in proc.stdout


def test_waiving_every_blocking_finding_passes(all_waived: tuple[Any, Path]) -> None:
    proc, tmp = all_waived
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp / "g.json").read_text())
    assert doc["gate_summary"]["exit_code"] == 0 and doc["gate_summary"]["blocking"] == 0
    assert not blocking(doc)
    assert {key(w): w["id"] for w in doc["waived"] if w["would_block"]} == BLOCKING
    assert "PASSED: no blocking findings; 3 waived findings would otherwise block" in proc.stdout
    # GitHub: no error annotation; the summary notice names the waivers
    assert not [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    (notice,) = [line for line in proc.stdout.splitlines() if line.startswith("::notice")]
    assert "passed: no blocking findings" in notice
    assert "3 waived (" in notice and all(w in notice for w in ("W-SOL", "W-DOGE-LEV", "W-DOGE-STOP"))
    # Markdown: a Waived section with the waiver, its reason, approver, ticket and expiry
    md = (tmp / "g.md").read_text()
    assert md.startswith("## ✅ policy-engine gate: no blocking findings")
    assert "### Blocking findings" not in md
    waived = md.split("### Waived", 1)[1].split("###", 1)[0]
    assert (
        "| W-SOL | SOL concentration accepted while the book is rebalanced | Jane Doe (CRO) | RISK-2001 "
        "| 2026-07-31 |" in waived
    )
    assert "breaching.csv:3)" in waived and "worsened (would block)" in waived


def test_an_expired_waiver_blocks_again_and_is_reported(tmp_path: Path) -> None:
    write_waivers(tmp_path / "waivers.yaml", SOL, DOGE_LEVERAGE, DOGE_STOP)
    last_day = gate(tmp_path, "--waivers", "waivers.yaml", "-q", as_of=EXPIRES)  # inclusive
    assert last_day.returncode == 0, last_day.stderr
    assert "waiver W-SOL expires on 2026-07-31 (today is its last day; ticket RISK-2001)" in last_day.stderr
    proc = gate(
        tmp_path, "--waivers", "waivers.yaml", "--output", "g.json", "--sarif", "g.sarif", as_of="2026-08-01"
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads((tmp_path / "g.json").read_text())
    assert blocking(doc) == set(BLOCKING) and doc["waived"] == []
    assert {w["id"]: w["findings"] for w in doc["expired_waivers"]} == {
        "W-SOL": 1,
        "W-DOGE-LEV": 1,
        "W-DOGE-STOP": 1,
    }
    assert "BLOCKED: 3 blocking findings" in proc.stdout
    assert (
        "waived: 0 findings by 3 waivers as of 2026-08-01; 3 expired (their findings are back)" in proc.stdout
    )
    assert (
        "warning: waiver W-SOL expired on 2026-07-31 (as of 2026-08-01): 1 finding is back [waivers.yaml:2]"
        in proc.stderr
    )
    sarif = json.loads((tmp_path / "g.sarif").read_text())
    validate_sarif(sarif)
    run = sarif["runs"][0]
    assert not [r for r in run["results"] if "suppressions" in r]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == 3 and all(
        n["level"] == "warning" and "expired on 2026-07-31" in n["message"]["text"] for n in notes
    )


def test_sarif_with_suppressions_is_valid(all_waived: tuple[Any, Path]) -> None:
    assert any(path.exists() for path in SCHEMAS)
    _, tmp = all_waived
    doc = json.loads((tmp / "g.sarif").read_text())
    validate_sarif(doc)
    run = doc["runs"][0]
    assert run["invocations"][0]["exitCode"] == 0
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert len(suppressed) == 3
    by_waiver = {r["properties"]["waiverId"]: r for r in suppressed}
    sol = by_waiver["W-SOL"]
    assert sol["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "W-SOL: SOL concentration accepted while the book is rebalanced "
            "(approved by Jane Doe (CRO), ticket RISK-2001, expires 2026-07-31)",
        }
    ]
    assert sol["ruleId"] == "core-risk/max-allocation" and sol["baselineState"] == "updated"
    assert sol["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
    assert sol["properties"]["blocking"] is False and sol["properties"]["wouldBlock"] is True
    # nothing unsuppressed is blocking: the remaining error-level results are not new or worsened
    for r in run["results"]:
        assert r["properties"]["blocking"] is False
        if "suppressions" not in r:
            assert r["baselineState"] == "unchanged" and r["level"] == "note"


def test_junit_shows_waived_cases_as_skipped(all_waived: tuple[Any, Path]) -> None:
    _, tmp = all_waived
    root = ET.parse(tmp / "g.xml").getroot()
    assert (root.get("failures"), root.get("skipped")) == ("0", "3")
    skipped = {
        case.get("name"): case.find("skipped")
        for case in root.iter("testcase")
        if case.find("skipped") is not None
    }
    assert set(skipped) == {
        "B-002 line 3 leverage-by-volatility[leverage] DOGEUSDT",
        "B-002 line 3 stop-loss[missing] DOGEUSDT",
        "B-003 line 4 max-allocation[allocation] SOLUSDT",
    }
    message = skipped["B-003 line 4 max-allocation[allocation] SOLUSDT"].get("message")
    assert message == (
        "waived: W-SOL: SOL concentration accepted while the book is rebalanced "
        "(approved by Jane Doe (CRO), ticket RISK-2001, expires 2026-07-31)"
    )
    assert not list(root.iter("failure"))
    assert [c.get("name") for c in root.iter("testcase") if c.get("name") == "no new findings"]


def test_history_twice_compares_the_second_gate_run_with_the_first(tmp_path: Path) -> None:
    write_waivers(tmp_path / "waivers.yaml", SOL)
    store = tmp_path / "history.db"
    first = gate(tmp_path, "--waivers", "waivers.yaml", "--history", str(store), "--output", "first.json")
    assert first.returncode == 1, first.stderr
    assert "history: first run of this scope" in first.stdout
    second = gate(tmp_path, "--waivers", "waivers.yaml", "--history", str(store), "--output", "second.json")
    assert second.returncode == 1, second.stderr
    one, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("first", "second"))
    current = [f for f in two["findings"] if f["change"] != "resolved"]
    assert two["since"]["previous_run_id"] == one["history"]["run_id"]
    assert (two["since"]["new"], two["since"]["persisting"], two["since"]["resolved"]) == (0, len(current), 0)
    assert (
        f"since {one['history']['run_id']} (as of 2026-06-30): 0 new, {len(current)} persisting"
        in second.stdout
    )
    # the gate's own change (against the pre-trade book) is kept; the comparison is history_change
    assert {f["history_change"] for f in current} == {"persisting"}
    assert {f["change"] for f in current} == {"new", "unchanged"}
    assert all(f["history_change"] is None for f in two["findings"] if f["change"] == "resolved")
    assert two["waived"][0]["history_change"] == "persisting" and two["waived"][0]["change"] == "worsened"
    listed = run_cli("history", "--history", str(store), "list")
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()[1:]
    assert len(rows) == 2 and all(r.split()[1:3] == ["gate", "complete"] for r in rows)
    runs = json.loads(run_cli("history", "--history", str(store), "--format", "json", "list").stdout)
    assert [r["run_id"] for r in runs] == [two["history"]["run_id"], one["history"]["run_id"]]
    assert runs[0]["counts"]["waived"] == 1 and runs[0]["counts"]["new"] == 0
    assert runs[0]["counts"]["findings"] == len(current)


def test_a_malformed_waiver_is_exit_2_before_any_output(tmp_path: Path) -> None:
    path = write_waivers(tmp_path / "waivers.yaml", SOL, expires="31/12/2026")
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "expires:" in text)
    proc = gate(
        tmp_path,
        "--waivers",
        "waivers.yaml",
        "--sarif",
        "g.sarif",
        "--junit",
        "g.xml",
        "--output",
        "g.json",
        "--history",
        "history.db",
    )
    assert proc.returncode == 2
    assert f"waivers.yaml:{line}:" in proc.stderr and "got the text '31/12/2026'" in proc.stderr
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "waivers.yaml"
    ]  # no SARIF, no JUnit, no JSON, no store


def test_strict_a_waived_pre_existing_breach_does_not_block(tmp_path: Path, baseline: dict[str, Any]) -> None:
    # B-001 reduces the pre-existing ETH allocation breach of ACC-1001 (P1001-08): under --strict it blocks
    eth = {
        "id": "W-ETH",
        "rule": "core-risk/max-allocation",
        "account": "ACC-1001",
        "position": "P1001-08",
        "reason": "legacy ETH position being wound down",
        "approved_by": "Jane Doe (CRO)",
        "ticket": "RISK-2004",
    }
    write_waivers(tmp_path / "waivers.yaml", eth)
    strict = gate(tmp_path, "--strict", "--output", "strict.json", "-q")
    doc = json.loads((tmp_path / "strict.json").read_text())
    eth_findings = [
        f for f in doc["findings"] if f["position_id"] == "P1001-08" and f["rule_id"] == "max-allocation"
    ]
    assert eth_findings and all(f["blocking"] and f["change"] == "unchanged" for f in eth_findings)
    waived = gate(
        tmp_path, "--strict", "--waivers", "waivers.yaml", "--output", "waived.json", "--junit", "g.xml", "-q"
    )
    assert strict.returncode == waived.returncode == 1
    after = json.loads((tmp_path / "waived.json").read_text())
    assert after["gate_summary"]["blocking"] == doc["gate_summary"]["blocking"] - len(eth_findings)
    assert {w["finding_id"] for w in after["waived"]} == {f["finding_id"] for f in eth_findings}
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "g.xml").getroot().iter("testcase")}
    book = cases["book ACC-1001 P1001-08 max-allocation[allocation]"]
    assert book.find("skipped") is not None and book.find("failure") is None
