"""Load and validate a proposed trade list (CSV, JSON, NDJSON or Parquet), like a snapshot.

The trade list is read by the snapshot reader (policy_engine.data.read) and typed by the snapshot
validator (policy_engine.data.validate.typed), so a bad cell is reported the same way: file, line,
column, what was found and what is allowed; every problem at once, as one DataError. A trade's
``__row`` is its line in the file (CSV: the physical line; JSON: the line where its object starts),
so that CI annotations, SARIF and JUnit point at the line to fix.

Columns (docs/gate.md): account_id, symbol, side (buy | sell), quantity (> 0) are required;
price, trade_id, position_id, venue, leverage, margin_mode, isolated_margin, stop_loss_price are
optional. Other columns (a comment, a ticket number) are kept and ignored, unless a name is so
close to one of ours that it is probably a typo, which is an error.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

import polars as pl

from policy_engine.columns import Column
from policy_engine.data.issues import Check, row_issues
from policy_engine.data.read import ROW, SOURCE, read
from policy_engine.data.validate import typed
from policy_engine.errors import DataError, Issue

TRADE_COLUMNS: tuple[Column, ...] = (
    Column("account_id", "str", True, doc="account the trade is for"),
    Column("symbol", "str", True, doc="instrument, as in the positions"),
    Column("side", "str", True, doc="buy | sell"),
    Column("quantity", "float", True, True, "size in base units (> 0)"),
    Column("price", "float", False, True, "expected fill price (default: the mark price)"),
    Column("trade_id", "str", doc="id of the trade (default: line-N)"),
    Column(
        "position_id",
        "str",
        doc="the position the trade targets, when the account holds several in the symbol",
    ),
    Column("venue", "str", doc="venue of the position the trade targets or opens"),
    Column("leverage", "float", False, True, "leverage of a position the trade opens (>= 1)"),
    Column("margin_mode", "str", doc="isolated | cross, for a position the trade opens (default isolated)"),
    Column("isolated_margin", "float", doc="margin to add (> 0) or release (< 0) with the trade"),
    Column("stop_loss_price", "float", False, True, "stop-loss to set on the resulting position"),
)
SIDES = ("buy", "sell")
MARGIN_MODES = ("isolated", "cross")
ORDER = "__seq"  # the trade's place in the combined trade list (files in the order given)
_TYPO_CUTOFF = 0.8


def load_trades(
    paths: Sequence[str], accounts: pl.DataFrame | None, column_map: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """Read and validate trade lists; one DataError listing every problem of every file.

    Several lists are applied as one, in the order given; ``trade_id`` defaults to ``line-N``
    (``<file name>:line-N`` when several files are given) and must be unique over all of them.
    """
    issues: list[Issue] = []
    frames = []
    for path in paths:
        try:
            frame, more = _load_one(path, column_map, prefix=Path(path).name + ":" if len(paths) > 1 else "")
        except DataError as exc:
            issues += exc.issues
            continue
        issues += more
        frames.append(frame)
    trades = pl.concat(frames, how="diagonal_relaxed") if frames else _empty()
    trades = trades.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(ORDER))
    checks = [Check("trade_id", "duplicate trade_id", pl.col("trade_id").is_duplicated(), pl.col("trade_id"))]
    if accounts is not None:
        known = accounts.get_column("account_id").implode()
        checks.append(
            Check(
                "account_id",
                "account not in the accounts file",
                ~pl.col("account_id").is_in(known),
                pl.col("account_id"),
            )
        )
    issues += row_issues(trades, checks, "line")
    if issues:
        raise DataError(issues)
    return trades


def _load_one(
    path: str, column_map: Mapping[str, str] | None, prefix: str
) -> tuple[pl.DataFrame, list[Issue]]:
    table = read(path, "trades", column_map)
    if table.format == "json":  # number records by the line they start on, before any check reports them
        lines = _json_lines(Path(path), table.frame.height)
        table = replace(table, frame=table.frame.with_columns(lines), unit="line")
    issues = _typos(table.frame.columns, path)
    frame, more = typed(table, TRADE_COLUMNS)
    issues += more
    checks = [
        Check(table.label("side"), "must be buy or sell", ~pl.col("side").is_in(SIDES), pl.col("side")),
        Check(
            table.label("margin_mode"),
            "must be isolated or cross",
            ~pl.col("margin_mode").is_in(MARGIN_MODES),
            pl.col("margin_mode"),
        ),
    ]
    issues += row_issues(frame, checks, table.unit)
    default_id = pl.format(prefix + "line-{}", pl.col(ROW))
    frame = frame.with_columns(pl.coalesce("trade_id", default_id).alias("trade_id"))
    return frame.select(*(c.name for c in TRADE_COLUMNS), ROW, SOURCE), issues


def _typos(columns: list[str], source: str) -> list[Issue]:
    """A column one or two letters away from ours ('stop_loss_prce') would be silently ignored."""
    ours = [c.name for c in TRADE_COLUMNS]
    issues = []
    for name in columns:
        if name in ours or name.startswith("__"):
            continue
        match = difflib.get_close_matches(name, ours, n=1, cutoff=_TYPO_CUTOFF)
        if match:
            issues.append(
                Issue(source, f"unknown column {name!r}: did you mean {match[0]!r}?", 1, where=name)
            )
    return issues


def _json_lines(path: Path, n: int) -> pl.Expr:
    """The line on which each record of a JSON array starts (the reader numbers records 1..n)."""
    text = path.read_text(encoding="utf-8-sig")
    lines = record_lines(text)
    if len(lines) != n:  # cannot happen for a file the reader accepted; keep record numbers then
        return pl.col(ROW)
    return pl.Series(ROW, lines, dtype=pl.Int64).alias(ROW) if n else pl.col(ROW)


def record_lines(text: str) -> list[int]:
    """1-based line of each object in the top-level array (or the array under a "trades" key)."""
    decoder = json.JSONDecoder()
    start = text.find("[")
    key = text.find('"trades"')
    if 0 <= key < start or (key >= 0 and text.lstrip().startswith("{")):
        start = text.find("[", key)
    pos, lines = start + 1, []
    while 0 < pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        lines.append(text.count("\n", 0, pos) + 1)
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
    return lines


def _empty() -> pl.DataFrame:
    dtypes = {"str": pl.String, "float": pl.Float64}
    schema = {c.name: dtypes[c.type] for c in TRADE_COLUMNS} | {ROW: pl.Int64, SOURCE: pl.String}
    return pl.DataFrame(schema=schema)
