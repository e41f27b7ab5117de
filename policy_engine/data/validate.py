"""Type and validate the positions and accounts tables against the data contract (columns.py).

Every check is a Polars expression over the whole frame; every problem found is returned, none is
raised here, so that the caller reports all of them in one DataError.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import polars as pl

from policy_engine.columns import ACCOUNT_COLUMNS, ACCOUNT_KEY, POSITION_COLUMNS, Column
from policy_engine.data.issues import Check, row_issues
from policy_engine.data.read import ROW, SOURCE, Table, did_you_mean
from policy_engine.errors import Issue

DTYPES: Mapping[str, pl.DataType] = {"str": pl.String(), "float": pl.Float64(), "int": pl.Int64()}
# Beyond "> 0": a leverage below 1x is a fraction typed where a multiple was meant.
MINIMUM: Mapping[str, float] = {"leverage": 1.0}
CHOICES: Mapping[str, tuple[str, ...]] = {"side": ("long", "short"), "margin_mode": ("isolated", "cross")}
LOWERED = frozenset({"side", "margin_mode", "asset_class"})
DEFAULT_MARGIN_MODE = "isolated"
ACCOUNT_FIELDS: tuple[Column, ...] = tuple(c for c in ACCOUNT_COLUMNS if c.name != "account_id")
ID_KEY = ("account_id", "venue", "symbol", "side", "margin_mode")
# Derived ids of repeated keys are numbered in this order, so that row order matters only for twins.
ID_ORDER = ("entry_price", "quantity", "leverage", "isolated_margin", "mark_price",
            "stop_loss_price", "take_profit_price")  # fmt: skip


def check_positions(table: Table) -> tuple[pl.DataFrame, list[Issue]]:
    """Typed, normalised positions (ids derived where absent) and every problem found."""
    inline = tuple(replace(c, required=False) for c in ACCOUNT_FIELDS if c.name in table.frame.columns)
    frame, issues = typed(table, (*POSITION_COLUMNS, *inline))
    raw = table.frame
    margin = [c for c in ("leverage", "isolated_margin") if c in raw.columns]
    checks = [
        Check(
            table.label(name), f"must be {' or '.join(allowed)}", ~pl.col(name).is_in(allowed), pl.col(name)
        )
        for name, allowed in CHOICES.items()
    ]
    if margin:
        absent = pl.all_horizontal(blank(c, raw.schema[c]) for c in margin)
        needs = Check(table.label(margin[0]), "a position needs leverage or isolated_margin", absent)
        issues += row_issues(raw, [needs], table.unit)
    elif not _schemaless(table):
        why = "missing column: a position needs leverage or isolated_margin"
        issues.append(_missing(table, "leverage", why, POSITION_COLUMNS))
    frame = frame.with_columns(pl.col("margin_mode").fill_null(DEFAULT_MARGIN_MODE))
    derived = frame.get_column("position_id").null_count() > 0
    frame = derive_ids(frame) if derived else frame
    if derived or _has_duplicates(raw, "position_id"):  # else the check would find nothing
        duplicate = pl.col("position_id").is_duplicated() & pl.col("position_id").is_not_null()
        checks.append(
            Check(table.label("position_id"), "duplicate position_id", duplicate, pl.col("position_id"))
        )
    issues += row_issues(frame, checks, table.unit)
    return frame, issues


def _has_duplicates(raw: pl.DataFrame, name: str) -> bool:
    """Whether two non-null cells of a column may stand for one id (conservative: True when unsure).

    Counting distinct values is one cheap pass, and on integer ids cheaper still than on their text
    (distinct integers have distinct text); text cells are compared stripped, as typing leaves them.
    """
    if name not in raw.columns:
        return True
    dtype = raw.schema[name]
    column = pl.col(name) if dtype.is_integer() else text(name, dtype) if dtype == pl.String else None
    if column is None:
        return True
    counts = raw.lazy().select(
        column.drop_nulls().n_unique().alias("distinct"), column.count().alias("present")
    )
    distinct, present = counts.collect(engine="in-memory").row(0)
    return bool(distinct < present)


def blank(name: str, dtype: pl.DataType) -> pl.Expr:
    """The cell has no value: null, or (for text) empty after stripping."""
    return pl.col(name).is_null() if _never_blank(dtype) else text(name, dtype).is_null()


def check_accounts(table: Table) -> tuple[pl.DataFrame, list[Issue]]:
    """Typed accounts and every problem found; optional columns missing from the file are null."""
    frame, issues = typed(table, ACCOUNT_COLUMNS)
    duplicate = pl.col("account_id").is_duplicated() & pl.col("account_id").is_not_null()
    check = Check(table.label("account_id"), "duplicate account_id", duplicate, pl.col("account_id"))
    return frame, issues + row_issues(frame, [check], table.unit)


def typed(table: Table, columns: tuple[Column, ...]) -> tuple[pl.DataFrame, list[Issue]]:
    """Cast the contract's columns, checking types, required values, finiteness and signs.

    Text is stripped (an empty cell is null); numbers are Float64; ids are text even when the
    file stores integers. Columns the contract has and the file lacks are added as nulls; the
    user's other columns are kept as they are.
    """
    raw = table.frame
    issues, work, checks, values = typing_plan(table, columns, _clean_text(raw, columns))
    worked = raw.with_columns(work)
    issues += row_issues(worked, checks, table.unit)
    return worked.select(values), issues


_FEW = 1_000  # distinct values in the first rows, to call a text column low-cardinality


def _clean_text(raw: pl.DataFrame, columns: tuple[Column, ...]) -> frozenset[str]:
    """Text columns of the contract whose every distinct value is already what typing makes of it
    (stripped, not empty, lower case where it is lowered): typing them is then the identity.
    Looked at on the distinct values of low-cardinality columns only (side, margin_mode, symbol):
    stripping and lowering ten million cells that need neither is most of the validation time."""
    clean = set()
    for col in columns:
        if col.type != "str" or col.name not in raw.columns or raw.schema[col.name] != pl.String:
            continue
        series = raw.get_column(col.name)
        if series.head(10 * _FEW).n_unique() > _FEW:
            continue
        distinct = series.unique().drop_nulls()
        if distinct.len() > 10 * _FEW:
            continue
        typed_ = distinct.str.strip_chars()
        if col.name in LOWERED:
            typed_ = typed_.str.to_lowercase()
        if (typed_ == distinct).all() and not (distinct.str.len_bytes() == 0).any():
            clean.add(col.name)
    return frozenset(clean)


def typing_plan(
    table: Table, columns: tuple[Column, ...], clean: frozenset[str] = frozenset()
) -> tuple[list[Issue], list[pl.Expr], list[Check], list[pl.Expr | str]]:
    """How to type ``table`` (only its schema is read): (missing-column issues, the working columns
    to add, the row checks over them, the final selection). ``typed`` applies it to a frame;
    data/stream.py to a lazy scan. ``clean``: text columns that need no stripping or lowering."""
    raw = table.frame
    issues = [
        _missing(table, c.name, "required column is missing", columns)
        for c in columns
        if c.required and c.name not in raw.columns and not _schemaless(table)
    ]
    checks: list[Check] = []
    work: list[pl.Expr] = []  # typed values (and, for text sources of numbers, the text), computed once
    for col in columns:
        if col.name not in raw.columns:
            continue
        dtype = raw.schema[col.name]
        label = table.label(col.name)
        number = col.type in ("float", "int")
        # The text of a cell is needed to type text cells as numbers; elsewhere only to quote the
        # offending cells, so it stays an expression evaluated on those rows alone.
        materialise_text = number and dtype == pl.String
        shown = text(col.name, dtype)
        value, wrong_type = _value(col, dtype, shown)
        if col.name in clean:  # already typed text (see _clean_text)
            shown = value = pl.col(col.name)
        if materialise_text:
            work.append(shown.alias(f"__text_{col.name}"))
            shown = pl.col(f"__text_{col.name}")
        work.append(value.alias(f"__value_{col.name}"))
        value = pl.col(f"__value_{col.name}")
        # whether the cell holds text: a number (or a date...) always does; text when not blank
        present = pl.col(col.name).is_not_null() if _never_blank(dtype) else shown.is_not_null()
        if not number and not wrong_type:
            present = value.is_not_null()  # the (lowered) text is null exactly when the text is
        if wrong_type:
            holds = f"must be {'a number' if number else 'text'}; the column holds {dtype}"
            checks.append(Check(label, holds, pl.col(col.name).is_not_null(), shown))
        elif number:  # text that does not parse; for "int" also a fraction
            what = "a number" if col.type == "float" else "a whole number"
            checks.append(Check(label, f"must be {what}", present & value.is_null(), shown))
        if col.required and not wrong_type:
            checks.append(Check(label, "is required", pl.col(col.name).is_null() | ~present))
        if not number and dtype == pl.String:
            # ids and names are printed in summaries, annotations and reports: a line break or an
            # escape sequence in one is a broken export, never data
            control = pl.col(col.name).str.contains(r"[\x00-\x1f\x7f]")
            checks.append(Check(label, "must not contain control characters (line breaks, tabs, escapes)", control, shown))
        if col.type == "float":
            finite = value.is_finite()
            checks.append(Check(label, "must be a finite number", ~finite, shown))
            if col.name in MINIMUM:
                low = MINIMUM[col.name]
                checks.append(Check(label, f"must be >= {low:g}", finite & (value < low), shown))
            elif col.positive:
                checks.append(Check(label, "must be > 0", finite & (value <= 0), shown))
    ours = {c.name for c in columns}
    extras = [c for c in raw.columns if c not in ours and c not in (ROW, SOURCE)]
    values: list[pl.Expr | str] = [
        pl.col(f"__value_{c.name}").alias(c.name) if c.name in raw.columns
        else pl.lit(None, dtype=DTYPES[c.type]).alias(c.name)
        for c in columns
    ]  # fmt: skip
    if "account_id" in ours and "account_id" in raw.columns and raw.schema["account_id"].is_integer():
        values.append(pl.col("account_id").alias(ACCOUNT_KEY))  # the join key (columns.ACCOUNT_KEY)
    return issues, work, checks, [*values, *extras, ROW, SOURCE]


def text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A cell as stripped text, null when empty; null for types that have no text form."""
    if dtype == pl.String:
        stripped = pl.col(name).str.strip_chars()
    elif dtype.is_nested() or dtype == pl.Object:
        return pl.lit(None, dtype=pl.String)
    elif _never_blank(dtype):
        return pl.col(name).cast(pl.String)  # a number's text is never empty
    else:
        stripped = pl.col(name).cast(pl.String)
    return pl.when(stripped.str.len_chars() > 0).then(stripped)


