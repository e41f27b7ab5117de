"""A Markdown summary for $GITHUB_STEP_SUMMARY or a pull-request comment (GitHub-flavoured).

Blocking findings first (trade line, rule, message, fix), then the findings waivers accepted
(--waivers: which waiver, why, who approved it, until when) and the waivers that expired or are about
to, then the trades, then the pre-existing and resolved findings folded in ``<details>``. A step
summary over 1 MiB is refused by GitHub, so tables are cut (and say so) until the document fits. All
data is escaped: HTML special characters (a client name can hold markup), pipes and newlines, which
would break a table.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

from policy_engine.gate.locate import location, relative, rule_name
from policy_engine.gate.run import GateResult
from policy_engine.output.summary import extra_lines

LIMIT_BYTES = 1024 * 1024
_MARGIN = 16 * 1024


# Markdown syntax that data (symbols, client names, messages) could use to add links, images,
# mentions, emphasis or table columns; backslash first, so later escapes are not undone.
_MARKDOWN = str.maketrans({c: "\\" + c for c in "[]*_~"} | {"@": "&#64;", "`": "&#96;", "|": "\\|"})


def cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = html.escape(" ".join(text.split()), quote=False).replace("\\", "\\\\")
    return text.translate(_MARKDOWN) or " "


def _table(header: list[str], rows: list[list[Any]], limit: int, what: str) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        out.append(f"\n_{len(rows) - limit:,} more {what} not shown: see the SARIF or JSON output._")
    return out


def _findings(gate: GateResult, frame: pl.DataFrame, limit: int, what: str) -> list[str]:
    fallback = gate.trade_files[0] if gate.trade_files else "."
    rows = []
    for f in frame.iter_rows(named=True):
        file, line = location(f, fallback)
        trade = ", ".join(f["trade_ids"]) or "-"
        rows.append(
            [
                f"{trade} ({file}:{line})",
                rule_name(f),
                f["severity"],
                f["change"],
                f"{f['account_id']} {f['position_id'] or ''}",
                f["message"],
                f["remediation"],
            ]
        )
    header = ["Trade (line)", "Rule", "Severity", "Change", "Account / position", "Finding", "Fix"]
    return _table(header, rows, limit, what)


def _waived(gate: GateResult, limit: int) -> list[str]:
    fallback = gate.trade_files[0] if gate.trade_files else "."
    rows = []
    for f in gate.waived_rows:
        file, line = location(f, fallback)
        rows.append(
            [
                f"{', '.join(f['trade_ids']) or '-'} ({file}:{line})",
                rule_name(f),
                f["severity"],
                f["change"] + (" (would block)" if f["would_block"] else ""),
                f"{f['account_id']} {f['position_id'] or ''}",
                f["message"],
                f["waiver_id"],
                f["waiver_reason"],
                f["waiver_approved_by"],
                f["waiver_ticket"],
                f["waiver_expires"],
            ]
        )
    header = [
        "Trade (line)",
        "Rule",
        "Severity",
        "Change",
        "Account / position",
        "Finding",
        "Waiver",
        "Reason",
        "Approved by",
        "Ticket",
        "Expires",
    ]
    return _table(header, rows, limit, "waived findings")


def _waiver_notes(gate: GateResult) -> list[str]:
    """Expired (their findings are back), expiring and stale waivers, one bullet each."""
    from policy_engine.waivers import waiver_warnings

    return [f"- {cell(line)}" for line in waiver_warnings(gate.result)]


def render(gate: GateResult, limit: int = 100) -> str:
    c, f = gate.counts(), gate.findings
    icon, verdict = (
        ("❌", f"{c['blocking']} blocking finding{'s' if c['blocking'] != 1 else ''}")
        if c["blocking"]
        else ("✅", "no blocking findings")
    )
    files = ", ".join(f"`{cell(relative(p))}`" for p in gate.trade_files)
    info = gate.result.info
    out = [
        f"## {icon} policy-engine gate: {verdict}",
        "",
        (
            f"{c['trades']} trades from {files} on {info.positions:,} positions (fail on: **{gate.fail_on}**"
            f"{', strict' if gate.strict else ''}; policy-engine {info.engine_version})."
        ),
        "",
    ]
    waivers = "waived" in c
    out += [
        "| new | worsened | pre-existing | resolved |" + (" waived |" if waivers else "") + " blocking |",
        "|---:|---:|---:|---:|" + ("---:|" if waivers else "") + "---:|",
        f"| {c['new']} | {c['worsened']} | {c['unchanged']} | {c['resolved']} |"
        + (f" {c['waived']} |" if waivers else "")
        + f" **{c['blocking']}** |",
        "",
    ]
    notes = extra_lines(gate.result.extra)  # the waiver and "since the previous run" lines
    if notes:
        out += [*(f"{cell(n)}  " for n in notes), ""]
    if c["blocking"]:
        out += ["### Blocking findings", "", *_findings(gate, gate.blocking, limit, "blocking findings"), ""]
    if waivers and (c["waived"] or _waiver_notes(gate)):
        out += ["### Waived", ""]
        if c["waived"]:
            out += [*_waived(gate, limit), ""]
        out += [*_waiver_notes(gate), ""] if _waiver_notes(gate) else []
    other = f.filter(~pl.col("blocking") & pl.col("change").is_in(["new", "worsened"]))
    if other.height:
        out += ["### New or worsened, not blocking", "", *_findings(gate, other, limit, "findings"), ""]
    gate_rows: list[dict[str, Any]] = gate.result.extra["gate"]  # type: ignore[assignment]
    trades = [
        [
            t["trade_id"],
            f"{relative(t['source'])}:{t['line']}",
            t["account_id"],
            t["symbol"],
            t["side"],
            f"{t['quantity']:,.8g}",
            f"{t['price']:,.8g}",
            t["action"],
            len(t["blocking_findings"]) or "-",
        ]
        for t in gate_rows
    ]
    out += [
        "### Trades",
        "",
        *_table(
            ["Trade", "Line", "Account", "Symbol", "Side", "Quantity", "Price", "Action", "Blocking"],
            trades,
            limit,
            "trades",
        ),
        "",
    ]
    for change, title in (("unchanged", "Pre-existing findings"), ("resolved", "Resolved by the trades")):
        part = f.filter((pl.col("change") == change) & ~pl.col("blocking"))
        if part.height:
            out += [
                f"<details><summary>{title} ({part.height:,})</summary>",
                "",
                *_findings(gate, part, limit, "findings"),
                "",
                "</details>",
                "",
            ]
    return "\n".join(out)


def render_bounded(gate: GateResult) -> str:
    """The summary, with tables cut until it fits GitHub's 1 MiB step-summary limit."""
    limit = 100
    text = render(gate, limit)
    while len(text.encode()) > LIMIT_BYTES - _MARGIN and limit > 1:
        limit //= 2
        text = render(gate, limit)
    return text


def write(gate: GateResult, path: str) -> None:
    Path(path).write_text(render_bounded(gate), encoding="utf-8")
