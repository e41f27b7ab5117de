"""The report's view model, checked against numbers worked by hand on the tiny book (tests/data/report/).

The book (policies/ as the pack):
  ACC-A  conservative, equity 100,000: BTCUSDT long 1.5 @ 60,000 (entry 58,000, 3x, stop 57,000),
         ETHUSDT short 10 @ 3,000 (entry 3,100, 2x, no stop)
         gross exposure = 1.5 x 60,000 + 10 x 3,000 = 90,000 + 30,000 = 120,000; leverage 120,000 / 100,000 = 1.2x
         margin A-1 = 1.5 x 58,000 / 3 = 29,000 -> allocation 29% (limit 2%); A-2 = 10 x 3,100 / 2 = 15,500 -> 15.5%
         loss at the stop A-1 = 1.5 x (60,000 - 57,000) = 4,500 = 4.5% of equity (limit 1%)
         findings: 2 max-allocation, 1 stop missing, 1 risk per trade (breach); 2 max-exposure (warning) = 6
  ACC-B  aggressive, equity 50,000: <svg ...> long 100 @ 10 (5x, unknown volatility), SOLUSDT long 50 @ 190 (10x)
         gross exposure = 100 x 10 + 50 x 190 = 1,000 + 9,500 = 10,500; leverage 0.21x
         findings: liquidation buffer unverifiable (critical), 2 leverage over the tier cap, 1 stop missing
         (breach), SOLUSDT's liquidation buffer near its limit (warning) = 5
  ACC-C  moderate, equity 1,000,000: BTCUSDT long 0.1 @ 60,000 at 1x: clean; gross 6,000 -> 0.006x
"""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from policy_engine.report import charts, clients, fmt, view
from tests.test_report_support import HOSTILE_CLIENT, HOSTILE_SYMBOL, NOW, tiny_result


@pytest.fixture(scope="module")
def result():
    return tiny_result()


@pytest.fixture(scope="module")
def model(result):
    return view.build_view(result, NOW)


def facts(items) -> dict[str, str]:
    return {f.label: f.value for f in items}


def column(table, label: str) -> list[str]:
    i = [c.label for c in table.columns].index(label)
    return [row[i].text for row in table.rows]


def test_summary_counts_by_severity_and_status(model):
    assert {s.name: s.count for s in model.summary.severities} == {"critical": "1", "breach": "7", "warning": "3", "info": "0"}
    assert [s.name for s in model.summary.severities] == ["critical", "breach", "warning", "info"]
    f = facts(model.summary.facts)
    assert f["Findings"] == "11"
    assert f["Limits breached"] == "10"  # max-exposure is a warning-severity rule, breached
    assert f["Near a limit"] == "1"
    assert f["Clients in breach"] == "2 of 3"
    assert model.summary.verdict == ("2 of 3 clients in breach of at least one limit; the worst finding is critical. "
                                     "11 findings: 10 limits breached, 1 near a limit.")


def test_clients_are_ordered_worst_first_with_links(model):
    assert [c.account_id for c in model.clients.sections] == ["ACC-B", "ACC-A", "ACC-C"]
    assert [c.worst.badge for c in model.clients.sections] == ["critical", "breach", "ok"]
    summary_clients = model.summary.clients
    assert [r[0].sub for r in summary_clients.rows] == ["ACC-B", "ACC-A"]  # only clients with findings
    assert summary_clients.rows[0][0].href == "#client-ACC-B"
    assert column(summary_clients, "Limits breached") == ["4", "6"]
    assert column(summary_clients, "Near a limit") == ["1", "0"]


def test_client_facts_are_computed_by_hand(model):
    a = next(c for c in model.clients.sections if c.account_id == "ACC-A")
    assert a.name == HOSTILE_CLIENT
    assert facts(a.facts) == {
        "Account": "ACC-A", "Risk profile": "conservative", "Advisor": "Dana Whitmore",
        "Equity": "100,000.00 USDT", "Gross exposure": "120,000.00 USDT", "Account leverage": "1.2x", "Positions": "2",
    }
    assert a.counts == "4 breach · 2 warning"
    b = next(c for c in model.clients.sections if c.account_id == "ACC-B")
    assert facts(b.facts)["Gross exposure"] == "10,500.00 USDT"
    assert facts(b.facts)["Account leverage"] == "0.21x"
    c = next(c for c in model.clients.sections if c.account_id == "ACC-C")
    assert facts(c.facts)["Account leverage"] == "0.01x" and c.counts == "no findings"
    assert c.findings.rows == () and c.findings.empty == "No findings."


