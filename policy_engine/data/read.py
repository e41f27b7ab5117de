"""Read one input table (CSV, Parquet, JSON, NDJSON) into a raw frame that knows where each row came from.

Reading decides nothing about values: CSV cells stay text, so that the validator can report a bad
cell with its line instead of the reader failing or turning it into a silent null. Only a file that
cannot be read at all is an error here. Every frame leaves with ``__row`` (the CSV line, or the
1-based record index elsewhere) and ``__source`` (the path as given, or the part file of a
Parquet directory) and with its column names normalised and mapped to ours.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import unquote

import polars as pl

from policy_engine.data.files import hidden, read_text, unique_keys
from policy_engine.errors import DataError, Issue

ROW = "__row"
SOURCE = "__source"

FORMATS: Mapping[str, str] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
_DUPLICATED = re.compile(r"^(.*)_duplicated_\d+$")  # how Polars renames a repeated CSV header


@dataclass(frozen=True, slots=True)
class Table:
    """A table as read: our column names, the user's names for messages, the unit of ``__row``."""

    frame: pl.DataFrame
    source: str
    format: str
    labels: Mapping[str, str]  # our column name -> how messages name it, e.g. "Qty (-> quantity)"
    unit: str  # "line" for CSV, "record" elsewhere

    def label(self, column: str) -> str:
        return self.labels.get(column, column)


