"""Applying waivers: inclusive expiry at the snapshot's as-of date (UTC), expired / expiring / stale.

Books: tests/test_history_books.py. a1 (account A) and b1 (account B) breach `alloc` (60,000 and
70,000 of notional > 50,000).
"""

from __future__ import annotations

import dataclasses

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine import api
from policy_engine.errors import DataError
from policy_engine.waivers import WaiverError, apply_waivers, load_waivers, waiver_warnings
from tests.conftest import write_csv, write_policy
from tests.test_history_books import POLICY, Book, pos, write_waivers

BOOK = [pos("a1", "A", 600, 100, symbol="BTCUSDT"), pos("a2", "A", 700, 100, symbol="ETHUSDT"),
        pos("b1", "B", 700, 100)]


def waiver(**fields: Any) -> dict[str, Any]:
    return {"id": "W-1", "rule": "alloc", "account": "A", "reason": "client-approved", "approved_by": "Jane Doe (CRO)",
            "ticket": "RISK-1", "expires": dt.date(2026, 6, 30), **fields}


@pytest.fixture
def book(tmp_path: Path) -> Book:
    return Book(tmp_path)


def _waived(book: Book, as_of: str, *waivers: dict[str, Any], days: int = 14) -> Any:
    return book.run(BOOK, as_of, write_waivers(book.root / "w.yaml", *waivers), days, history=False)


def _alloc(result: Any) -> list[str]:
    return sorted(r["position_id"] for r in result.findings.to_dicts() if r["rule_id"] == "alloc")


def test_a_waiver_applies_on_its_expiry_date(book: Book) -> None:
    r = _waived(book, "2026-06-30", waiver(position="a1"))
    assert _alloc(r) == ["a2", "b1"]
    [w] = r.extra["waived"]
    assert (w["position_id"], w["id"], w["approved_by"], w["ticket"], w["expires"]) == (
        "a1", "W-1", "Jane Doe (CRO)", "RISK-1", "2026-06-30")
    assert w["reason"] == "client-approved" and w["source"].endswith("w.yaml:2")
    assert r.extra["expired_waivers"] == []
    assert [e["days_left"] for e in r.extra["expiring_waivers"]] == [0]
    assert "today is its last day" in waiver_warnings(r)[0]


def test_a_waiver_no_longer_applies_the_day_after(book: Book) -> None:
    r = _waived(book, "2026-07-01", waiver(position="a1"))
    assert _alloc(r) == ["a1", "a2", "b1"]  # the finding is back
    assert r.extra["waived"] == []
    [e] = r.extra["expired_waivers"]
    assert (e["id"], e["expires"], e["findings"], e["expired_days_ago"]) == ("W-1", "2026-06-30", 1, 1)
    assert r.extra["stale_waivers"] == []  # expired is not stale
    assert waiver_warnings(r) == [
        f"warning: waiver W-1 expired on 2026-06-30 (as of 2026-07-01): 1 finding is back [{e['source']}]"]


@pytest.mark.parametrize("as_of, applies", [
    ("2026-06-30T23:59:59Z", True),
    ("2026-07-01T01:00:00+02:00", True),   # 2026-06-30 23:00 UTC
    ("2026-06-30T22:00:00-04:00", False),  # 2026-07-01 02:00 UTC
    ("2026-06-30 18:00:00", True),         # no offset: UTC
    ("2026-07-01", False),
])
def test_expiry_is_evaluated_at_the_as_of_date_in_utc(book: Book, as_of: str, applies: bool) -> None:
    r = _waived(book, as_of, waiver(position="a1"))
    assert ("a1" not in _alloc(r)) is applies


def test_without_an_as_of_time_the_run_date_counts(book: Book, tmp_path: Path) -> None:
    book.evaluate(BOOK, "2026-06-01")  # writes the positions (its as-of time is not used)
    waivers = load_waivers(write_waivers(tmp_path / "w.yaml", waiver(position="a1")))
    for day, applies in ((30, True), (31, False)):
        now = dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.timezone.utc) + dt.timedelta(days=day - 30)
        result = api.check(book.policy, book.positions, book.accounts, now=now)
        assert result.info.as_of is None
        assert ("a1" not in _alloc(apply_waivers(result, waivers))) is applies


