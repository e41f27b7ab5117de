"""Turn row checks into Issues: one per (file, column, problem), with the count and the first rows.

A check is a boolean Polars expression that is true on every offending row. All checks of a frame
are evaluated in one pass; the rows are never visited from Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import polars as pl

from policy_engine.data.read import ROW, SOURCE
from policy_engine.errors import Issue

SAMPLE_ROWS = 5
SAMPLE_VALUES = 3
_MAX_VALUE_CHARS = 40


@dataclass(frozen=True, slots=True)
class Check:
    """``bad`` is true on the offending rows (null counts as fine); ``got`` is the value to quote."""

    where: str  # the column, as the user names it
    message: str  # what is wrong and what is allowed, e.g. "must be > 0"
    bad: pl.Expr
    got: pl.Expr | None = None


def row_issues(
    frame: pl.DataFrame | pl.LazyFrame, checks: list[Check], unit: str, counts: Sequence[int] | None = None
) -> list[Issue]:
    """Evaluate every check on ``frame`` (which has ``__row``/``__source``) and summarise the hits.

    A LazyFrame (a scan larger than memory) is read with the streaming engine; ``counts``, when the
    caller counted the offending rows already (in its own pass), skips the counting pass.
    """
    lazy = isinstance(frame, pl.LazyFrame)
    if not checks or (not lazy and frame.height == 0):
        return []
    engine = "streaming" if lazy else "in-memory"
    # one pass that only counts (no per-row flags are kept); the offending rows are looked at
    # again only for the checks that found some, which is the rare, error path
    if counts is None:
        counts = frame.lazy().select(
            c.bad.fill_null(False).sum().alias(f"bad{i}") for i, c in enumerate(checks)
        ).collect(engine=engine).row(0)
    issues: list[Issue] = []
    for i, check in enumerate(checks):
        if not counts[i]:
            continue
        got = _text(check.got) if check.got is not None else pl.lit(None, dtype=pl.String)
        summary = (
            frame.lazy().filter(check.bad.fill_null(False))
            .group_by(SOURCE)
            .agg(
                pl.len().alias("n"),
                pl.col(ROW).sort().head(SAMPLE_ROWS).alias("rows"),
                got.sort_by(ROW).drop_nulls().unique(maintain_order=True).head(SAMPLE_VALUES).alias("got"),
                got.drop_nulls().n_unique().alias("distinct"),
            )
            .sort(SOURCE)
            .collect(engine=engine)
        )
        for source, n, rows, values, distinct in summary.iter_rows():  # one per file, not per row
            issues.append(_issue(check, source, n, rows, values, distinct, unit))
    return issues


def _text(expr: pl.Expr) -> pl.Expr:
    shown = expr.cast(pl.String, strict=False)
    return (
        pl.when(shown.str.len_chars() > _MAX_VALUE_CHARS)
        .then(shown.str.slice(0, _MAX_VALUE_CHARS - 3) + "...")
        .otherwise(shown)
    )


def _issue(
    check: Check, source: str, n: int, rows: list[int], values: list[str], distinct: int, unit: str
) -> Issue:
    message = check.message
    if values:
        message += f" (got {', '.join(values)}{', ...' if distinct > len(values) else ''})"
    if n > 1:
        first = "" if n <= SAMPLE_ROWS else f", first {SAMPLE_ROWS}"
        message += f"; {n} rows{first}: {unit}s {', '.join(map(str, rows))}"
    return Issue(source=source, message=message, line=rows[0], where=check.where)