def test_accounts_records_hold_the_raw_numbers(result):
    accs = {a["account_id"]: a for a in clients.accounts(result.inputs.accounts, result.evaluation.positions, result.findings)}
    assert accs["ACC-A"]["gross_exposure"] == pytest.approx(120_000)
    assert accs["ACC-A"]["account_leverage"] == pytest.approx(1.2)
    assert accs["ACC-B"]["gross_exposure"] == pytest.approx(10_500)
    assert accs["ACC-B"]["by_severity"] == {"critical": 1, "breach": 3, "warning": 1}
    assert accs["ACC-C"]["findings"] == 0 and accs["ACC-C"]["worst"] is None


def test_positions_table_of_a_client(model):
    a = next(c for c in model.clients.sections if c.account_id == "ACC-A")
    t = a.positions
    assert [c.label for c in t.columns] == [
        "Position", "Side", "Quantity", "Mark", "Leverage", "Margin (USDT)", "Allocation", "Liq. price",
        "Liq. distance", "Stop", "Worst finding",
    ]
    assert [r[0].sub for r in t.rows] == ["A-1", "A-2"]  # same worst severity: by position id
    assert column(t, "Quantity") == ["1.5", "10"]
    assert column(t, "Mark") == ["60,000.00", "3,000.00"]
    assert column(t, "Leverage") == ["3x", "2x"]
    assert column(t, "Margin (USDT)") == ["29,000.00", "15,500.00"]
    assert column(t, "Allocation") == ["29.00%", "15.50%"]
    assert column(t, "Stop") == ["57,000.00", "none"]
    assert t.rows[0][2].sort == "1.5"  # numeric cells sort by their value, not their text
    b = next(c for c in model.clients.sections if c.account_id == "ACC-B")
    assert [r[0].text for r in b.positions.rows] == [HOSTILE_SYMBOL, "SOLUSDT"]  # critical first
    assert column(b.positions, "Worst finding") == ["◆ critical", "■ breach"]


def test_findings_of_a_client_show_observed_limit_message_and_remedy(model):
    a = next(c for c in model.clients.sections if c.account_id == "ACC-A")
    t = a.findings
    rows = {(r[1].text, r[2].sub): r for r in t.rows}
    alloc = rows[("max-allocation", "A-1")]
    labels = [c.label for c in t.columns]
    cell = dict(zip(labels, alloc))
    assert cell["Observed"].text == "29.00%" and cell["Limit"].text == "2.00%"
    assert cell["Status"].text == "breach" and cell["Severity"].text == "■ breach"
    assert "29,000.00 USDT is 29.00% of equity 100,000.00 USDT" in cell["What is wrong"].text
    assert cell["What to do"].text.startswith("reduce margin by 27,000.00 USDT")
    assert cell["Rule"].href == "#rule-core-risk--max-allocation"
    missing = dict(zip(labels, rows[("stop-loss", "A-2")]))
    assert (missing["Observed"].text, missing["Limit"].text) == ("no stop", "required")
    risk = dict(zip(labels, rows[("stop-loss", "A-1")]))
    assert (risk["Observed"].text, risk["Limit"].text) == ("4.50%", "1.00%")


def test_rules_coverage_and_descriptions(model, result):
    cov = model.coverage
    assert len(cov.rows) == result.evaluation.coverage.height
    assert all(r[-1].text == "" for r in cov.rows if r[3].text != "0")
    by_title = {r.title: r for r in model.rules}
    alloc = by_title["max-allocation"]
    assert alloc.policy == "core-risk" and alloc.severity.badge == "breach"
    assert alloc.description.startswith("One isolated position may tie up at most 2%")
    assert facts(alloc.checks) == {"allocation": "margin / equity of one position must not exceed the limit"}
    assert facts(alloc.facts)["Findings"] == "2"
    assert len(by_title["stop-loss"].checks) == 3
    assert [c.label for c in alloc.findings.columns][:2] == ["Severity", "Client"]  # no rule column inside a rule


def test_a_rule_that_covered_nothing_is_flagged(tmp_path):
    import shutil

    from policy_engine import api
    from tests.test_report_support import ROOT, TINY

    pack = tmp_path / "pack"
    shutil.copytree(ROOT / "policies", pack)
    (pack / "never.yaml").write_text(
        "id: never\nversion: '1'\ndescription: matches nothing\nowner: tests\nrules:\n"
        "  - id: never-matches\n    kind: expression\n    severity: info\n    description: Nothing is called NOPE.\n"
        "    where: \"symbol = 'NOPE'\"\n    params: {require: 'leverage <= 100'}\n", encoding="utf-8")
    result = api.check(pack, TINY / "positions.csv", TINY / "accounts.csv", TINY / "market.json", keep_positions=True, now=NOW)
    model = view.build_view(result, NOW)
    flagged = [r for r in model.coverage.rows if r[-1].text]
    assert [(r[0].text, r[3].text, r[-1].text) for r in flagged] == [("never-matches", "0", "⚠ matched no position")]
    assert [r.title for r in model.rules if r.unmatched] == ["never-matches"]