def test_an_unreadable_as_of_time_is_an_error(book: Book, tmp_path: Path) -> None:
    # api.check refuses such an --as-of; the waiver module still guards results built otherwise
    result = book.evaluate(BOOK, "2026-06-01")
    result = dataclasses.replace(result, info=dataclasses.replace(result.info, as_of="end of June"))
    with pytest.raises(DataError, match="cannot read the as-of time 'end of June'"):
        apply_waivers(result, load_waivers(write_waivers(tmp_path / "w.yaml", waiver())))


def test_a_waiver_that_matches_nothing_is_stale(book: Book) -> None:
    r = _waived(book, "2026-06-01", waiver(), waiver(id="W-2", account="C"))
    assert [s["id"] for s in r.extra["stale_waivers"]] == ["W-2"]
    assert any(line.startswith("note: waiver W-2 matched no finding (stale)") for line in waiver_warnings(r))
    assert r.extra["waivers"]["stale"] == 1


def test_waivers_expiring_soon_are_listed(book: Book) -> None:
    ws = (waiver(expires=dt.date(2026, 6, 10)), waiver(id="W-2", account="B", expires=dt.date(2026, 6, 30)))
    r = _waived(book, "2026-06-01", *ws)
    assert [(e["id"], e["days_left"], e["findings"]) for e in r.extra["expiring_waivers"]] == [("W-1", 9, 2)]
    r = _waived(book, "2026-06-01", *ws, days=29)
    assert [e["id"] for e in r.extra["expiring_waivers"]] == ["W-1", "W-2"]
    r = _waived(book, "2026-06-01", *ws, days=0)
    assert r.extra["expiring_waivers"] == []


@pytest.mark.parametrize("select, waived", [
    ({}, ["a1", "a2"]),                                   # the rule in the whole account
    ({"position": "a2"}, ["a2"]),
    ({"symbol": "BTCUSDT"}, ["a1"]),
    ({"rule": "test-policy/alloc", "account": "B"}, ["b1"]),
])
def test_what_a_waiver_selects(book: Book, select: dict[str, str], waived: list[str]) -> None:
    r = _waived(book, "2026-06-01", waiver(**select))
    assert sorted(w["position_id"] for w in r.extra["waived"]) == waived
    assert sorted(set(_alloc(r)) | set(waived)) == ["a1", "a2", "b1"]


def test_a_waiver_by_finding_id(book: Book) -> None:
    fid = next(r["finding_id"] for r in book.evaluate(BOOK, "2026-06-01").findings.to_dicts() if r["position_id"] == "b1")
    r = _waived(book, "2026-06-01", {k: v for k, v in waiver(finding_id=fid).items() if k not in ("rule", "account")})
    assert [w["position_id"] for w in r.extra["waived"]] == ["b1"]


def test_the_first_waiver_that_applies_wins(book: Book) -> None:
    r = _waived(book, "2026-06-01", waiver(id="W-old", expires=dt.date(2026, 5, 1)), waiver(id="W-2"),
                waiver(id="W-3", position="a1"))
    assert {w["position_id"]: w["id"] for w in r.extra["waived"]} == {"a1": "W-2", "a2": "W-2"}
    assert [e["id"] for e in r.extra["expired_waivers"]] == ["W-old"]
    assert r.extra["stale_waivers"] == []  # W-3 matched a1, though W-2 got there first


