"""The short terminal summary a check prints: counts by severity, rule and account; the worst findings."""

from __future__ import annotations

import polars as pl

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
            lines.append(f"  {row['severity'].upper():<8} {row['account_id']} {row['rule_id']}: {row['message']}"[:width * 2])
            lines.append(f"           fix: {row['remediation']}")
    else:
        lines.append("no findings")
    if fail_on:
        lines.append("")
    return "\n".join(lines) + "\n"
