"""Market data: per-symbol annualised volatility and leverage brackets (ccxt ``fetchLeverageTiers`` form).

A JSON or YAML file ``{volatility: {SYMBOL: 0.55}, brackets: {SYMBOL: [tier, ...]}}``, or a CSV
with columns symbol,volatility. Brackets are checked tier by tier, including the identity that
ties the maintenance amounts together (DOMAIN.md): cum_n = cum_(n-1) + floor_n x (mmr_n - mmr_(n-1)).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from policy_engine.columns import Column
from policy_engine.data.files import load_yaml, read_text, unique_keys
from policy_engine.data.issues import Check, row_issues
from policy_engine.data.read import did_you_mean, read
from policy_engine.data.validate import typed
from policy_engine.errors import DataError, Issue

VOLATILITY_COLUMNS: tuple[Column, ...] = (
    Column("symbol", "str", True, doc="instrument, as in the positions"),
    Column("volatility", "float", True, True, "annualised volatility, e.g. 0.55 for 55%"),
)
SECTIONS = ("volatility", "brackets")
# our name -> accepted spellings (ccxt's first); "info.cum" is where ccxt keeps Binance's cum
TIER_FIELDS: Mapping[str, tuple[str, ...]] = {
    "bracket": ("tier", "bracket"),
    "min_notional": ("minNotional", "min_notional"),
    "max_notional": ("maxNotional", "max_notional"),
    "mmr": ("maintenanceMarginRate", "mmr", "maintenance_margin_rate"),
    "max_leverage": ("maxLeverage", "max_leverage"),
    "cum": ("maintenanceAmount", "cum", "maintenance_amount", "info.cum"),
}
REQUIRED_TIER_FIELDS = ("min_notional", "max_notional", "mmr", "max_leverage")
BRACKET_SCHEMA: Mapping[str, pl.DataType] = {
    "symbol": pl.String(), "bracket": pl.Int64(), "min_notional": pl.Float64(), "max_notional": pl.Float64(),
    "mmr": pl.Float64(), "cum": pl.Float64(), "max_leverage": pl.Float64(),
}  # fmt: skip
REL_TOL = 1e-6
ABS_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class Market:
    volatility: pl.DataFrame | None  # symbol, volatility
    brackets: pl.DataFrame | None  # BRACKET_SCHEMA, sorted by symbol and bracket


def load_market(path: str | Path, column_map: Mapping[str, str] | None = None) -> Market:
    """Read and validate a market data file; every problem in one DataError."""
    source, p = str(path), Path(path)
    if not p.exists():
        raise DataError([Issue(source, "market file does not exist")])
    suffix = p.suffix.lower()
    if suffix == ".csv":
        table = read(p, "market", column_map)
        frame, issues = typed(table, VOLATILITY_COLUMNS)
        dup = pl.col("symbol").is_duplicated() & pl.col("symbol").is_not_null()
        issues += row_issues(
            frame, [Check(table.label("symbol"), "duplicate symbol", dup, pl.col("symbol"))], table.unit
        )
        if issues:
            raise DataError(issues)
        return Market(frame.select("symbol", "volatility"), None)
    if suffix == ".json":
        try:
            doc = json.loads(read_text(p, source), object_pairs_hook=unique_keys)
        except json.JSONDecodeError as exc:
            raise DataError([Issue(source, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno)]) from None
        except ValueError as exc:  # a duplicate key
            raise DataError([Issue(source, f"invalid JSON: {exc}")]) from None
    elif suffix in (".yaml", ".yml"):
        doc = load_yaml(p, source)
    else:
        raise DataError(
            [Issue(source, f"unsupported market file type {suffix!r}: use .json, .yaml, .yml or .csv")]
        )
    if not isinstance(doc, dict) or not any(k in doc for k in SECTIONS):
        raise DataError([Issue(source, "market data is a mapping with 'volatility' and/or 'brackets'")])
    issues = []
    for key in doc:
        if key not in SECTIONS and not str(key).startswith("_"):  # "_source", "_comment": provenance
            match = did_you_mean(str(key), list(SECTIONS))
            hint = f" (did you mean {match!r}?)" if match else ""
            issues.append(Issue(source, f"unknown section {key!r}{hint}; allowed: {', '.join(SECTIONS)}"))
    volatility, more = _volatility(doc.get("volatility"), source)
    issues += more
    brackets, more = _brackets(doc.get("brackets"), source)
    issues += more
    if issues:
        raise DataError(issues)
    return Market(volatility, brackets)


def _number(value: Any) -> float | None:
    """A number, or a numeric string (ccxt keeps exchange values as text in ``info``); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _volatility(section: Any, source: str) -> tuple[pl.DataFrame | None, list[Issue]]:
    if section is None:
        return None, []
    if not isinstance(section, dict):
        return None, [Issue(source, "must map each symbol to its annualised volatility", where="volatility")]
    issues, symbols, values = [], [], []
    for symbol, raw in section.items():
        value = _number(raw)
        if value is None or not math.isfinite(value) or value <= 0:
            issues.append(
                Issue(source, f"must be a finite number > 0 (got {raw!r})", where=f"volatility.{symbol}")
            )
        symbols.append(str(symbol))
        values.append(value)
    frame = pl.DataFrame(
        {"symbol": symbols, "volatility": values}, schema={"symbol": pl.String, "volatility": pl.Float64}
    )
    return frame, issues


