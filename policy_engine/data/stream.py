"""Positions as lazy Parquet scans, typed and checked by the same rules as the in-memory path.

For books larger than memory (``check --streaming``): nothing here holds the whole book. The scan
reads a Parquet file, or a directory of part files (hive ``key=value`` directories become text
columns), with ``__row`` (the record in its part file) and ``__source`` (the part file) exactly as
data/read.py gives them. ``TypedScan.worked`` carries the working columns the row checks read, for
one streaming pass that only counts; ``TypedScan.chunks`` gives the typed positions a slice of a
part file at a time, for the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping
from urllib.parse import unquote

import polars as pl

from policy_engine.columns import ACCOUNT_COLUMNS, POSITION_COLUMNS
from policy_engine.data.files import hidden
from policy_engine.data.issues import Check, row_issues
from policy_engine.data.read import ROW, SOURCE, Table, rename_plan
from policy_engine.data.validate import CHOICES, DEFAULT_MARGIN_MODE, blank, typing_plan
from policy_engine.errors import DataError, Issue


@dataclass(frozen=True, slots=True)
class TypedScan:
    worked: pl.LazyFrame  # the whole book, raw, with the working columns the checks read
    checks: tuple[Check, ...]  # a row is bad where ``check.bad`` is true
    ids: pl.Expr  # the position ids as compared for duplicates
    table: Table  # schema only (an empty frame): labels, unit, source for messages
    parts: tuple[tuple[pl.LazyFrame, int], ...]  # (raw part aligned to the book's schema, rows)
    typed: Callable[[pl.LazyFrame], pl.LazyFrame]  # raw rows -> typed positions

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.parts)

    def positions(self) -> pl.LazyFrame:
        """The whole book, typed (for its schema)."""
        return self.typed(self.worked)

    def chunks(self, size: int) -> Iterator[pl.LazyFrame]:
        """The typed positions, at most ``size`` rows at a time, part file by part file."""
        for part, n in self.parts:
            for offset in range(0, n, size):
                yield self.typed(part.slice(offset, size))


def _part_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(
        (f for f in path.rglob("*.parquet") if f.is_file() and not hidden(f.relative_to(path))),
        key=lambda f: f.relative_to(path).as_posix(),
    )
    if not files:
        raise DataError([Issue(str(path), "directory holds no .parquet files")])
    return files


def _scan_parts(path: str | Path) -> list[pl.LazyFrame]:
    root = Path(path)
    if not root.exists():
        raise DataError([Issue(str(path), "positions file does not exist")])
    if root.is_file() and root.suffix.lower() not in (".parquet", ".pq"):
        raise DataError([Issue(str(path), "streaming reads Parquet: a .parquet file or a directory of them")])
    parts = []
    for f in _part_files(root):
        source = str(path) if root.is_file() else str(f)
        part = pl.scan_parquet(f, hive_partitioning=False, row_index_name=ROW, row_index_offset=1)
        names = part.collect_schema().names()
        partitions = (
            []
            if root.is_file()
            else [  # hive directories below the given one, as text
                pl.lit(unquote(value), dtype=pl.String).alias(key)
                for key, _, value in (d.partition("=") for d in f.relative_to(root).parent.parts if "=" in d)
                if key not in names
            ]
        )
        part = part.with_columns(
            *partitions, pl.col(ROW).cast(pl.Int64), pl.lit(source, dtype=pl.String).alias(SOURCE)
        )
        parts.append(
            part.select(*(c for c in part.collect_schema().names() if c not in (ROW, SOURCE)), ROW, SOURCE)
        )
    return parts


def typed_scan(path: str | Path, column_map: Mapping[str, str] | None = None) -> TypedScan:
    """The book's scan, its typing and its row checks: the rules of validate.check_positions (the
    "account not in the accounts file" check is the caller's, which has the accounts)."""
    raw_parts = _scan_parts(path)
    book = raw_parts[0] if len(raw_parts) == 1 else pl.concat(raw_parts, how="diagonal_relaxed")
    schema = book.collect_schema()
    renames, labels, issues = rename_plan(schema.names(), str(path), column_map, None)
    renamed = {new: schema[old] for old, new in renames.items()} | {ROW: pl.Int64(), SOURCE: pl.String()}
    table = Table(pl.DataFrame(schema=renamed), str(path), "parquet", labels, "record")
    inline = [c.name for c in ACCOUNT_COLUMNS if c.name != "account_id" and c.name in renamed]
    if inline:
        issues.append(
            Issue(
                str(path),
                f"streaming takes account columns from --accounts only; the positions "
                f"carry {', '.join(inline)}: drop them or run without --streaming",
            )
        )
    if "position_id" not in renamed:
        issues.append(
            Issue(str(path), "streaming needs a position_id column (ids are derived only in memory)")
        )
    margin = [c for c in ("leverage", "isolated_margin") if c in renamed]
    if not margin:
        issues.append(Issue(str(path), "missing column: a position needs leverage or isolated_margin"))
    more, work, checks, values = typing_plan(table, POSITION_COLUMNS)
    if issues or more:
        raise DataError(issues + more)
    checks.append(
        Check(
            table.label(margin[0]),
            "a position needs leverage or isolated_margin",
            pl.all_horizontal(blank(c, renamed[c]) for c in margin),
        )
    )
    for name, allowed in CHOICES.items():  # on the typed (lowered) values, as check_positions does
        if name in renamed:
            value = pl.col(f"__value_{name}")
            checks.append(
                Check(table.label(name), f"must be {' or '.join(allowed)}", ~value.is_in(allowed), value)
            )
    checks.append(Check(table.label("position_id"), "is required", pl.col("__value_position_id").is_null()))

    def worked(raw: pl.LazyFrame) -> pl.LazyFrame:
        return raw.select(*(pl.col(o).alias(n) for o, n in renames.items()), ROW, SOURCE).with_columns(work)

    def typed(frame: pl.LazyFrame) -> pl.LazyFrame:
        worked_ = frame if "__value_position_id" in frame.collect_schema() else worked(frame)
        return worked_.select(values).with_columns(pl.col("margin_mode").fill_null(DEFAULT_MARGIN_MODE))

    def aligned(part: pl.LazyFrame) -> pl.LazyFrame:  # the book's columns and types, in every part
        have = part.collect_schema()
        return part.select(
            pl.col(c).cast(t) if c in have else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()
        )

    ids = pl.col("position_id") if renamed["position_id"].is_integer() else pl.col("__value_position_id")
    parts = tuple((aligned(p), int(p.select(pl.len()).collect().item())) for p in raw_parts)
    return TypedScan(worked(book), tuple(checks), ids, table, parts, typed)


