"""The short terminal summary a check prints: counts by severity, rule and account; the worst findings."""

from __future__ import annotations

from typing import Any

import polars as pl

from policy_engine.textsafe import printable
from policy_engine.api import RunResult
from policy_engine.model import SEVERITY_NAMES

WORST = 10


def render(result: RunResult, fail_on: str | None = None, width: int = 100) -> str:
    info, f = result.info, result.findings
    cov = result.evaluation.coverage
    lines = [
        f"policy-engine {info.engine_version}: {info.positions:,} positions in {info.accounts:,} accounts; "
        f"{len(info.policy_pack)} policies, {cov.select('policy_id', 'rule_id').unique().height} rules"
        + (f"; as of {info.as_of}" if info.as_of else ""),
    ]
    counts = dict(f.group_by("severity").len().iter_rows()) if f.height else {}
    near = int((f.get_column("status") == "near_limit").sum()) if f.height else 0
    lines.append(
        "findings: " + ", ".join(f"{counts.get(s, 0):,} {s}" for s in reversed(SEVERITY_NAMES))
        + f" (of which {near:,} near-limit warnings)"
    )
    lines += extra_lines(result.extra)
    if cov.height:
        lines.append("")
        lines.append("by rule (covered positions -> breaches, near-limit):")
        for row in cov.iter_rows(named=True):
            name = f"{row['policy_id']}/{row['rule_id']}" + (f" [{row['check']}]" if row["check"] else "")
            flag = "  <- matched no position" if row["covered"] == 0 else ""
            lines.append(f"  {name:<58} {row['covered']:>8,} -> {row['breached']:>6,} breach, {row['near']:>5,} near{flag}")
    if f.height:
        by_acc = (
            f.group_by("account_id").agg(pl.len().alias("n"), pl.col("severity_rank").max().alias("worst"))
            .sort(["worst", "n", "account_id"], descending=[True, True, False]).head(10)
        )
        lines.append("")
        lines.append(f"by account (top {by_acc.height} of {f.get_column('account_id').n_unique()}):")
        for acc, n, worst in by_acc.iter_rows():
            lines.append(f"  {acc:<24} {n:>6,} findings, worst {SEVERITY_NAMES[worst - 1]}")
        lines.append("")
        lines.append(f"worst findings (first {min(WORST, f.height)} of {f.height:,}):")
        for row in f.head(WORST).iter_rows(named=True):
            line = f"  {row['severity'].upper():<8} {row['account_id']} {row['rule_id']}{_change(row)}: {row['message']}"
            lines.append(line if len(line) <= width * 2 else line[: width * 2 - 1] + "…")
            lines.append(f"           fix: {row['remediation']}")
    else:
        lines.append("no findings")
    if fail_on:
        lines.append("")
    return "\n".join(printable(line) for line in lines) + "\n"


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def _change(row: dict[str, Any]) -> str:
    """`` [new, passive]`` / `` [9 days]`` when the run was compared with a previous one (--history)."""
    if not row.get("change"):
        return ""
    tag = "new" if row["change"] == "new" else _days(int(row.get("age_days") or 0))
    return f" [{tag}, {row['breach_type']}]" if row.get("breach_type") else f" [{tag}]"


def extra_lines(extra: dict[str, Any]) -> list[str]:
    """The waiver and "since the previous run" lines, for any command's summary (check, gate)."""
    return _waiver_lines(extra) + _since_lines(extra)


def _waiver_lines(extra: dict[str, Any]) -> list[str]:
    w = extra.get("waivers")
    if not isinstance(w, dict):
        return []
    parts = [f"waived: {w['waived_findings']:,} findings by {w['count']:,} waivers as of {w['as_of_date']}"]
    if w["expired"]:
        parts.append(f"{w['expired']} expired (their findings are back)")
    if w["expiring"]:
        parts.append(f"{w['expiring']} expiring within {_days(w['warning_days'])}")
    if w["stale"]:
        parts.append(f"{w['stale']} stale (matched nothing)")
    return ["; ".join(parts)]


def _since_lines(extra: dict[str, Any]) -> list[str]:
    since, history = extra.get("since"), extra.get("history")
    if not isinstance(since, dict):
        return []
    run = f" (run {history['run_id']})" if isinstance(history, dict) else ""
    if since["previous_run_id"] is None:
        return [f"history: first run of this scope{run}; {since['new']:,} findings recorded as new"]
    oldest = f" (oldest {_days(since['oldest_age_days'])})" if since["oldest_age_days"] is not None else ""
    when = since["previous_as_of"] or since["previous_generated_at"]
    line = (f"since {since['previous_run_id']} (as of {when}): {since['new']:,} new, "
            f"{since['persisting']:,} persisting{oldest}, {since['resolved']:,} resolved")
    if since["active"] or since["passive"]:
        line += f"; breaches: {since['active']:,} active, {since['passive']:,} passive (position unchanged)"
    return [line + run]
