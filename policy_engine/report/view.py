"""The report's view model: plain text and numbers built from a RunResult, sorted deterministically.

Every number is formatted here and every choice (order, caps, notes) is made here, so that the
templates only loop and print. Sections: header (the run's facts), executive summary, charts,
one section per client, one per rule, then the optional sections of ``result.extra`` (extras.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from policy_engine.api import RunResult
from policy_engine.report import charts as charts_mod
from policy_engine.report import clients as clients_mod
from policy_engine.report import extras, fmt
from policy_engine.report.findings import client_anchor, findings_table, head_per, rule_anchor
from policy_engine.report.tables import Cell, Column, Fact, Section, Table, badge, num

WORST = 10
SUMMARY_CLIENTS = 50
RULE_ROWS = 50


@dataclass(frozen=True, slots=True)
class SeverityCount:
    name: str
    glyph: str
    count: str


@dataclass(frozen=True, slots=True)
class Summary:
    severities: tuple[SeverityCount, ...]
    facts: tuple[Fact, ...]
    verdict: str
    clients: Table
    worst: Table


@dataclass(frozen=True, slots=True)
class RuleView:
    id: str
    title: str
    policy: str
    severity: Cell
    description: str
    checks: tuple[Fact, ...]  # check name -> what it checks
    facts: tuple[Fact, ...]
    unmatched: bool  # covered no position
    findings: Table


@dataclass(frozen=True, slots=True)
class ReportView:
    title: str
    subtitle: str
    facts: tuple[Fact, ...]
    policies: Table
    inputs: Table
    summary: Summary
    charts: tuple[charts_mod.Chart, ...]
    clients: clients_mod.ClientsView
    coverage: Table
    rules: tuple[RuleView, ...]
    sections: tuple[Section, ...]
    toc: tuple[tuple[str, str], ...]  # (anchor, label)


def generated_at(result: RunResult, now: dt.datetime | None) -> str:
    if now is None:
        return result.info.generated_at
    return now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def positions_frame(result: RunResult) -> pl.DataFrame:
    """The positions with every derived metric (computed again when the run did not keep them)."""
    if result.evaluation.positions is not None:
        return result.evaluation.positions
    from policy_engine.api import base_frame

    return base_frame(result.inputs, result.pack.settings, canonical_order=True).collect()


def header(result: RunResult, now: dt.datetime | None) -> tuple[tuple[Fact, ...], Table, Table]:
    info, cov = result.info, result.evaluation.coverage
    facts = (
        Fact("As of", fmt.timestamp(info.as_of)),
        Fact("Generated", fmt.timestamp(generated_at(result, now))),
        Fact("Engine", f"policy-engine {info.engine_version}"),
        Fact("Positions", f"{info.positions:,}"),
        Fact("Accounts", f"{info.accounts:,}"),
        Fact("Rules", f"{cov.select('policy_id', 'rule_id').unique().height:,} ({fmt.plural(cov.height, 'check')})"),
        Fact("Policy pack", " · ".join(f"{pid} {version}" for pid, version in info.policy_pack) or fmt.MISSING, wide=True),
        Fact("Policy pack SHA-256", info.policy_hash or fmt.MISSING, code=True, wide=True),
    )
    described = {p.id: p for p in result.pack.policies}
    policies = Table(
        id="policies", caption="Policy pack", sortable=False,
        columns=(Column("Policy"), Column("Version"), Column("Owner"), Column("Rules", True), Column("Description", wide=True)),
        rows=tuple((
            Cell(pid, kind="code"), Cell(version),
            Cell(described[pid].owner if pid in described else fmt.MISSING),
            num(len(described[pid].rules) if pid in described else None,
                str(len(described[pid].rules)) if pid in described else fmt.MISSING),
            Cell(" ".join(described[pid].description.split()) if pid in described else fmt.MISSING, kind="long"),
        ) for pid, version in info.policy_pack),
    )
    inputs = Table(
        id="inputs", caption="Input files (SHA-256)", sortable=False, row_header=0,
        columns=(Column("Role"), Column("File"), Column("SHA-256")),
        rows=tuple((Cell(role), Cell(path, kind="code"), Cell(digest, kind="code")) for role, path, digest in info.input_files),
    )
    return facts, policies, inputs


def split_resolved(findings: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(current findings, resolved ones): a gate's findings also list those its trades resolve."""
    if "change" not in findings.columns:
        return findings, findings.clear()
    resolved = (pl.col("change") == "resolved").fill_null(False)
    return findings.filter(~resolved), findings.filter(resolved)


