"""Run history: each run compared with the previous complete run of the same scope.

Books and the policy's arithmetic are in tests/test_history_books.py (equity 100,000; `alloc`
breaches above 50,000 of notional, warns above 40,000; `gross` breaches above 200,000 per account).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from policy_engine.api import RunResult
from policy_engine.history import record_run
from policy_engine.history.compare import age_days, parse_instant, run_time
from policy_engine.waivers import apply_waivers, load_waivers
from tests.test_history_books import Book, by_account, by_position, pos, write_waivers


@pytest.fixture
def book(tmp_path: Path) -> Book:
    return Book(tmp_path)


def test_new_persisting_resolved_across_three_runs(book: Book) -> None:
    # run 1: a1 60,000 and b1 70,000 breach; c1 10,000 is fine
    r1 = book.run([pos("a1", "A", 600, 100), pos("b1", "B", 700, 100), pos("c1", "C", 100, 100)], "2026-03-01")
    f1 = by_position(r1)
    assert {p: f["change"] for p, f in f1.items()} == {"a1": "new", "b1": "new"}
    assert {f["first_seen"] for f in f1.values()} == {"2026-03-01T00:00:00Z"}
    assert r1.extra["since"]["previous_run_id"] is None
    assert (r1.extra["since"]["new"], r1.extra["since"]["persisting"], r1.extra["since"]["resolved"]) == (2, 0, 0)
    run1 = r1.extra["history"]["run_id"]

    # run 2, three days later: a1 unchanged; b1 cut to 30,000 (resolved); c1 raised to 60,000 (new)
    r2 = book.run([pos("a1", "A", 600, 100), pos("b1", "B", 300, 100), pos("c1", "C", 600, 100)], "2026-03-04")
    f2 = by_position(r2)
    assert f2["a1"]["change"] == "persisting" and f2["a1"]["first_seen"] == "2026-03-01T00:00:00Z"
    assert f2["a1"]["age_days"] == 3
    assert f2["c1"]["change"] == "new" and f2["c1"]["age_days"] == 0
    since = r2.extra["since"]
    assert since["previous_run_id"] == run1 and since["previous_as_of"] == "2026-03-01"
    assert (since["new"], since["persisting"], since["resolved"], since["oldest_age_days"]) == (1, 1, 1, 3)
    [gone] = r2.extra["resolved"]
    assert (gone["position_id"], gone["first_seen"], gone["last_seen"], gone["resolved_at"]) == (
        "b1", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z")

    # run 3: b1 breaches again: a new streak, first seen today; a1 9 days old, c1 6 days old
    r3 = book.run([pos("a1", "A", 600, 100), pos("b1", "B", 700, 100), pos("c1", "C", 600, 100)], "2026-03-10")
    f3 = by_position(r3)
    assert {p: (f["change"], f["first_seen"][:10], f["age_days"]) for p, f in f3.items()} == {
        "a1": ("persisting", "2026-03-01", 9),
        "b1": ("new", "2026-03-10", 0),
        "c1": ("persisting", "2026-03-04", 6),
    }
    assert (r3.extra["since"]["new"], r3.extra["since"]["persisting"], r3.extra["since"]["resolved"]) == (1, 2, 0)
    assert r3.extra["since"]["oldest_age_days"] == 9
    assert r3.extra["resolved"] == []
    trend = [(t["as_of"], t["rule_id"], t["count"]) for t in r3.extra["trend"]]
    assert trend == [("2026-03-01", "alloc", 2), ("2026-03-04", "alloc", 2), ("2026-03-10", "alloc", 3)]


def test_first_run_has_no_breach_type(book: Book) -> None:
    r1 = book.run([pos("a1", "A", 600, 100)], "2026-03-01")
    assert by_position(r1)["a1"]["breach_type"] is None  # nothing to compare with


def test_passive_when_the_position_did_not_change_active_when_it_did(book: Book) -> None:
    book.run([
        pos("p1", "A", 450, 100),            # 45,000: near the limit (warning band), not a breach
        pos("p2", "B", 300, 100),            # 30,000
        pos("p3", "C", 300, 100, stop=90),   # 30,000
        pos("p5", "A", 100, 100),            # 10,000
    ], "2026-03-01")
    r2 = book.run([
        pos("p1", "A", 450, 120),                   # 54,000: the market moved; was near-limit, now a breach
        pos("p2", "B", 300.0000000000001, 180),     # 54,000: the market moved (quantity equal within tolerance)
        pos("p3", "C", 300, 180, stop=95),          # 54,000: the stop was moved too -> the position changed
        pos("p4", "B", 600, 100),                   # 60,000: a new position
        pos("p5", "A", 600, 100),                   # 60,000: quantity raised
    ], "2026-03-02")
    f = by_position(r2)
    assert {p: (r["change"], r["breach_type"]) for p, r in f.items()} == {
        "p1": ("persisting", "passive"),
        "p2": ("new", "passive"),
        "p3": ("new", "active"),
        "p4": ("new", "active"),
        "p5": ("new", "active"),
    }
    assert (r2.extra["since"]["passive"], r2.extra["since"]["active"]) == (2, 3)


@pytest.mark.parametrize("change", [{"quantity": 301}, {"leverage": 3}, {"stop": 80}])
def test_any_change_of_quantity_leverage_or_stop_is_active(book: Book, change: dict[str, float]) -> None:
    before = {"quantity": 300, "leverage": 2, "stop": 90}
    book.run([pos("p", "A", before["quantity"], 100, before["leverage"], before["stop"])], "2026-03-01")
    after = {**before, **change}
    r2 = book.run([pos("p", "A", after["quantity"], 200, after["leverage"], after["stop"])], "2026-03-02")
    assert by_position(r2)["p"]["breach_type"] == "active"


def test_margin_change_is_active(tmp_path: Path) -> None:
    book = Book(tmp_path)
    base = pos("p", "A", 300, 100)
    book.run([{**base, "isolated_margin": 15000}], "2026-03-01")
    r2 = book.run([{**base, "mark_price": 200, "isolated_margin": 16000}], "2026-03-02")
    assert by_position(r2)["p"]["breach_type"] == "active"


def test_persisting_breach_keeps_its_classification(book: Book) -> None:
    book.run([pos("p", "A", 300, 100)], "2026-03-01")
    r2 = book.run([pos("p", "A", 300, 200)], "2026-03-02")  # 60,000 by a market move: passive
    assert by_position(r2)["p"]["breach_type"] == "passive"
    r3 = book.run([pos("p", "A", 350, 200)], "2026-03-03")  # still a breach; the trader added to it
    assert (by_position(r3)["p"]["change"], by_position(r3)["p"]["breach_type"]) == ("persisting", "passive")


def test_account_wide_findings_are_passive_only_if_no_position_changed(book: Book) -> None:
    # two positions of 90,000 per account: gross leverage 1.8 (limit 2)
    def two(acc: str, mark: float, q2: float = 1000) -> list[dict[str, object]]:
        return [pos(f"{acc}1", acc, 1000, mark), pos(f"{acc}2", acc, q2, mark)]

    book.run([*two("A", 90), *two("B", 90), *two("C", 90)], "2026-03-01")
    r2 = book.run([
        *two("A", 110),                       # 220,000: prices only
        *two("B", 90, q2=1300),               # 207,000: a position grew
        *two("C", 110), pos("C3", "C", 1, 1),  # 220,001: prices, and a position was opened
    ], "2026-03-02")
    f = by_account(r2)
    assert {a: f[a]["breach_type"] for a in f} == {"A": "passive", "B": "active", "C": "active"}
    assert all(f[a]["position_id"] is None for a in f)


def test_another_scope_is_not_compared(tmp_path: Path) -> None:
    book = Book(tmp_path)
    r1 = book.run([pos("a1", "A", 600, 100)], "2026-03-01")
    (tmp_path / "other").mkdir()
    other = Book(tmp_path / "other", accounts=[{"account_id": "A", "equity": 100000, "risk_profile": "moderate"}])
    other.store = book.store  # the same store; the same policy, but other accounts: another scope
    r2 = other.run([pos("a1", "A", 600, 100)], "2026-03-02")
    assert r2.extra["since"]["previous_run_id"] is None
    assert r2.extra["history"]["scope_key"] != r1.extra["history"]["scope_key"]
    r3 = book.run([pos("a1", "A", 600, 100)], "2026-03-03")
    assert r3.extra["since"]["previous_run_id"] == r1.extra["history"]["run_id"]


def test_a_waived_finding_keeps_its_age(book: Book, tmp_path: Path) -> None:
    waivers = write_waivers(tmp_path / "w.yaml", {
        "id": "W-1", "rule": "alloc", "account": "A", "reason": "accepted", "approved_by": "CRO",
        "ticket": "RISK-1", "expires": "2026-03-05"})
    book.run([pos("a1", "A", 600, 100)], "2026-03-01", waivers)
    r2 = book.run([pos("a1", "A", 600, 100)], "2026-03-01", waivers)
    assert r2.findings.height == 0
    [w] = r2.extra["waived"]
    assert (w["change"], w["id"]) == ("persisting", "W-1")
    assert r2.extra["since"]["resolved"] == 0  # waived is not resolved
    r3 = book.run([pos("a1", "A", 600, 100)], "2026-03-10", waivers)  # the waiver has lapsed
    f = by_position(r3)["a1"]
    assert (f["change"], f["first_seen"][:10], f["age_days"]) == ("persisting", "2026-03-01", 9)


def test_json_output_carries_the_comparison(book: Book) -> None:
    proc, doc1 = book.cli([pos("a1", "A", 600, 100), pos("b1", "B", 700, 100)], "--as-of", "2026-03-01")
    assert proc.returncode == 1, proc.stderr
    assert "history: first run of this scope" in proc.stdout
    proc, doc = book.cli([pos("a1", "A", 600, 100)], "--as-of", "2026-03-04")
    assert doc is not None and doc1 is not None
    assert f"since {doc1['history']['run_id']} (as of 2026-03-01): 0 new, 1 persisting (oldest 3 days), 1 resolved" \
        in proc.stdout
    assert doc["since"]["previous_run_id"] == doc1["history"]["run_id"]
    [finding] = doc["findings"]
    assert (finding["change"], finding["first_seen"], finding["age_days"]) == ("persisting", "2026-03-01T00:00:00Z", 3)
    assert [r["position_id"] for r in doc["resolved"]] == ["b1"]
    assert {t["as_of"] for t in doc["trend"]} == {"2026-03-01", "2026-03-04"}
    strict = json.loads((book.root / "out-1.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert strict["since"]["resolved"] == 1


def test_a_failed_run_is_recorded_failed_and_never_compared(book: Book) -> None:
    book.cli([pos("a1", "A", 600, 100)], "--as-of", "2026-03-01")
    book.positions.write_text("account_id,symbol\nA,BTCUSDT\n")  # required columns missing
    proc, _ = book.cli(None, "--as-of", "2026-03-02")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    _, doc = book.cli([pos("a1", "A", 600, 100)], "--as-of", "2026-03-03")
    con = sqlite3.connect(book.store)
    statuses = [r[0] for r in con.execute("SELECT status FROM runs ORDER BY started_at, rowid")]
    assert statuses == ["complete", "failed", "complete"]
    first = con.execute("SELECT run_id FROM runs WHERE status = 'complete' ORDER BY seq LIMIT 1").fetchone()[0]
    assert doc is not None and doc["since"]["previous_run_id"] == first


def test_only_the_last_two_runs_keep_position_states(book: Book) -> None:
    for day in range(1, 5):
        book.run([pos("a1", "A", 600, 100), pos("b1", "B", 10, 100)], f"2026-03-0{day}")
    con = sqlite3.connect(book.store)
    latest = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 2")]
    assert sorted(r[0] for r in con.execute("SELECT DISTINCT run_id FROM position_states")) == sorted(latest)
    assert con.execute("SELECT COUNT(*) FROM findings").fetchone()[0] == 4  # findings are kept for every run


@pytest.mark.parametrize("as_of, generated, expected", [
    ("2026-03-01", "2026-11-01T00:00:00Z", "2026-03-01T00:00:00Z"),
    ("2026-03-01T23:30:00-05:00", "2026-11-01T00:00:00Z", "2026-03-02T04:30:00Z"),  # UTC
    ("2026-03-01 06:00:00", "2026-11-01T00:00:00Z", "2026-03-01T06:00:00Z"),  # naive = UTC
    (None, "2026-11-01T07:00:00Z", "2026-11-01T07:00:00Z"),
    ("last tuesday", "2026-11-01T07:00:00Z", "2026-11-01T07:00:00Z"),  # unreadable: when it ran
])
def test_run_time_is_the_as_of_time_in_utc(as_of: str | None, generated: str, expected: str) -> None:
    assert run_time(as_of, generated) == expected


def test_age_counts_utc_calendar_days() -> None:
    assert age_days("2026-03-01T23:59:00Z", "2026-03-02T00:01:00Z") == 1
    assert age_days("2026-03-01T00:00:00Z", "2026-03-01T23:59:00Z") == 0
    assert age_days("2026-03-05T00:00:00Z", "2026-03-01T00:00:00Z") == 0  # a replayed older snapshot
    assert parse_instant("2026-03-01T10:00:00+02:00").isoformat() == "2026-03-01T08:00:00+00:00"  # type: ignore[union-attr]


def test_check_and_gate_runs_are_compared_with_their_own_kind(book: Book) -> None:
    result = book.evaluate([pos("a1", "A", 600, 100)], "2026-03-01")
    gate = record_run(book.store, result, command="gate")
    check = record_run(book.store, result, command="check")
    assert check.previous_run_id is None  # a gate checks a hypothetical post-trade book: never a baseline
    assert record_run(book.store, result, command="gate").previous_run_id == gate.run_id
    assert record_run(book.store, result, command="check").previous_run_id == check.run_id


def _gate_shaped(result: RunResult) -> RunResult:
    """A result shaped like the gate's: its own `change` per finding, and a pre-trade finding its trades resolved."""
    f = result.findings.with_columns(pl.lit("unchanged").alias("change"))
    gone = f.head(1).with_columns(pl.lit("resolved").alias("change"), pl.lit("zz-resolved").alias("finding_id"),
                                  pl.lit("gone").alias("position_id"))
    return dataclasses.replace(result, evaluation=dataclasses.replace(result.evaluation, findings=pl.concat([f, gone])))


def test_a_gate_result_keeps_its_change_column(book: Book, tmp_path: Path) -> None:
    waivers = load_waivers(write_waivers(tmp_path / "w.yaml", {
        "id": "W-1", "rule": "alloc", "account": "A", "position": "gone", "reason": "r", "approved_by": "CRO",
        "ticket": "T", "expires": "2026-12-31"}))
    result = _gate_shaped(book.evaluate([pos("a1", "A", 600, 100), pos("b1", "B", 700, 100)], "2026-03-01"))
    result = apply_waivers(result, waivers)
    assert result.extra["waived"] == [] and [w["id"] for w in result.extra["stale_waivers"]] == ["W-1"]
    comparison = record_run(book.store, result, command="gate")
    f = comparison.result.findings
    assert f.get_column("change").to_list() == ["unchanged", "unchanged", "resolved"]  # the gate's, untouched
    assert f.get_column("history_change").to_list() == ["new", "new", None]
    assert comparison.new == 2  # the resolved pre-trade finding is not in the checked book
    con = sqlite3.connect(book.store)
    assert con.execute("SELECT COUNT(*) FROM findings").fetchone()[0] == 2
