"""Per-client sections: the account's facts, its positions and its findings.

Large books stay readable and the file stays small: clients are ordered worst first, at most
MAX_SECTIONS get a full section (the rest one row each in a compact table), and the detail rows
of a section are capped so that the whole report holds about ROW_BUDGET findings and positions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from policy_engine.report import fmt
from policy_engine.report.findings import client_anchor, extra_columns, findings_table, head_per
from policy_engine.report.tables import Cell, Column, Fact, Table, badge, more_note, num, ok_badge

ROW_BUDGET = 2000  # detail rows (findings; positions) over all client sections
MAX_ROWS, MIN_ROWS = 200, 5  # per section
MAX_SECTIONS = 200
MAX_COMPACT = 1000
ACCOUNT_FIELDS = ("client_name", "risk_profile", "advisor", "currency", "equity")


@dataclass(frozen=True, slots=True)
class ClientView:
    id: str
    name: str
    account_id: str
    worst: Cell
    counts: str
    facts: tuple[Fact, ...]
    positions: Table
    findings: Table


@dataclass(frozen=True, slots=True)
class ClientsView:
    sections: tuple[ClientView, ...]
    others: Table | None  # accounts beyond MAX_SECTIONS, one row each
    total: int


def accounts(accounts: pl.DataFrame | None, positions: pl.DataFrame, findings: pl.DataFrame) -> list[dict[str, Any]]:
    """One record per account, worst first: its facts, gross exposure, leverage and finding counts."""
    rows: dict[str, dict[str, Any]] = {}
    if accounts is not None:
        cols = [c for c in ("account_id", *ACCOUNT_FIELDS) if c in accounts.columns]
        for r in accounts.select(cols).iter_rows(named=True):
            rows[r["account_id"]] = dict(r)
    notional: dict[str, list[float]] = {}
    have = set(positions.columns)
    pcols = [c for c in ("account_id", "notional", *ACCOUNT_FIELDS) if c in have]
    for r in positions.sort("account_id", "position_id").select(pcols).iter_rows(named=True):
        acc = rows.setdefault(r["account_id"], {"account_id": r["account_id"]})
        for name in ACCOUNT_FIELDS:
            if acc.get(name) is None and r.get(name) is not None:
                acc[name] = r[name]
        notional.setdefault(r["account_id"], []).append(r.get("notional") or 0.0)
    counts: dict[str, dict[str, int]] = {}
    if findings.height:
        for acc_id, sev, n in findings.group_by("account_id", "severity").len().iter_rows():
            counts.setdefault(acc_id, {})[sev] = n
    out: list[dict[str, Any]] = []
    for acc_id, acc in rows.items():
        values = notional.get(acc_id, [])
        gross = math.fsum(v for v in values if fmt.finite(v))
        equity = acc.get("equity")
        by_sev = counts.get(acc_id, {})
        out.append({
            **{name: acc.get(name) for name in ACCOUNT_FIELDS}, "account_id": acc_id,
            "positions": len(values), "gross_exposure": gross,
            "account_leverage": gross / equity if fmt.finite(equity) and equity else None,
            "by_severity": by_sev, "findings": sum(by_sev.values()),
            "worst": max(by_sev, key=lambda s: fmt.SEVERITY_RANK.get(s, 0)) if by_sev else None,
        })
    out.sort(key=lambda a: (-fmt.SEVERITY_RANK.get(a["worst"] or "", 0), -a["findings"], a["account_id"]))
    return out


def counts_text(by_severity: Mapping[str, int]) -> str:
    parts = [f"{by_severity[s]:,} {s}" for s in fmt.SEVERITY_RANK if by_severity.get(s)]
    return " · ".join(parts) if parts else "no findings"


def _cap(n_sections: int) -> int:
    return max(MIN_ROWS, min(MAX_ROWS, ROW_BUDGET // max(1, n_sections)))


def _position_rows(positions: pl.DataFrame, findings: pl.DataFrame, ids: list[str], cap: int) -> pl.DataFrame:
    """The positions of ``ids``, worst finding first then by id, ``cap`` per account."""
    p = positions.filter(pl.col("account_id").is_in(ids))
    worst = (
        findings.filter(pl.col("position_id").is_not_null())
        .group_by("account_id", "position_id").agg(pl.col("severity_rank").max().cast(pl.Int64).alias("__worst"))
    )
    p = p.join(worst, on=["account_id", "position_id"], how="left").with_columns(pl.col("__worst").fill_null(0))
    p = p.sort(["account_id", "__worst", "position_id"], descending=[False, True, False])
    return head_per(p, "account_id", cap)


def _positions_table(acc: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], anchor: str) -> Table:
    ccy = acc.get("currency") or ""
    cells = []
    for p in rows:
        worst = p["__worst"]
        lp_source = p.get("liquidation_price_source")
        cells.append((
            Cell(fmt.text(p.get("symbol")), sub=fmt.text(p.get("position_id"))),
            Cell(fmt.text(p.get("side"))),
            num(p.get("quantity"), fmt.quantity(p.get("quantity"))),
            num(p.get("mark_price"), fmt.price(p.get("mark_price"))),
            num(p.get("leverage"), fmt.times(p.get("leverage"))),
            num(p.get("margin"), fmt.money(p.get("margin"))),
            num(p.get("allocation"), fmt.percent(p.get("allocation"))),
            Cell(fmt.price(p.get("liquidation_price")), sort=fmt.sort_key(p.get("liquidation_price")), kind="num",
                 sub="venue" if lp_source == "venue" else ""),
            num(p.get("liq_distance"), fmt.percent(p.get("liq_distance"))),
            Cell(fmt.price(p.get("stop_loss_price")) if fmt.finite(p.get("stop_loss_price")) else "none",
                 sort=fmt.sort_key(p.get("stop_loss_price")), kind="num"),
            badge(fmt.SEVERITIES[worst - 1]) if worst else ok_badge(),
        ))
    omitted = acc["positions"] - len(rows)
    return Table(
        id=f"{anchor}-positions", caption=f"Positions of {acc.get('client_name') or acc['account_id']}",
        columns=(
            Column("Position"), Column("Side"), Column("Quantity", True), Column("Mark", True),
            Column("Leverage", True), Column(f"Margin{' (' + ccy + ')' if ccy else ''}", True),
            Column("Allocation", True), Column("Liq. price", True), Column("Liq. distance", True),
            Column("Stop", True), Column("Worst finding"),
        ),
        rows=tuple(cells), omitted=omitted, css="positions", filterable=len(cells) > 15,
        omitted_note=more_note(omitted, "position", "those shown have the worst findings; "
                               "policy-engine metrics lists every position") if omitted else "",
        empty="No positions in this snapshot.",
    )


def _facts(acc: Mapping[str, Any]) -> tuple[Fact, ...]:
    ccy = acc.get("currency")
    return (
        Fact("Account", acc["account_id"], code=True),
        Fact("Risk profile", fmt.text(acc.get("risk_profile"))),
        Fact("Advisor", fmt.text(acc.get("advisor"))),
        Fact("Equity", fmt.money(acc.get("equity"), ccy)),
        Fact("Gross exposure", fmt.money(acc["gross_exposure"], ccy)),
        Fact("Account leverage", fmt.times(acc["account_leverage"])),
        Fact("Positions", f"{acc['positions']:,}"),
    )


def _compact(rest: Sequence[Mapping[str, Any]]) -> Table:
    shown = rest[:MAX_COMPACT]
    rows = tuple((
        Cell(str(a.get("client_name") or a["account_id"]), sub=a["account_id"]),
        Cell(fmt.text(a.get("risk_profile"))),
        num(a.get("equity"), fmt.money(a.get("equity"), a.get("currency"))),
        num(a["positions"], f"{a['positions']:,}"),
        num(a["findings"], f"{a['findings']:,}"),
        badge(a["worst"]) if a["worst"] else ok_badge(),
    ) for a in shown)
    omitted = len(rest) - len(shown)
    return Table(
        id="clients-more", caption="More clients (summary only)", rows=rows,
        columns=(Column("Client"), Column("Risk profile"), Column("Equity", True), Column("Positions", True),
                 Column("Findings", True), Column("Worst finding")),
        omitted=omitted, omitted_note=more_note(omitted, "client", "see the machine output") if omitted else "",
        filterable=True,
    )


def build(accounts_list: list[dict[str, Any]], positions: pl.DataFrame, findings: pl.DataFrame) -> ClientsView:
    full, rest = accounts_list[:MAX_SECTIONS], accounts_list[MAX_SECTIONS:]
    ids = [a["account_id"] for a in full]
    cap = _cap(len(full))
    by_acc_p: dict[str, list[dict[str, Any]]] = {}
    for r in _position_rows(positions, findings, ids, cap).iter_rows(named=True):
        by_acc_p.setdefault(r["account_id"], []).append(r)
    extra = extra_columns(findings)
    by_acc_f: dict[str, list[dict[str, Any]]] = {}
    for r in head_per(findings.filter(pl.col("account_id").is_in(ids)), "account_id", cap).iter_rows(named=True):
        by_acc_f.setdefault(r["account_id"], []).append(r)
    sections = []
    for acc in full:
        anchor = client_anchor(acc["account_id"])
        name = str(acc.get("client_name") or acc["account_id"])
        sections.append(ClientView(
            id=anchor, name=name, account_id=acc["account_id"],
            worst=badge(acc["worst"]) if acc["worst"] else ok_badge(),
            counts=counts_text(acc["by_severity"]), facts=_facts(acc),
            positions=_positions_table(acc, by_acc_p.get(acc["account_id"], []), anchor),
            findings=findings_table(by_acc_f.get(acc["account_id"], []), f"{anchor}-findings",
                                    f"Findings for {name}", acc["findings"], extra=extra),
        ))
    return ClientsView(tuple(sections), _compact(rest) if rest else None, len(accounts_list))