def test_worst_findings_are_the_first_ten_in_engine_order(model, result):
    worst = model.summary.worst
    assert len(worst.rows) == 10 and worst.omitted == 0
    assert [r[1].text for r in worst.rows] == result.findings.head(10).get_column("rule_id").to_list()
    assert worst.rows[0][0].badge == "critical"


def test_detail_rows_are_capped_and_summarised(result, monkeypatch):
    monkeypatch.setattr(clients, "MAX_ROWS", 2)
    monkeypatch.setattr(clients, "MIN_ROWS", 1)
    monkeypatch.setattr(clients, "MAX_SECTIONS", 1)
    model = view.build_view(result, NOW)
    assert [c.account_id for c in model.clients.sections] == ["ACC-B"]
    b = model.clients.sections[0]
    assert len(b.findings.rows) == 2 and b.findings.omitted == 3
    assert b.findings.omitted_note.startswith("3 more findings not shown here: the complete list is in the machine output")
    assert len(b.positions.rows) == 2 and b.positions.omitted == 0
    others = model.clients.others
    assert others is not None and [r[0].sub for r in others.rows] == ["ACC-A", "ACC-C"]
    monkeypatch.setattr(view, "RULE_ROWS", 1)
    model = view.build_view(result, NOW)
    alloc = next(r for r in model.rules if r.title == "max-allocation")
    assert len(alloc.findings.rows) == 1 and alloc.findings.omitted == 1


def test_charts_put_the_most_constrained_first_and_stay_bounded(model, result, monkeypatch):
    by_id = {c.id: c for c in model.charts}
    assert list(by_id) == ["chart-allocation", "chart-leverage", "chart-liquidation"]
    alloc = by_id["chart-allocation"]
    assert [b.severity for b in alloc.bars] == ["breach", "breach", "ok", "ok", "ok"]
    assert alloc.bars[0].value_text == "■ 29.00% / 2.00%"  # 14.5 x its limit
    assert alloc.bars[0].limit_x is not None and alloc.bars[2].limit_x is None
    assert [r[0].text for r in alloc.table.rows][:2] == ["BTCUSDT · A-1", "ETHUSDT · A-2"]
    liq = by_id["chart-liquidation"]
    assert liq.bars[0].severity == "critical"  # the unverifiable buffer, then the near-limit one
    assert liq.bars[1].severity == "warning" and liq.bars[1].value_text == "▲ 14.31% / 13.35%"
    assert len(liq.bars) == 4  # C-1 (1x long) cannot be liquidated: no distance, not charted
    monkeypatch.setattr(charts, "TOP_N", 2)
    assert all(len(c.bars) == 2 for c in charts.charts(result.evaluation.positions, result.findings))


def test_optional_sections_render_only_when_present(result):
    assert view.build_view(result, NOW).sections == ()
    waiver = {"severity": "breach", "account_id": "ACC-A", "rule_id": "max-allocation", "position_id": "A-1",
              "observed": 0.29, "limit": 0.02, "metric": "allocation", "id": "W-1", "reason": "client-approved hedge",
              "approved_by": "cro@example.com", "ticket": "RISK-12", "expires": "2025-02-01"}
    findings = result.findings.with_columns(
        pl.when(pl.col("account_id") == "ACC-B").then(pl.lit("new")).otherwise(pl.lit("persisting")).alias("change"),
        pl.lit(3).alias("age_days"),
    )
    changed = dataclasses.replace(result, evaluation=dataclasses.replace(result.evaluation, findings=findings), extra={
        "waived": [waiver], "expiring_waivers": [{**waiver, "days_left": 3}], "stale_waivers": [],
        "expired_waivers": [{"id": "W-0", "expires": "2025-01-01", "finding_ids": [f"f{i}" for i in range(7)]}],
        "waivers": {"files": ["waivers.yaml"], "as_of_date": "2025-01-17", "count": 3},
        "since": {"previous_run_id": "run-41", "previous_generated_at": "2025-01-16T09:30:00Z", "resolved": 1},
        "resolved": [{"rule_id": "stop-loss", "account_id": "ACC-C", "severity": "breach"}],
        "trend": [{"run_id": f"run-{i}", "generated_at": f"2025-01-{10 + i:02d}T09:30:00Z", "rule_id": rule, "count": i + n}
                  for i in range(5) for rule, n in (("stop-loss", 3), ("max-allocation", 1))],
        "gate": [{"trade_id": "T1", "symbol": "BTCUSDT", "blocked": True, "findings_caused": ["a", "b"]}],
        "history": {"run_id": "run-42", "store": "history.db"},
        "unknown_key": [1, 2, 3],
    })
    model = view.build_view(changed, NOW)
    assert [s.id for s in model.sections] == ["gate", "since", "resolved", "trend", "waivers", "waived",
                                              "expired-waivers", "expiring-waivers", "history"]  # no empty one
    sections = {s.id: s for s in model.sections}
    since = sections["since"]
    assert facts(since.facts) == {"Previous run id": "run-41", "Previous generated at": "2025-01-16 09:30:00 UTC",
                                  "Resolved": "1", "New": "5", "Persisting": "6"}
    assert len(since.tables[0].rows) == 5 and "Change" in [c.label for c in since.tables[0].columns]
    waived = sections["waived"].tables[0]
    cells = dict(zip([c.label for c in waived.columns], waived.rows[0]))
    assert cells["Observed"].text == "29.00%" and cells["Reason"].text == "client-approved hedge"
    assert cells["Severity"].badge == "breach" and cells["Id"].text == "W-1"
    expired = dict(zip([c.label for c in sections["expired-waivers"].tables[0].columns],
                       sections["expired-waivers"].tables[0].rows[0]))
    assert expired["Finding ids"].text == "f0, f1, f2, f3, f4 … and 2 more"
    assert facts(sections["waivers"].facts) == {"Files": "waivers.yaml", "As of date": "2025-01-17", "Count": "3"}
    trend = sections["trend"].charts[0]
    assert [p.label for p in trend.points] == ["4", "6", "8", "10", "12"]
    assert [c.label for c in trend.table.columns] == ["Run", "Generated", "Findings", "max-allocation", "stop-loss"]
    gate = dict(zip([c.label for c in sections["gate"].tables[0].columns], sections["gate"].tables[0].rows[0]))
    assert gate["Blocked"].text == "yes" and gate["Findings caused"].text == "a, b"
    client_findings = model.clients.sections[0].findings
    assert [c.label for c in client_findings.columns][-2:] == ["Change", "Age days"]
    assert ("trend", "Trend") in model.toc


