"""Evaluate compiled checks: one lazy plan over the positions, collected once.

Every check's verdict is computed once per position, as flags (covered, breached, near); the
positions some check flagged are kept, with the coverage counts riding along; each check's
findings are built from those rows, sorted by account and position, with their ids, and the
parts are concatenated in ``sort_findings``' order. ``pl.collect_all`` runs it as one plan, so
the shared frames (joins, derived metrics, flags) are computed once. docs/performance.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import polars_hash as plh

from policy_engine.compile import CompiledCheck
from policy_engine.model import Severity
from policy_engine.rules.kind import LIMIT, OBSERVED

# Public finding columns, in output order (docs/architecture.md, "Findings").
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


def _flag(i: int, what: str) -> str:
    return f"__check{i}_{what}"


def _flag_frame(base: pl.LazyFrame, compiled: tuple[CompiledCheck, ...]) -> pl.LazyFrame:
    """The positions with, per check i, three booleans: covered, breached, near (near only when
    the check has a band). One pass: each check's observed value, limit and verdict are computed
    once over every position; findings and coverage both read these flags."""
    lf = base
    for i, c in enumerate(compiled):
        breach = c.applies & c.check.breach.fill_null(False)
        flags = [c.applies.alias(_flag(i, "covered")), breach.alias(_flag(i, "breached"))]
        if c.check.near is not None:
            flags.append((c.applies & ~breach & c.check.near.fill_null(False)).alias(_flag(i, "near")))
        lf = _with_values(lf, c).with_columns(flags)
    names = lf.collect_schema().names()
    return lf.drop([n for n in (OBSERVED.meta.output_name(), LIMIT.meta.output_name()) if n in names])


def _finding_frame(flags: pl.LazyFrame, c: CompiledCheck, i: int, context: list[str]) -> pl.LazyFrame:
    chk = c.check
    breach = pl.col(_flag(i, "breached"))
    flagged = breach if chk.near is None else breach | pl.col(_flag(i, "near"))
    sev, near_sev = c.rule.severity, _near_severity(c.rule.severity)
    # observed value and limit again, on the flagged rows only (a few percent of the positions)
    flagged_rows = _with_values(flags.filter(flagged), c)
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


def _coverage_aggs(compiled: tuple[CompiledCheck, ...]) -> list[pl.Expr]:
    """Per check, how many positions (accounts, for account-scope checks) it covered, breached and
    came near: ``covered_i``, ``breached_i``, ``near_i`` over the flag frame."""
    aggs: list[pl.Expr] = []
    for i, c in enumerate(compiled):
        masks = {k: pl.col(_flag(i, k)) for k in ("covered", "breached")}
        masks["near"] = pl.lit(False) if c.check.near is None else pl.col(_flag(i, "near"))
        if c.check.scope == "account":
            aggs += [pl.col("account_id").filter(m).n_unique().alias(f"{k}_{i}") for k, m in masks.items()]
        else:
            aggs += [m.sum().alias(f"{k}_{i}") for k, m in masks.items()]
    return aggs


def _coverage_frame(flags: pl.LazyFrame, compiled: tuple[CompiledCheck, ...]) -> pl.LazyFrame:
    """One row of coverage counts (see _coverage_aggs)."""
    aggs = _coverage_aggs(compiled)
    return flags.select(aggs) if aggs else flags.select(pl.len().alias("n")).head(0)


def hit(compiled: tuple[CompiledCheck, ...], near: bool = True) -> pl.Expr:
    """Whether some check breached (or, with ``near``, came near) on the position, over the flags."""
    return pl.any_horizontal(
        pl.col(_flag(i, what)) for i, c in enumerate(compiled)
        for what in (("breached", "near") if near and c.check.near is not None else ("breached",))
    )  # fmt: skip


def _hit_frame(flags: pl.LazyFrame, compiled: tuple[CompiledCheck, ...]) -> pl.LazyFrame:
    """The flagged positions only (breached or near for some check), with the coverage counts of all
    positions riding along as constant columns. This is the frame every check's findings are built
    from, so the plan keeps a few tens of percent of the book in memory instead of all of it."""
    return flags.with_columns(_coverage_aggs(compiled)).filter(hit(compiled))


ID_COLUMNS = ("policy_id", "rule_id", "check", "account_id", "position_id")


def finding_id() -> pl.Expr:
    """The first 16 hex digits of the sha256 of a finding's identity: ``policy, rule, check, account,
    position`` as UTF-8 text joined by U+001F (a missing position as empty text). The same breach gets
    the same id on every run, whatever else changed. sha256 because it is stable across versions and
    platforms, unlike Polars' ``hash``; computed by polars-hash inside the plan (native code, off the
    GIL, on either engine), where hashlib needs a Python call per finding."""
    key = pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in ID_COLUMNS], separator="\x1f")
    return plh.CryptographicHashingNameSpace(key).sha2_256().str.slice(0, 16).alias("finding_id")


def _finding_ids(df: pl.DataFrame) -> pl.Series:
    return df.select(finding_id()).to_series()


def sort_findings(df: pl.DataFrame) -> pl.DataFrame:
    """The deterministic order: worst first, then by policy, rule, check, account, position."""
    return df.sort(
        ["severity_rank", "policy_id", "rule_id", "check", "account_id", "position_id"],
        descending=[True, False, False, False, False, False],
    )


def _ordered_parts(
    flags: pl.LazyFrame, compiled: tuple[CompiledCheck, ...], context: list[str]
) -> list[pl.LazyFrame]:
    """The findings in sort_findings' order without sorting them all: one part per check and
    severity, each sorted by account and position (in parallel, inside the plan), concatenated in
    the order of (severity descending, policy, rule, check)."""
    keyed: list[tuple[tuple[int, str, str, str], pl.LazyFrame]] = []
    for i, c in enumerate(compiled):
        frame = _finding_frame(flags, c, i, context)
        sev, near_sev = int(c.rule.severity), int(_near_severity(c.rule.severity))
        if c.check.near is None or sev == near_sev:
            keyed.append(((-sev, *c.key), frame))
        else:
            for rank in (sev, near_sev):
                keyed.append(((-rank, *c.key), frame.filter(pl.col("severity_rank") == rank)))
    keyed.sort(key=lambda kv: kv[0])
    columns = [*FINDING_COLUMNS, "severity_rank", *context]
    return [
        frame.sort("account_id", "position_id").with_columns(finding_id()).select(columns) for _, frame in keyed
    ]


def evaluate(base: pl.LazyFrame, compiled: tuple[CompiledCheck, ...], keep_positions: bool = False) -> Evaluation:
    """Run every check over ``base`` (positions with derived metrics) in one collect."""
    schema = base.collect_schema()
    context = [c for c in CONTEXT_COLUMNS if c in schema]
    flags = _flag_frame(base, compiled)
    hits = _hit_frame(flags, compiled) if compiled else flags
    parts = _ordered_parts(hits, compiled, context)
    counts = [f"{k}_{i}" for i in range(len(compiled)) for k in ("covered", "breached", "near")]
    plans = [hits.select(pl.col(counts).first()) if compiled else _coverage_frame(flags, compiled)]
    if parts:  # the findings come out of the plan complete and in order: nothing is copied afterwards
        plans.append(pl.concat(parts, how="vertical"))
    if keep_positions:
        plans.append(base)
    results = pl.collect_all(plans, engine="in-memory")  # one plan: the shared frames are computed once
    coverage_row = results[0]
    if compiled and coverage_row.row(0)[0] is None:  # no position flagged: nothing carried the counts
        coverage_row = _coverage_frame(flags, compiled).collect(engine="in-memory")
    positions = results[-1] if keep_positions else None
    findings = results[1] if parts else pl.DataFrame()
    if findings.height == 0:
        findings = _empty_findings(context).with_columns(pl.lit(None, dtype=pl.String).alias("finding_id"))
        findings = findings.select(*FINDING_COLUMNS, "severity_rank", *context)
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
