"""`check --streaming`: books larger than memory.

Two reads of the Parquet scan (a file, a directory of part files, a hive-partitioned dataset):

1. validation, in Polars' streaming engine: every row check of the in-memory loader is counted in
   one pass, and duplicate position ids are found by sorting 8-byte hashes (not a set of the ids).
   A bad book stops here with the in-memory check's DataError, and no output is written.
2. evaluation, a chunk of positions at a time (at most CHUNK rows of one part file) with the
   in-memory engine, each chunk's findings written as soon as they are known: memory is bounded by
   the chunk, whatever expressions the rules use (some, such as ``replace_strict``, make Polars'
   streaming engine hold a whole column). A Parquet output is the chunks' files copied into one
   by a final streaming pass; a CSV output is appended to.

The findings are the in-memory mode's (same columns, messages and ids), in order within a chunk but
not across chunks: ``sort_findings`` on the written table gives the in-memory order. Not supported
(an error says so): account-scope checks and rules on account aggregates (they need every position
of an account at once), --report, --history, --waivers, and JSON output.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from policy_engine import progress
from policy_engine.api import ACCOUNT_AGGREGATES, base_frame
from policy_engine.columns import ACCOUNT_KEY
from policy_engine.compile import compile_pack, referenced_columns
from policy_engine.data import Inputs, validated_inputs
from policy_engine.data.issues import Check
from policy_engine.data.stream import TypedScan, has_duplicate_ids, issues, typed_scan
from policy_engine.errors import DataError, Issue, UsageError
from policy_engine.evaluate import FINDING_COLUMNS, evaluate
from policy_engine.model import PolicyPack, Severity
from policy_engine.policy import load_pack
from policy_engine.preflight import column_issues, profile_issues

FORMATS = ("parquet", "csv")
CHUNK = 5_000_000  # positions evaluated at a time: about 2.5 GB at the peak


@dataclass(frozen=True, slots=True)
class StreamResult:
    pack: PolicyPack
    positions: int
    accounts: int
    coverage: pl.DataFrame  # policy_id, rule_id, check, severity, covered, breached, near
    output: str


def _accounts(
    accounts: str | Path | None, market: str | Path | None, column_map: Mapping[str, str] | None
) -> Inputs:
    """Accounts and market data, small enough for memory: validated by the in-memory loader. The
    accounts keep their key column (columns.ACCOUNT_KEY): each chunk's validated_inputs takes it."""
    from policy_engine.data.market import Market, load_market
    from policy_engine.data.read import read
    from policy_engine.data.validate import check_accounts

    if accounts is None:
        raise UsageError(
            "--streaming needs --accounts FILE (account columns are not read from the positions)"
        )
    problems: list[Issue] = []
    table = read(accounts, "accounts", column_map)
    frame, more = check_accounts(table)
    problems += more
    market_data = Market(None, None)
    if market is not None:
        try:
            market_data = load_market(market, column_map)
        except DataError as exc:
            problems += exc.issues
    if problems:
        raise DataError(problems)
    files = (("accounts", str(accounts)),) + ((("market", str(market)),) if market is not None else ())
    return Inputs(pl.DataFrame(), frame, market_data.volatility, market_data.brackets, files)


def _refuse_unsupported(pack: PolicyPack, compiled: tuple[Any, ...]) -> None:
    unsupported = tuple(
        c for c in compiled if c.check.scope == "account" or referenced_columns((c,)) & ACCOUNT_AGGREGATES
    )
    if unsupported:
        account_scope = sorted({c.rule.id for c in unsupported if c.check.scope == "account"})
        aggregates = sorted(referenced_columns(unsupported) & ACCOUNT_AGGREGATES)
        what = ", ".join(
            [
                *(f"rule {r} (one finding per account)" for r in account_scope),
                *(f"column {a} (an account aggregate)" for a in aggregates),
            ]
        )
        # the policies to leave out for a streaming run (the rest of the pack streams)
        needs = sorted({
            c.policy.source.file if c.policy.source is not None else f"policy {c.policy.id}"
            for c in unsupported
        })  # fmt: skip
        raise UsageError(
            f"--streaming evaluates positions one at a time and cannot run {what}: run without --streaming, "
            f"or stream the policies without them (they are in {', '.join(needs)}) and check those in memory"
        )