def summary(result: RunResult, accounts: list[dict[str, Any]], f: pl.DataFrame) -> Summary:
    by_sev = dict(f.group_by("severity").len().iter_rows()) if f.height else {}
    by_status: dict[tuple[str, str], int] = {}
    if f.height:
        for acc, st, n in f.group_by("account_id", "status").len().iter_rows():
            by_status[(acc, st)] = n
    in_breach = [a for a in accounts if by_status.get((a["account_id"], "breach"))]
    with_findings = [a for a in accounts if a["findings"]]
    breaches = sum(n for (_, st), n in by_status.items() if st == "breach")
    near = sum(n for (_, st), n in by_status.items() if st == "near_limit")
    facts = (
        Fact("Findings", f"{f.height:,}"),
        Fact("Limits breached", f"{breaches:,}"),
        Fact("Near a limit", f"{near:,}"),
        Fact("Clients in breach", f"{len(in_breach):,} of {len(accounts):,}"),
        Fact("Positions evaluated", f"{result.info.positions:,}"),
    )
    if not f.height:
        verdict = "No findings: every position is within every rule of the policy pack."
    else:
        worst = max(by_sev, key=lambda s: fmt.SEVERITY_RANK.get(s, 0))
        verdict = (f"{len(in_breach):,} of {fmt.plural(len(accounts), 'client')} in breach of at least one limit; "
                   f"the worst finding is {worst}. {fmt.plural(f.height, 'finding')}: "
                   f"{fmt.plural(breaches, 'limit')} breached, {near:,} near a limit.")
    shown = with_findings[:SUMMARY_CLIENTS]
    clients = Table(
        id="summary-clients", caption="Clients with findings, worst first",
        columns=(Column("Client"), Column("Risk profile"), Column("Advisor"), Column("Limits breached", True),
                 Column("Near a limit", True), Column("Worst finding")),
        rows=tuple((
            Cell(str(a.get("client_name") or a["account_id"]), sub=a["account_id"], href="#" + client_anchor(a["account_id"])),
            Cell(fmt.text(a.get("risk_profile"))), Cell(fmt.text(a.get("advisor"))),
            num(by_status.get((a["account_id"], "breach"), 0), f"{by_status.get((a['account_id'], 'breach'), 0):,}"),
            num(by_status.get((a["account_id"], "near_limit"), 0), f"{by_status.get((a['account_id'], 'near_limit'), 0):,}"),
            badge(a["worst"]),
        ) for a in shown),
        omitted=len(with_findings) - len(shown),
        omitted_note=f"{len(with_findings) - len(shown):,} more clients with findings: see the client sections below.",
        empty="No client has a finding.",
    )
    worst_table = findings_table(f.head(WORST).to_dicts(), "worst-findings", f"The {min(WORST, f.height)} worst findings",
                                 min(WORST, f.height), client=True)
    severities = tuple(SeverityCount(s, fmt.SEVERITY_GLYPH[s], f"{by_sev.get(s, 0):,}") for s in reversed(fmt.SEVERITIES))
    return Summary(severities, facts, verdict, clients, worst_table)