def test_findings_listed_as_resolved_are_not_counted(result):
    # a gate's findings carry the pre-trade findings its trades resolve, with change = resolved
    change = pl.when(pl.col("account_id") == "ACC-B").then(pl.lit("resolved")).otherwise(pl.lit("unchanged"))
    gate = dataclasses.replace(result, evaluation=dataclasses.replace(
        result.evaluation, findings=result.findings.with_columns(change.alias("change"))))
    model = view.build_view(gate, NOW)
    assert facts(model.summary.facts)["Findings"] == "6"  # ACC-A's only
    assert {s.name: s.count for s in model.summary.severities}["critical"] == "0"
    assert next(c for c in model.clients.sections if c.account_id == "ACC-B").counts == "no findings"
    resolved = [s for s in model.sections if s.id == "resolved"]
    assert len(resolved) == 1 and len(resolved[0].tables[0].rows) == 5


def test_the_view_is_deterministic_and_uses_the_injected_clock(result):
    import datetime as dt

    assert view.build_view(result, NOW) == view.build_view(result, NOW)
    later = view.build_view(result, dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert facts(later.facts)["Generated"] == "2030-01-02 03:04:05 UTC"
    assert facts(view.build_view(result).facts)["Generated"] == "2025-01-17 09:30:00 UTC"  # the run's own time


def test_positions_are_recomputed_when_the_run_did_not_keep_them(result):
    bare = dataclasses.replace(result, evaluation=dataclasses.replace(result.evaluation, positions=None))
    assert view.build_view(bare, NOW).clients == view.build_view(result, NOW).clients


@pytest.mark.parametrize(("fn", "value", "text"), [
    (fmt.money, 12400.5, "12,400.50"), (fmt.percent, 0.0512, "5.12%"), (fmt.times, 2.5, "2.5x"), (fmt.times, 10, "10x"),
    (fmt.price, 60123.456, "60,123.46"), (fmt.price, 0.29, "0.29"), (fmt.price, 0.0000123, "0.0000123"),
    (fmt.quantity, 83737.5, "83,737.5"), (fmt.quantity, 161.0, "161"), (fmt.number, -0.001, "0.00"),
    (fmt.percent, None, "—"), (fmt.price, float("nan"), "—"), (fmt.times, float("inf"), "—"),
])
def test_number_formats_match_the_messages(fn, value, text):
    assert fn(value) == text


def test_anchors_are_safe_and_unique():
    assert fmt.anchor("client", "ACC-1") == "client-ACC-1"
    hostile = fmt.anchor("client", HOSTILE_CLIENT)
    assert hostile.startswith("client-img-src-x-onerror-window-__xss-1-") and '"' not in hostile and "<" not in hostile
    assert fmt.anchor("client", "a b") != fmt.anchor("client", "a-b")
    assert fmt.timestamp("2025-01-17T09:30:00Z") == "2025-01-17 09:30:00 UTC"
    assert fmt.timestamp(None) == "not recorded"
