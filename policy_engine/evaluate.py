"""Evaluate compiled checks: one lazy plan over the positions, collected once.

Each check becomes ``base.filter(applies & (breach | near)).select(finding columns)``; the
frames are concatenated, and a one-row frame of coverage counts (how many positions each
check covered, breached, came near) is collected together with it by ``pl.collect_all``, so
the shared base plan (joins and derived metrics) is computed once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from policy_engine.compile import CompiledCheck
from policy_engine.model import Severity
from policy_engine.rules.kind import LIMIT, OBSERVED

# Public finding columns, in output order (docs/findings.md).
FINDING_COLUMNS: tuple[str, ...] = (
    "finding_id", "policy_id", "policy_version", "rule_id", "check", "kind", "severity", "status",
    "account_id", "position_id", "symbol", "metric", "observed", "limit", "message", "remediation",
)
# Context kept beside the findings for reports and annotations (not part of the byte-stable output).
CONTEXT_COLUMNS: tuple[str, ...] = ("side", "client_name", "risk_profile", "__row", "__source")


@dataclass(frozen=True, slots=True)
class Evaluation:
    findings: pl.DataFrame  # FINDING_COLUMNS + severity_rank + CONTEXT_COLUMNS, sorted
    coverage: pl.DataFrame  # one row per check: policy_id, rule_id, check, kind, severity, description, covered, breached, near
    positions: pl.DataFrame | None  # the positions with every derived metric, when asked for


def _near_severity(severity: Severity) -> Severity:
    return min(severity, Severity.WARNING)


def _with_values(base: pl.LazyFrame, c: CompiledCheck) -> pl.LazyFrame:
    """The check's observed value and limit as columns (OBSERVED, LIMIT), computed once."""
    return base.with_columns(
        c.check.observed.cast(pl.Float64).alias(OBSERVED.meta.output_name()),
        c.check.limit.cast(pl.Float64).alias(LIMIT.meta.output_name()),
    )


def _finding_frame(base: pl.LazyFrame, c: CompiledCheck, context: list[str]) -> pl.LazyFrame:
    chk = c.check
    breach = chk.breach.fill_null(False)
    flagged = breach if chk.near is None else breach | chk.near.fill_null(False)
    sev, near_sev = c.rule.severity, _near_severity(c.rule.severity)
    flagged_rows = _with_values(base, c).filter(c.applies & flagged)
    account_scope = chk.scope == "account"
    if account_scope:
        # one finding per account, carrying the values of its first breaching position
        flagged_rows = flagged_rows.sort("account_id", "position_id").unique("account_id", keep="first", maintain_order=True)
    return flagged_rows.select(
        pl.lit(c.policy.id).alias("policy_id"),
        pl.lit(c.policy.version).alias("policy_version"),
        pl.lit(c.rule.id).alias("rule_id"),
        pl.lit(chk.name).alias("check"),
        pl.lit(c.rule.kind).alias("kind"),
        pl.when(breach).then(pl.lit(sev.label)).otherwise(pl.lit(near_sev.label)).alias("severity"),
        pl.when(breach).then(pl.lit(int(sev))).otherwise(pl.lit(int(near_sev))).cast(pl.Int8).alias("severity_rank"),
        pl.when(breach).then(pl.lit("breach")).otherwise(pl.lit("near_limit")).alias("status"),
        pl.col("account_id"),
        pl.lit(None, dtype=pl.String).alias("position_id") if account_scope else pl.col("position_id"),
        pl.lit(None, dtype=pl.String).alias("symbol") if account_scope else pl.col("symbol"),
        pl.lit(chk.metric).alias("metric"),
        OBSERVED.alias("observed"),
        LIMIT.alias("limit"),
        chk.message.alias("message"),
        pl.when(breach).then(chk.remediation).otherwise(pl.lit("none required yet: within the limit, inside the warning band"))
        .alias("remediation"),
        *[pl.col(name) for name in context],
    )