def rules(result: RunResult, f: pl.DataFrame) -> tuple[Table, tuple[RuleView, ...]]:
    cov = result.evaluation.coverage
    overview = Table(
        id="coverage", caption="Coverage: positions each check covered, breached and came near",
        columns=(Column("Rule"), Column("Check"), Column("Severity"), Column("Covered", True), Column("Breached", True),
                 Column("Near limit", True), Column("Note")),
        rows=tuple((
            Cell(r["rule_id"], sub=r["policy_id"], href="#" + rule_anchor(r["policy_id"], r["rule_id"])),
            Cell(r["check"] or fmt.MISSING), badge(r["severity"]),
            num(r["covered"], f"{r['covered']:,}"), num(r["breached"], f"{r['breached']:,}"), num(r["near"], f"{r['near']:,}"),
            Cell("⚠ matched no position" if r["covered"] == 0 else "", kind="status"),
        ) for r in cov.iter_rows(named=True)),
    )
    keyed = f.with_columns(pl.concat_str("policy_id", pl.lit("\x1f"), "rule_id").alias("__rule"))
    totals = dict(keyed.group_by("__rule").len().iter_rows()) if f.height else {}
    detail: dict[str, list[dict[str, Any]]] = {}
    for r in head_per(keyed, "__rule", RULE_ROWS).iter_rows(named=True):
        detail.setdefault(r["__rule"], []).append(r)
    views, seen = [], set()
    for r in cov.iter_rows(named=True):
        key = f"{r['policy_id']}\x1f{r['rule_id']}"
        if key in seen:
            continue
        seen.add(key)
        checks = cov.filter((pl.col("policy_id") == r["policy_id"]) & (pl.col("rule_id") == r["rule_id"]))
        covered, breached, near = (int(checks.get_column(c).max() or 0) for c in ("covered", "breached", "near"))  # type: ignore[arg-type]
        views.append(RuleView(
            id=rule_anchor(r["policy_id"], r["rule_id"]), title=r["rule_id"], policy=r["policy_id"],
            severity=badge(r["severity"]), description=" ".join((r["description"] or "").split()) or fmt.MISSING,
            checks=tuple(Fact(c["check"] or r["kind"], c["check_description"] or fmt.MISSING)
                         for c in checks.iter_rows(named=True)),
            facts=(Fact("Kind", r["kind"], code=True), Fact("Positions covered", f"{covered:,}"),
                   Fact("Breached", f"{breached:,}"), Fact("Near limit", f"{near:,}"),
                   Fact("Findings", f"{totals.get(key, 0):,}")),
            unmatched=int(checks.get_column("covered").max() or 0) == 0,  # type: ignore[arg-type]
            findings=findings_table(detail.get(key, []), f"{rule_anchor(r['policy_id'], r['rule_id'])}-findings",
                                    f"Findings of {r['rule_id']}", totals.get(key, 0), client=True, rule=False, explain=False),
        ))
    return overview, tuple(views)


def build_view(result: RunResult, now: dt.datetime | None = None) -> ReportView:
    positions = positions_frame(result)
    f, resolved = split_resolved(result.findings)
    accounts = clients_mod.accounts(result.inputs.accounts, positions, f)
    facts, policies, inputs = header(result, now)
    coverage, rule_views = rules(result, f)
    sections = extras.sections(result.extra, f, resolved)
    charts = charts_mod.charts(positions, f)
    toc = (("summary", "Summary"), *((("charts", "Charts"),) if charts else ()), ("clients", "Clients"),
           ("rules", "Rules"), *((s.id, s.title) for s in sections))
    info = result.info
    return ReportView(
        title="Risk policy compliance report",
        subtitle=(f"Snapshot as of {fmt.timestamp(info.as_of)}" if info.as_of else "Snapshot time not recorded")
                 + f" · {fmt.plural(info.positions, 'position')} in {fmt.plural(info.accounts, 'account')}",
        facts=facts, policies=policies, inputs=inputs, summary=summary(result, accounts, f), charts=charts,
        clients=clients_mod.build(accounts, positions, f), coverage=coverage, rules=rule_views,
        sections=sections, toc=toc,
    )