def read_table(path: str | Path, role: str, column_map: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Read a table by its extension; columns normalised and mapped, ``__row``/``__source`` added."""
    return read(path, role, column_map).frame


def read(path: str | Path, role: str, column_map: Mapping[str, str] | None = None) -> Table:
    source = str(path)
    p = Path(path)
    if not p.exists():
        raise DataError([Issue(source, f"{role} file does not exist")])
    fmt = "parquet" if p.is_dir() else FORMATS.get(p.suffix.lower())
    if fmt is None:
        allowed = ", ".join(FORMATS)
        raise DataError(
            [Issue(source, f"unsupported file type {p.suffix!r}: use {allowed} or a directory of .parquet")]
        )
    reader: Callable[[Path, str, str], pl.DataFrame] = _READERS[fmt]
    try:
        frame = reader(p, source, role)
    except DataError:
        raise
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, ValueError) as exc:
        # PanicException is not an Exception subclass; a crashing reader is still just a bad file
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError([Issue(source, f"cannot be read as {fmt}: {message}")]) from None
    frame, labels, issues = _rename(frame, source, column_map, header_line=1 if fmt == "csv" else None)
    if issues:
        raise DataError(issues)
    return Table(frame, source, fmt, labels, "line" if fmt == "csv" else "record")


def _read_csv(path: Path, source: str, role: str) -> pl.DataFrame:
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise DataError([Issue(source, "has no header line (an empty table still needs one)", 1)]) from None
    except pl.exceptions.ComputeError as exc:
        raise DataError([_csv_problem(path, source, exc)]) from None
    cells = [pl.col(c) for c in raw.columns]
    # The line of a row: header lines + preceding rows + newlines inside quoted cells before it.
    header_lines = 1 + sum(c.count("\n") for c in raw.columns)
    inner = pl.sum_horizontal(c.str.count_matches("\n", literal=True).fill_null(0) for c in cells)
    line = pl.int_range(pl.len(), dtype=pl.Int64) + 1 + header_lines + inner.cum_sum().shift(1, fill_value=0)
    blank = pl.all_horizontal(c.is_null() for c in cells)  # a blank line is no record
    return raw.with_columns(line.cast(pl.Int64).alias(ROW), _src(source)).filter(~blank)


def _csv_problem(path: Path, source: str, exc: Exception) -> Issue:
    """Locate the first record with more fields than the header (only on a failed read).

    Polars fills a short record with nulls (the validator reports those), but refuses a long one.
    """
    message = str(exc).strip().splitlines()[0]
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        width = len(next(reader, []))
        start = reader.line_num + 1
        for record in reader:
            if len(record) > width:
                return Issue(source, f"has {len(record)} fields where the header has {width}", start)
            start = reader.line_num + 1
    return Issue(source, f"cannot be read as csv: {message}")


def _read_parquet(path: Path, source: str, role: str) -> pl.DataFrame:
    if path.is_file():
        frame = pl.read_parquet(path)
        return frame.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW), _src(source))
    files = sorted(
        (f for f in path.rglob("*.parquet") if f.is_file() and not hidden(f.relative_to(path))),
        key=lambda f: f.relative_to(path).as_posix(),
    )
    if not files:
        raise DataError([Issue(source, "directory holds no .parquet files")])
    # One read per part file: parts written on different days may differ in columns and types,
    # which a single multi-file scan refuses; a row's location is its record in its part file.
    parts = []
    for f in files:
        part = pl.read_parquet(f, hive_partitioning=False)
        partitions = [  # hive directories below the given one only: key=value, as text
            pl.lit(unquote(value), dtype=pl.String).alias(key)
            for key, _, value in (d.partition("=") for d in f.relative_to(path).parent.parts if "=" in d)
            if key not in part.columns
        ]
        rows = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW)
        parts.append(part.with_columns(*partitions, rows, _src(str(f))))
    return pl.concat(parts, how="diagonal_relaxed")


def _read_json(path: Path, source: str, role: str) -> pl.DataFrame:
    text = read_text(path, source)
    try:
        # NaN/Infinity stay text, so that the validator reports them instead of the reader failing
        doc = json.loads(text, parse_constant=str, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise DataError([Issue(source, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno)]) from None
    except ValueError as exc:  # a duplicate key
        raise DataError([Issue(source, f"invalid JSON: {exc}")]) from None
    if isinstance(doc, dict) and isinstance(doc.get(role), list):
        doc = doc[role]
    if not isinstance(doc, list):
        raise DataError([Issue(source, f'expected an array of objects, or {{"{role}": [...]}}')])
    return _records(doc, source)


def _read_ndjson(path: Path, source: str, role: str) -> pl.DataFrame:
    # Parsed by Python's json rather than pl.read_ndjson: Polars keeps the first of two equal keys
    # silently, and refuses NaN/Infinity without saying where. Large books belong in Parquet.
    text = read_text(path, source)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line, parse_constant=str, object_pairs_hook=unique_keys))
            except json.JSONDecodeError as exc:
                raise DataError([Issue(source, f"invalid JSON: {exc.msg}", number, exc.colno)]) from None
            except ValueError as exc:  # a duplicate key
                raise DataError([Issue(source, f"invalid JSON: {exc}", number)]) from None
    return _records(records, source)


def _records(records: list[Any], source: str) -> pl.DataFrame:
    if not all(isinstance(r, dict) for r in records):
        bad = [i for i, r in enumerate(records, start=1) if not isinstance(r, dict)]
        first = ", ".join(map(str, bad[:5]))
        raise DataError([Issue(source, f"{len(bad)} records are not objects: records {first}", bad[0])])
    rows = pl.DataFrame({ROW: pl.int_range(1, len(records) + 1, dtype=pl.Int64, eager=True)})
    if any(records):
        data = pl.read_json(json.dumps(records).encode(), infer_schema_length=None)
        rows = pl.concat([data, rows], how="horizontal")
    return rows.with_columns(_src(source))


def _src(source: str) -> pl.Expr:
    return pl.lit(source, dtype=pl.String).alias(SOURCE)


_READERS: Mapping[str, Callable[[Path, str, str], pl.DataFrame]] = {
    "csv": _read_csv,
    "parquet": _read_parquet,
    "json": _read_json,
    "ndjson": _read_ndjson,
}


def normalise_name(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


def _rename(
    frame: pl.DataFrame, source: str, column_map: Mapping[str, str] | None, header_line: int | None
) -> tuple[pl.DataFrame, dict[str, str], list[Issue]]:
    """Lower-case and strip the names, then apply the user's mapping {their_name: our_name}."""
    renames, labels, issues = rename_plan(frame.columns, source, column_map, header_line)
    frame = frame.drop([c for c in frame.columns if c not in renames and c not in (ROW, SOURCE)])
    return frame.rename(renames), labels, issues


def rename_plan(
    columns: list[str], source: str, column_map: Mapping[str, str] | None, header_line: int | None
) -> tuple[dict[str, str], dict[str, str], list[Issue]]:
    """(renames {original: ours}, labels, issues); columns not in ``renames`` are dropped."""
    wanted = {normalise_name(k): normalise_name(v) for k, v in (column_map or {}).items()}
    names: dict[str, str] = {}  # new -> original, to find two columns that land on one name
    renames: dict[str, str] = {}
    labels: dict[str, str] = {}
    issues: list[Issue] = []
    for original in columns:
        if original in (ROW, SOURCE):
            continue
        repeated = _DUPLICATED.match(original)
        if repeated and repeated.group(1) in columns:
            issues.append(Issue(source, f"column {repeated.group(1)!r} appears twice", header_line))
            continue
        key = normalise_name(original)
        new = wanted.get(key, key)
        if new in names:
            issues.append(
                Issue(source, f"columns {names[new]!r} and {original!r} both become {new!r}", header_line)
            )
            continue
        names[new] = original
        renames[original] = new
        if key in wanted:
            labels[new] = f"{original} (-> {new})"
    if len(names) == 1 and header_line is not None:
        only = next(iter(names.values()))
        for sep in (";", "\t", "|"):
            if sep in only:
                issues.append(
                    Issue(source, f"the header is one column holding {sep!r}: use ',' as separator", 1)
                )
    return renames, labels, issues


def did_you_mean(name: str, candidates: list[str]) -> str | None:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return match[0] if match else None