def _coverage_frame(base: pl.LazyFrame, compiled: tuple[CompiledCheck, ...]) -> pl.LazyFrame:
    """One row: per check, how many positions (accounts, for account-scope checks) it covered,
    breached and came near."""
    frames: list[pl.LazyFrame] = []
    for i, c in enumerate(compiled):
        breach = c.check.breach.fill_null(False)
        near = pl.lit(False) if c.check.near is None else c.check.near.fill_null(False)
        masks = {"covered": c.applies, "breached": c.applies & breach, "near": c.applies & ~breach & near}
        if c.check.scope == "account":
            aggs = [pl.col("account_id").filter(m).n_unique().alias(f"{k}_{i}") for k, m in masks.items()]
        else:
            aggs = [m.sum().alias(f"{k}_{i}") for k, m in masks.items()]
        frames.append(_with_values(base, c).select(aggs))
    return pl.concat(frames, how="horizontal") if frames else base.select(pl.len().alias("n")).head(0)


def _finding_ids(df: pl.DataFrame) -> pl.Series:
    # sha256 (stable across versions and platforms, unlike Polars' hash) over the identity of a
    # finding: the same breach gets the same id on every run, whatever else changed.
    keys = zip(*(df.get_column(c).to_list() for c in ("policy_id", "rule_id", "check", "account_id", "position_id")))
    ids = [hashlib.sha256("\x1f".join("" if v is None else str(v) for v in k).encode()).hexdigest()[:16] for k in keys]
    return pl.Series("finding_id", ids, dtype=pl.String)


def sort_findings(df: pl.DataFrame) -> pl.DataFrame:
    """The deterministic order: worst first, then by policy, rule, check, account, position."""
    return df.sort(
        ["severity_rank", "policy_id", "rule_id", "check", "account_id", "position_id"],
        descending=[True, False, False, False, False, False],
    )


def evaluate(base: pl.LazyFrame, compiled: tuple[CompiledCheck, ...], keep_positions: bool = False) -> Evaluation:
    """Run every check over ``base`` (positions with derived metrics) in one collect."""
    schema = base.collect_schema()
    context = [c for c in CONTEXT_COLUMNS if c in schema]
    frames = [_finding_frame(base, c, context) for c in compiled]
    findings_lf = pl.concat(frames, how="vertical") if frames else None
    plans = [_coverage_frame(base, compiled)]
    if findings_lf is not None:
        plans.append(findings_lf)
    if keep_positions:
        plans.append(base)
    results = pl.collect_all(plans)
    coverage_row = results[0]
    findings = results[1] if findings_lf is not None else pl.DataFrame()
    positions = results[-1] if keep_positions else None
    if findings_lf is None or findings.height == 0:
        findings = _empty_findings(context)
    findings = findings.with_columns(_finding_ids(findings))
    findings = sort_findings(findings).select(*FINDING_COLUMNS, "severity_rank", *context)
    coverage = pl.DataFrame(
        {
            "policy_id": [c.policy.id for c in compiled],
            "rule_id": [c.rule.id for c in compiled],
            "check": [c.check.name for c in compiled],
            "kind": [c.rule.kind for c in compiled],
            "severity": [c.rule.severity.label for c in compiled],
            "description": [c.rule.description or c.check.description for c in compiled],
            "check_description": [c.check.description for c in compiled],
            "covered": [int(coverage_row[f"covered_{i}"][0]) for i in range(len(compiled))],
            "breached": [int(coverage_row[f"breached_{i}"][0]) for i in range(len(compiled))],
            "near": [int(coverage_row[f"near_{i}"][0]) for i in range(len(compiled))],
        },
        schema={"policy_id": pl.String, "rule_id": pl.String, "check": pl.String, "kind": pl.String,
                "severity": pl.String, "description": pl.String, "check_description": pl.String,
                "covered": pl.Int64, "breached": pl.Int64, "near": pl.Int64},
    )
    return Evaluation(findings=findings, coverage=coverage, positions=positions)


def _empty_findings(context: list[str]) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {c: pl.String() for c in FINDING_COLUMNS if c != "finding_id"}
    schema["observed"] = pl.Float64()
    schema["limit"] = pl.Float64()
    schema["severity_rank"] = pl.Int8()
    for c in context:
        schema[c] = pl.Int64() if c == "__row" else pl.String()
    return pl.DataFrame(schema=schema)