def has_duplicate_ids(scan: TypedScan) -> bool:
    """Whether two positions share an id, in bounded memory: the ids' 64-bit hashes (8 bytes a
    position, not a hash set of the ids), sorted, compared with their neighbours; equal hashes are
    then compared as ids (a hash collision is not a duplicate)."""
    hashes = scan.worked.select(scan.ids.drop_nulls().hash(seed=7).alias("h")).collect(engine="streaming")
    h = hashes.get_column("h").sort()
    del hashes
    n = h.len()
    same = h.slice(1) == h.slice(0, max(n - 1, 0))
    if n < 2 or not same.any():
        return False
    twins = h.slice(1).filter(same).unique().implode()
    ids = (
        scan.worked.filter(scan.ids.hash(seed=7).is_in(twins))
        .select(scan.ids.alias("id"))
        .collect(engine="streaming")
    )
    return bool(ids.get_column("id").is_duplicated().any())


def issues(scan: TypedScan, checks: list[Check], counts: list[int], duplicates: bool) -> list[Issue]:
    """The issues of the checks that counted offending rows (a second, streaming look at those)."""
    checks, counted = list(checks), list(counts)
    if duplicates:
        dup = pl.col("position_id").is_duplicated() & pl.col("position_id").is_not_null()
        checks.append(
            Check(scan.table.label("position_id"), "duplicate position_id", dup, pl.col("position_id"))
        )
        counted.append(1)
    frame = scan.worked.with_columns(pl.col("__value_position_id").alias("position_id"))
    return row_issues(frame, checks, scan.table.unit, counts=counted)