def _brackets(section: Any, source: str) -> tuple[pl.DataFrame | None, list[Issue]]:
    if section is None:
        return None, []
    if not isinstance(section, dict):
        return None, [Issue(source, "must map each symbol to its list of tiers", where="brackets")]
    issues: list[Issue] = []
    rows: list[dict[str, Any]] = []
    for symbol, tiers in section.items():
        if not isinstance(tiers, list) or not tiers:
            issues.append(Issue(source, "must be a non-empty list of tiers", where=f"brackets.{symbol}"))
            continue
        for position, tier in enumerate(tiers, start=1):
            row, more = _tier(str(symbol), position, tier, source)
            rows.append(row)
            issues += more
    frame = pl.DataFrame(rows, schema=BRACKET_SCHEMA).sort("symbol", "bracket")
    frame, more = _check_tiers(frame, source)
    return frame, issues + more


def _tier(symbol: str, position: int, tier: Any, source: str) -> tuple[dict[str, Any], list[Issue]]:
    where = f"brackets.{symbol} tier {position}"
    if not isinstance(tier, dict):
        return {"symbol": symbol, "bracket": position}, [
            Issue(source, "a tier must be a mapping", where=where)
        ]
    row: dict[str, Any] = {"symbol": symbol}
    issues = []
    for name, spellings in TIER_FIELDS.items():
        given = [(s, _field(tier, s)) for s in spellings if _field(tier, s) is not None]
        if not given:
            row[name] = position if name == "bracket" else None
            if name in REQUIRED_TIER_FIELDS:
                issues.append(Issue(source, f"missing {spellings[0]}", where=where))
            continue
        spelling, raw = given[0]
        value = _number(raw)
        if value is None or not math.isfinite(value):
            issues.append(Issue(source, f"{spelling} must be a finite number (got {raw!r})", where=where))
        elif name == "bracket" and value != int(value):
            issues.append(Issue(source, f"{spelling} must be a whole number (got {raw!r})", where=where))
            value = None
        row[name] = int(value) if name == "bracket" and value is not None else value
    return row, issues


def _field(tier: Mapping[str, Any], spelling: str) -> Any:
    head, _, rest = spelling.partition(".")
    value = tier.get(head)
    return value.get(rest) if rest and isinstance(value, dict) else (None if rest else value)


def _check_tiers(frame: pl.DataFrame, source: str) -> tuple[pl.DataFrame, list[Issue]]:
    prev = {c: pl.col(c).shift(1).over("symbol", order_by="bracket") for c in ("max_notional", "mmr", "cum")}
    first = pl.int_range(pl.len()).over("symbol", order_by="bracket") == 0
    # No amount on any tier of a symbol: derive them from the identity (tier 1 starts at 0).
    step = pl.col("min_notional") * (pl.col("mmr") - prev["mmr"].fill_null(0.0))
    derived = step.cum_sum().over("symbol", order_by="bracket")
    frame = frame.with_columns(
        pl.when(pl.col("cum").is_null().all().over("symbol"))
        .then(derived)
        .otherwise(pl.col("cum"))
        .alias("cum")
    )
    expected = prev["cum"].fill_null(0.0) + step
    tol = REL_TOL * pl.col("cum").abs() + ABS_TOL
    low, high, mmr, cum = pl.col("min_notional"), pl.col("max_notional"), pl.col("mmr"), pl.col("cum")
    numbered = pl.int_range(1, pl.len() + 1).over("symbol", order_by="bracket")
    identity = "cum_n = cum_(n-1) + minNotional_n x (mmr_n - mmr_(n-1))"
    checks = [  # message, offending tiers, what to quote
        ("tier numbers must run 1, 2, 3, ...", pl.col("bracket") != numbered, pl.col("bracket")),
        ("the first tier must start at minNotional 0", first & (low != 0), low),
        ("minNotional must be below maxNotional", low >= high, pl.format("{} >= {}", low, high)),
        (
            "minNotional must equal the previous tier's maxNotional",
            low != prev["max_notional"],
            pl.format("{} after {}", low, prev["max_notional"]),
        ),
        ("maintenanceMarginRate must be in [0, 1)", (mmr < 0) | (mmr >= 1), mmr),
        (
            "maintenanceMarginRate must increase from tier to tier",
            mmr <= prev["mmr"],
            pl.format("{} after {}", mmr, prev["mmr"]),
        ),
        ("maxLeverage must be >= 1", pl.col("max_leverage") < 1, pl.col("max_leverage")),
        ("maintenance amount missing (give it on every tier or on none)", cum.is_null(), pl.lit(None)),
        (
            f"maintenance amount breaks {identity}",
            (cum - expected).abs() > tol,
            pl.format("{}, expected {}", cum, expected),
        ),
    ]
    hits = frame.select(
        "symbol",
        "bracket",
        *(bad.fill_null(False).alias(f"bad{i}") for i, (_, bad, _) in enumerate(checks)),
        *(got.cast(pl.String).alias(f"got{i}") for i, (_, _, got) in enumerate(checks)),
    )
    issues = []
    for i, (message, _, _) in enumerate(checks):
        offending = hits.filter(pl.col(f"bad{i}")).select("symbol", "bracket", f"got{i}")
        for symbol, tier, got in offending.iter_rows():  # problems, not tiers: few
            shown = f" (got {got})" if got is not None else ""
            issues.append(Issue(source, message + shown, where=f"brackets.{symbol} tier {tier}"))
    return frame, issues