def check(
    policies: str | Path | PolicyPack,
    positions: str | Path,
    accounts: str | Path | None,
    output: str,
    fmt: str | None = None,
    market: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    chunk: int = CHUNK,
    allow_empty: bool = False,
) -> StreamResult:
    """Validate the book in a streaming pass, then evaluate it a chunk at a time into ``output``."""
    fmt = fmt or (Path(output).suffix.lower().lstrip(".") or "parquet")
    if fmt not in FORMATS or output == "-":
        raise UsageError(
            "--streaming writes the findings as they are produced: --output FILE.parquet or FILE.csv"
        )
    with progress.stage("policies"):
        pack = policies if isinstance(policies, PolicyPack) else load_pack(policies)
        compiled = compile_pack(pack)
        _refuse_unsupported(pack, compiled)
    with progress.stage("loading", str(accounts)):
        acc = _accounts(accounts, market, column_map)
        scan_ = typed_scan(positions, column_map)
    assert acc.accounts is not None
    total = scan_.rows
    if total == 0 and not allow_empty:  # as api.check: a broken export must not pass as "no findings"
        raise DataError(
            [
                Issue(
                    str(positions),
                    "the positions file has no rows; if an empty book is expected, pass --allow-empty",
                )
            ]
        )
    with progress.stage("validating", f"{total:,} positions"):
        names = [n for n in scan_.positions().collect_schema().names() if n != ACCOUNT_KEY]
        problems = profile_issues(pack, acc.accounts, str(accounts)) + column_issues(
            pack, names, str(positions)
        )
        if problems:
            raise DataError(problems)
        known = acc.accounts.get_column("account_id").unique().implode()
        account = pl.col("__value_account_id")
        unknown = account.is_not_null() & ~account.is_in(known)
        checks = [
            *scan_.checks,
            Check(scan_.table.label("account_id"), f"account not in {accounts}", unknown, account),
        ]
        counts = list(
            scan_.worked.select(c.bad.fill_null(False).sum().alias(f"bad{i}") for i, c in enumerate(checks))
            .collect(engine="streaming")
            .row(0)
        )
        duplicates = has_duplicate_ids(scan_)
        if any(counts) or duplicates:
            raise DataError(issues(scan_, checks, counts, duplicates))
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        with progress.stage("evaluating", f"{total:,} positions into {output}"):
            coverage = _evaluate_chunks(scan_, acc, pack, compiled, partial, fmt, chunk, total)
        os.replace(partial, target)
    finally:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        partial.unlink(missing_ok=True)
    return StreamResult(pack, total, acc.accounts.height, _coverage(compiled, coverage), output)