def _never_blank(dtype: pl.DataType) -> bool:
    """Types whose values always have a non-empty text form (a null stays null)."""
    return dtype.is_numeric() or dtype == pl.Boolean


def _value(col: Column, dtype: pl.DataType, shown: pl.Expr) -> tuple[pl.Expr, bool]:
    """The typed value of a contract column, and whether the file's type cannot hold it at all."""
    if col.type in ("float", "int"):
        target = DTYPES[col.type]
        if dtype == pl.String:
            return shown.cast(target, strict=False), False
        if dtype.is_numeric() or dtype == pl.Null:
            return pl.col(col.name).cast(target, strict=False), False
        return pl.lit(None, dtype=target), True  # booleans, dates, lists: no silent 1.0
    if dtype.is_nested() or dtype == pl.Object:
        return pl.lit(None, dtype=pl.String), True
    return (shown.str.to_lowercase() if col.name in LOWERED else shown), False


def derive_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Fill absent position ids with account:venue:symbol:side:margin_mode, numbered #1.. when repeated."""
    key = pl.when(pl.col("position_id").is_null()).then(
        pl.format(
            "{}:{}:{}:{}:{}", *(pl.col(c).fill_null("-") if c == "venue" else pl.col(c) for c in ID_KEY)
        )
    )
    order = [*ID_ORDER, SOURCE, ROW]
    number = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("__key", order_by=order)
    numbered = (
        pl.when(pl.len().over("__key") > 1)
        .then(pl.format("{}#{}", pl.col("__key"), number))
        .otherwise(pl.col("__key"))
    )
    return (
        frame.with_columns(key.alias("__key"))
        .with_columns(pl.coalesce("position_id", numbered).alias("position_id"))
        .drop("__key")
    )


def _schemaless(table: Table) -> bool:
    """An empty JSON/NDJSON file names no columns: nothing is missing from zero records."""
    return table.frame.height == 0 and table.format in ("json", "ndjson")


def _missing(table: Table, name: str, why: str, columns: tuple[Column, ...]) -> Issue:
    known = {c.name for c in (*POSITION_COLUMNS, *ACCOUNT_COLUMNS)}
    present = [c for c in table.frame.columns if c not in known and c not in (ROW, SOURCE)]
    match = did_you_mean(name, present)
    hint = f" (did you mean {table.label(match)!r}?)" if match else ""
    required = ", ".join(c.name for c in columns if c.required)
    optional = ", ".join(c.name for c in columns if not c.required)
    return Issue(
        table.source,
        f"{why}{hint}; required columns: {required}; optional: {optional}",
        1 if table.format == "csv" else None,
        where=name,
    )
