"""Helpers shared by the gate tests (tests/test_gate_*.py): a small book and policy, run through the gate.

The policy is tests/data/gate/policy.yaml: alloc (margin <= 5% of equity, warning from 4%),
max-leverage (expression ``leverage <= 5``), gross (account scope ``account_leverage <= 3``, warning),
stop (a stop-loss above 2x). Accounts: A1 equity 1,000,000; A2 equity 100,000.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import polars as pl

from policy_engine.data import load_inputs
from policy_engine.gate.project import Projection, project
from policy_engine.gate.run import GateResult, run_gate
from policy_engine.gate.trades import load_trades
from tests.conftest import ROOT, write_csv

DATA = ROOT / "tests" / "data" / "gate"
POLICY = DATA / "policy.yaml"
ACCOUNTS = DATA / "accounts.csv"
POSITION_DEFAULTS: Mapping[str, Any] = {"margin_mode": "isolated"}


def positions_file(tmp: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    return write_csv(tmp / "positions.csv", [{**POSITION_DEFAULTS, **r} for r in rows])


def trades_file(tmp: Path, rows: Iterable[Mapping[str, Any]], name: str = "trades.csv") -> Path:
    rows = list(rows)
    if not rows:  # an empty trade list still has its header
        (tmp / name).write_text("account_id,symbol,side,quantity\n", encoding="utf-8")
        return tmp / name
    return write_csv(tmp / name, rows)


def projected(tmp: Path, positions: list[dict[str, Any]], trades: list[dict[str, Any]]) -> Projection:
    inputs = load_inputs(positions_file(tmp, positions), ACCOUNTS)
    frame = load_trades([str(trades_file(tmp, trades))], inputs.accounts)
    brackets = frozenset() if inputs.brackets is None else frozenset(inputs.brackets.get_column("symbol"))
    return project(inputs.positions, frame, brackets)


def position(projection: Projection, position_id: str) -> dict[str, Any]:
    rows = projection.positions.filter(pl.col("position_id") == position_id).to_dicts()
    assert len(rows) == 1, (
        f"{position_id}: {len(rows)} rows in {projection.positions.get_column('position_id').to_list()}"
    )
    return rows[0]


def gate(
    tmp: Path, positions: list[dict[str, Any]], trades: list[dict[str, Any]], **options: Any
) -> GateResult:
    return run_gate(
        POLICY, positions_file(tmp, positions), ACCOUNTS, None, [str(trades_file(tmp, trades))], **options
    )


def finding(result: GateResult, rule_id: str, position_id: str | None = None, **where: Any) -> dict[str, Any]:
    f = result.findings.filter(pl.col("rule_id") == rule_id)
    f = (
        f.filter(pl.col("position_id").is_null())
        if position_id is None
        else f.filter(pl.col("position_id") == position_id)
    )
    for key, value in where.items():
        f = f.filter(pl.col(key) == value)
    rows = f.to_dicts()
    assert len(rows) == 1, f"{rule_id}/{position_id}: {len(rows)} findings: {rows}"
    return rows[0]
