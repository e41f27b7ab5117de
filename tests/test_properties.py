"""Invariants over random books (Hypothesis): loosening limits never adds findings; row order never
changes the findings, byte for byte."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine import api
from policy_engine.output.document import public_findings
from tests.conftest import write_csv, write_policy

PROFILES = ("conservative", "moderate", "aggressive")

position = st.fixed_dictionaries({
    "account_id": st.sampled_from(["A", "B", "C"]),
    "symbol": st.sampled_from(["BTCUSDT", "ETHUSDT", "SOLUSDT"]),
    "side": st.sampled_from(["long", "short"]),
    "quantity": st.floats(0.01, 100, allow_nan=False),
    "entry_price": st.floats(1, 1000, allow_nan=False),
    "mark_ratio": st.floats(0.8, 1.2),
    "leverage": st.sampled_from([1, 2, 3, 5, 10, 20, 50]),
    "margin_mode": st.sampled_from(["isolated", "cross"]),
    "volatility": st.one_of(st.none(), st.floats(0.1, 2.0)),
    "stop_ratio": st.one_of(st.none(), st.floats(0.7, 1.3)),
})


def _rows(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, r in enumerate(raw):
        mark = r["entry_price"] * r["mark_ratio"]
        rows.append({
            "position_id": f"p{i}", "account_id": r["account_id"], "symbol": r["symbol"], "side": r["side"],
            "quantity": r["quantity"], "entry_price": r["entry_price"], "mark_price": mark,
            "leverage": r["leverage"], "margin_mode": r["margin_mode"], "volatility": r["volatility"],
            "stop_loss_price": None if r["stop_ratio"] is None else mark * r["stop_ratio"],
        })
    return rows


ACCOUNTS = [{"account_id": a, "equity": 50_000, "risk_profile": p} for a, p in zip("ABC", PROFILES)]


def _policy(scale: float) -> dict[str, Any]:
    """scale > 1 loosens every limit (higher caps, more risk allowed, smaller buffer multiple)."""
    return {"rules": [
        {"id": "alloc", "kind": "max_allocation", "severity": "breach",
         "params": {"limit": {"conservative": 0.02 * scale, "moderate": 0.05 * scale, "aggressive": 0.1 * scale}}},
        {"id": "lev", "kind": "leverage_tiers", "severity": "breach",
         "params": {"max_leverage": {"by_tier": {t: {"conservative": c * scale, "default": d * scale}
                                                 for t, c, d in (("low", 5, 10), ("medium", 2.5, 5), ("high", 1.5, 3), ("extreme", 1, 2))}}}},
        {"id": "stop", "kind": "stop_loss", "severity": "breach", "params": {"max_risk": 0.02 * scale}},
        {"id": "buf", "kind": "liquidation_buffer", "severity": "critical", "params": {"k": 3 / scale}},
    ]}


def _run(rows: list[dict[str, Any]], policy: dict[str, Any]) -> api.RunResult:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        write_policy(tmp / "p.yaml", policy)
        write_csv(tmp / "positions.csv", rows)
        write_csv(tmp / "accounts.csv", ACCOUNTS)
        return api.check(tmp / "p.yaml", tmp / "positions.csv", tmp / "accounts.csv")


def _keys(result: api.RunResult) -> set[tuple[str, str, str]]:
    f = result.findings
    return set(zip(f["rule_id"].to_list(), f["check"].to_list(), f["position_id"].to_list()))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(position, min_size=1, max_size=25), st.floats(1.0, 4.0))
def test_loosening_limits_never_adds_findings(raw: list[dict[str, Any]], scale: float) -> None:
    rows = _rows(raw)
    strict = _keys(_run(rows, _policy(1.0)))
    loose = _keys(_run(rows, _policy(scale)))
    assert loose <= strict


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(position, min_size=1, max_size=25), st.randoms(use_true_random=False))
def test_row_order_never_changes_findings(raw: list[dict[str, Any]], rnd: random.Random) -> None:
    rows = _rows(raw)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    a = public_findings(_run(rows, _policy(1.0)).findings).write_json()
    b = public_findings(_run(shuffled, _policy(1.0)).findings).write_json()
    assert a == b
