"""Findings as table rows: the same cells wherever a finding is shown (summary, client, rule, changes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from policy_engine.report import fmt
from policy_engine.report.tables import FINDINGS_ELSEWHERE, Cell, Column, Table, badge, more_note, num, status

# Columns other engineers' stages may add to the findings (history, diff); shown when present.
EXTRA_COLUMNS = ("change", "first_seen", "age_days", "breach_type")

# A check whose observed value is not a measurement: the stop that is missing.
_NO_VALUE: dict[tuple[object, object], tuple[str, str]] = {("stop_loss", "missing"): ("no stop", "required")}


def rule_anchor(policy_id: str, rule_id: str) -> str:
    return fmt.anchor("rule", f"{policy_id}--{rule_id}")


def client_anchor(account_id: str) -> str:
    return fmt.anchor("client", account_id)


def head_per(frame: pl.DataFrame, key: str, cap: int) -> pl.DataFrame:
    """The first ``cap`` rows of each ``key`` group, in the frame's (deterministic) order."""
    if frame.height == 0:
        return frame
    return frame.filter(pl.int_range(pl.len()).over(key) < cap)


def observed_cell(f: Mapping[str, Any]) -> Cell:
    special = _NO_VALUE.get((f.get("kind"), f.get("check")))
    if special:
        return Cell(special[0], sort="-1", kind="num")
    return num(f.get("observed"), fmt.metric_value(f.get("metric"), f.get("observed")))


def limit_cell(f: Mapping[str, Any]) -> Cell:
    special = _NO_VALUE.get((f.get("kind"), f.get("check")))
    if special:
        return Cell(special[1], sort="-1", kind="num")
    return num(f.get("limit"), fmt.metric_value(f.get("metric"), f.get("limit")))


def position_cell(f: Mapping[str, Any]) -> Cell:
    if f.get("position_id") is None:
        return Cell("account-wide", sub=str(f.get("account_id") or ""))
    return Cell(fmt.text(f.get("symbol")), sub=fmt.text(f.get("position_id")))


def rule_cell(f: Mapping[str, Any]) -> Cell:
    check = f.get("check") or ""
    return Cell(fmt.text(f.get("rule_id")), sub=f"{f.get('policy_id')}" + (f" · {check}" if check else ""),
                href="#" + rule_anchor(str(f.get("policy_id")), str(f.get("rule_id"))))


def client_cell(f: Mapping[str, Any]) -> Cell:
    account = str(f.get("account_id"))
    name = f.get("client_name") or account
    return Cell(str(name), sub=account if name != account else "", href="#" + client_anchor(account))


def extra_cell(name: str, value: Any) -> Cell:
    if name == "age_days":
        return num(value, fmt.text(value) if value is not None else fmt.MISSING)
    return Cell(fmt.text(value))


def findings_table(
    records: Sequence[Mapping[str, Any]], id: str, caption: str, total: int, *,
    client: bool = False, rule: bool = True, explain: bool = True, extra: Sequence[str] = (), where: str = "",
) -> Table:
    """Severity, (rule,) (client,) position, status, observed, limit, (message, remediation, extras)."""
    columns = [Column("Severity")] + ([Column("Rule")] if rule else [])
    if client:
        columns.append(Column("Client"))
    columns += [Column("Position"), Column("Status"), Column("Observed", True), Column("Limit", True)]
    if explain:
        columns += [Column("What is wrong", wide=True), Column("What to do", wide=True)]
    columns += [Column(name.replace("_", " ").capitalize(), name == "age_days") for name in extra]
    rows = []
    for f in records:
        cells = [badge(f.get("severity"))] + ([rule_cell(f)] if rule else [])
        if client:
            cells.append(client_cell(f))
        cells += [position_cell(f), status(f.get("status")), observed_cell(f), limit_cell(f)]
        if explain:
            cells += [Cell(fmt.text(f.get("message")), kind="long"), Cell(fmt.text(f.get("remediation")), kind="long")]
        cells += [extra_cell(name, f.get(name)) for name in extra]
        rows.append(tuple(cells))
    omitted = max(0, total - len(records))
    return Table(
        id=id, caption=caption, columns=tuple(columns), rows=tuple(rows), row_header=1,  # the rule, else the client or position
        omitted=omitted, omitted_note=more_note(omitted, "finding", where or FINDINGS_ELSEWHERE) if omitted else "",
        filterable=len(rows) > 15, css="findings", empty="No findings.",
    )


def extra_columns(findings: pl.DataFrame) -> tuple[str, ...]:
    return tuple(c for c in EXTRA_COLUMNS if c in findings.columns)