def test_a_rule_id_must_name_one_rule_of_the_pack(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    write_policy(pack / "a.yaml", {**POLICY, "id": "desk-a"})
    write_policy(pack / "b.yaml", {**POLICY, "id": "desk-b"})
    book = Book(tmp_path)
    write_csv(book.positions, BOOK)
    result = api.check(pack, book.positions, book.accounts, as_of="2026-06-01")
    ambiguous = load_waivers(write_waivers(tmp_path / "w.yaml", waiver()))
    with pytest.raises(WaiverError, match=r"w.yaml:3:9: \[waiver W-1\] rule 'alloc' is in several policies: "
                                          r"write 'desk-a/alloc' or 'desk-b/alloc'"):
        apply_waivers(result, ambiguous)
    typo = load_waivers(write_waivers(tmp_path / "w.yaml", waiver(rule="desk-a/aloc")))
    with pytest.raises(WaiverError, match=r"rule 'desk-a/aloc' is not in the policy pack; did you mean 'desk-a/alloc'\?"):
        apply_waivers(result, typo)
    ok = apply_waivers(result, load_waivers(write_waivers(tmp_path / "w.yaml", waiver(rule="desk-b/alloc"))))
    assert {w["policy_id"] for w in ok.extra["waived"]} == {"desk-b"}


def test_rule_ids_in_waivers_are_case_sensitive_with_a_hint(tmp_path: Path) -> None:
    policy = {**POLICY, "id": "Desk-A", "rules": [{**POLICY["rules"][0], "id": "R1-alloc"}]}
    book = Book(tmp_path)
    write_csv(book.positions, BOOK)
    pack = write_policy(tmp_path / "p.yaml", policy)
    result = api.check(pack, book.positions, book.accounts, as_of="2026-06-01")
    for written in ("r1-alloc", "desk-a/R1-alloc"):
        wrong_case = load_waivers(write_waivers(tmp_path / "w.yaml", waiver(rule=written)))
        hint = f"rule '{written}' is not in the policy pack: ids are case-sensitive; did you mean 'Desk-A/R1-alloc'"
        with pytest.raises(WaiverError, match=hint):
            apply_waivers(result, wrong_case)
    for written in ("R1-alloc", "Desk-A/R1-alloc"):
        ok = apply_waivers(result, load_waivers(write_waivers(tmp_path / "w.yaml", waiver(rule=written))))
        assert {(w["policy_id"], w["rule_id"]) for w in ok.extra["waived"]} == {("Desk-A", "R1-alloc")}


def test_waived_findings_do_not_fail_the_run(book: Book) -> None:
    ws = write_waivers(book.root / "w.yaml", waiver(expires=dt.date(2026, 7, 1)),
                       waiver(id="W-2", account="B", expires=dt.date(2026, 12, 31)))
    proc, doc = book.cli(BOOK, "--as-of", "2026-06-30", "--waivers", str(ws), history=False)
    assert proc.returncode == 0, proc.stderr
    assert doc is not None and doc["findings"] == [] and len(doc["waived"]) == 3
    assert "waived: 3 findings by 2 waivers as of 2026-06-30; 1 expiring within 14 days" in proc.stdout
    assert "warning: waiver W-1 expires on 2026-07-01 (in 1 day; ticket RISK-1)" in proc.stderr
    proc, doc = book.cli(BOOK, "--as-of", "2026-07-02", "--waivers", str(ws), history=False)
    assert proc.returncode == 1  # W-1 lapsed: a1 and a2 are back
    assert doc is not None and sorted(f["position_id"] for f in doc["findings"]) == ["a1", "a2"]
    assert "warning: waiver W-1 expired on 2026-07-01 (as of 2026-07-02): 2 findings are back" in proc.stderr
    assert json.dumps(doc["expired_waivers"])  # plain JSON values


def test_waiver_warning_days_must_not_be_negative(book: Book) -> None:
    ws = write_waivers(book.root / "w.yaml", waiver())
    proc, _ = book.cli(BOOK, "--waivers", str(ws), "--waiver-warning-days", "-1", history=False)
    assert proc.returncode == 2 and "--waiver-warning-days" in proc.stderr


def test_apply_waivers_also_takes_a_path(book: Book) -> None:
    path = write_waivers(book.root / "w.yaml", waiver(position="a1"))
    result = apply_waivers(book.evaluate(BOOK, "2026-06-01"), path)
    assert [w["id"] for w in result.extra["waived"]] == ["W-1"]