def _evaluate_chunks(
    scan_: TypedScan,
    acc: Inputs,
    pack: PolicyPack,
    compiled: tuple[Any, ...],
    out: Path,
    fmt: str,
    chunk: int,
    total: int,
) -> list[tuple[int, int, int]]:
    """Evaluate the book a chunk at a time (the in-memory engine on each: bounded memory whatever
    the rules' expressions), writing each chunk's findings as soon as they are known."""
    coverage = [(0, 0, 0)] * len(compiled)
    parts_dir = out.with_name(out.name + ".parts")
    parts_dir.mkdir()
    written: list[Path] = []
    done = 0
    try:
        chunks = (
            scan_.chunks(chunk) if total else iter([scan_.positions().head(0)])
        )  # an empty book: its header
        for k, lf in enumerate(chunks):
            frame = lf.collect(engine="streaming")
            inputs = validated_inputs(frame, acc.accounts, acc.volatility, acc.brackets, acc.files)
            result = evaluate(base_frame(inputs, pack.settings, keep_order=False), compiled)
            findings = result.findings.select(FINDING_COLUMNS)
            if fmt == "csv":
                with open(out, "ab") as fh:
                    findings.write_csv(fh, include_header=k == 0)
            elif findings.height or not written:
                written.append(parts_dir / f"{k:06d}.parquet")
                findings.write_parquet(written[-1])
            cov = result.coverage.select("covered", "breached", "near").rows()
            coverage = [(a + x, b + y, c + z) for (a, b, c), (x, y, z) in zip(coverage, cov)]
            done += frame.height
            progress.advance(done, total)
            del frame, inputs, result, findings
        if fmt == "parquet":  # one file: the parts copied in one streaming pass
            pl.scan_parquet(written).sink_parquet(out, maintain_order=True)
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    return coverage


def _coverage(compiled: tuple[Any, ...], counts: list[tuple[int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "policy_id": [c.policy.id for c in compiled],
            "rule_id": [c.rule.id for c in compiled],
            "check": [c.check.name for c in compiled],
            "severity": [int(c.rule.severity) for c in compiled],
            "covered": [n[0] for n in counts],
            "breached": [n[1] for n in counts],
            "near": [n[2] for n in counts],
        },
        schema={
            "policy_id": pl.String,
            "rule_id": pl.String,
            "check": pl.String,
            "severity": pl.Int8,
            "covered": pl.Int64,
            "breached": pl.Int64,
            "near": pl.Int64,
        },
    )


def worst(result: StreamResult) -> int:
    """The worst severity among the findings written (0 when none)."""
    levels = [int(row["severity"]) for row in result.coverage.iter_rows(named=True) if row["breached"]]
    levels += [
        min(int(row["severity"]), int(Severity.WARNING))
        for row in result.coverage.iter_rows(named=True)
        if row["near"]
    ]
    return max(levels, default=0)


def render(result: StreamResult) -> str:
    from policy_engine import __version__

    cov = result.coverage
    breached, near = int(cov.get_column("breached").sum()), int(cov.get_column("near").sum())
    lines = [
        (
            f"policy-engine {__version__} (streaming): {result.positions:,} positions in "
            f"{result.accounts:,} accounts; {len(result.pack.policies)} policies, "
            f"{cov.select('policy_id', 'rule_id').unique().height} rules"
        ),
        f"findings: {breached + near:,} ({breached:,} breaches, {near:,} near-limit warnings)",
        "",
        "by rule (covered positions -> breaches, near-limit):",
    ]
    for row in cov.iter_rows(named=True):
        name = f"{row['policy_id']}/{row['rule_id']} [{row['check']}]"
        lines.append(
            f"  {name:<58} {row['covered']:>12,} -> {row['breached']:>10,} breach, {row['near']:>9,} near"
        )
    return "\n".join(lines) + "\n"


def run_command(args: Any) -> int:
    """`check --streaming`, from the parsed command line."""
    from policy_engine.commands.common import SEVERITIES, column_map

    unsupported = [
        f"--{name.replace('_', '-')}"
        for name in ("report", "history", "waivers")
        if getattr(args, name, None)
    ]
    if unsupported or not args.output:
        raise UsageError(
            f"--streaming writes --output FILE.parquet or FILE.csv only"
            f"{'; not with ' + ', '.join(unsupported) if unsupported else ''}"
        )
    result = check(
        args.policies,
        args.positions,
        args.accounts,
        args.output,
        args.format,
        args.market,
        column_map(args),
        allow_empty=getattr(args, "allow_empty", False),
    )
    if not args.quiet:
        import sys

        sys.stdout.write(render(result) + f"wrote {args.output}\n")
    if args.fail_on == "never":
        return 0
    return 1 if worst(result) >= SEVERITIES.index(args.fail_on) + 1 else 0
