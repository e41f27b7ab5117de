"""Number formatting as Polars expressions, so messages are built inside the one lazy plan.

``12400.5`` -> ``"12,400.50"``; ``0.0512`` -> ``"5.12%"``. Nulls format as ``"n/a"``.
"""

from __future__ import annotations

import polars as pl


def _group_thousands(digits: pl.Expr) -> pl.Expr:
    # reverse, insert a comma after every third digit, reverse back; drop a leading comma
    return (
        digits.str.reverse()
        .str.replace_all(r"(\d{3})", "${1},")
        .str.reverse()
        .str.strip_chars_start(",")
    )


def number(expr: pl.Expr, decimals: int = 2) -> pl.Expr:
    """Fixed-point with thousands separators, rounded half away from zero."""
    scale = 10**decimals
    scaled = (expr.abs() * scale).round(0, mode="half_away_from_zero").cast(pl.Int64, strict=False)
    int_part = _group_thousands((scaled // scale).cast(pl.String))
    if decimals > 0:
        frac = (scaled % scale).cast(pl.String).str.zfill(decimals)
        body = pl.concat_str([int_part, pl.lit("."), frac])
    else:
        body = int_part
    sign = pl.when((expr < 0) & (scaled > 0)).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.when(expr.is_null() | expr.is_nan()).then(pl.lit("n/a")).otherwise(pl.concat_str([sign, body]))


def percent(expr: pl.Expr, decimals: int = 2) -> pl.Expr:
    """A ratio as a percentage: 0.0512 -> '5.12%'."""
    return pl.when(expr.is_null()).then(pl.lit("n/a")).otherwise(pl.concat_str([number(expr * 100, decimals), pl.lit("%")]))


def times(expr: pl.Expr, decimals: int = 2) -> pl.Expr:
    """A leverage: 3 -> '3x', 2.5 -> '2.5x' (trailing zeros dropped)."""
    text = number(expr, decimals).str.replace(r"\.?0+$", "")
    return pl.when(expr.is_null()).then(pl.lit("n/a")).otherwise(pl.concat_str([text, pl.lit("x")]))


def price(expr: pl.Expr) -> pl.Expr:
    """A price with enough precision for BTC (60,123.45) and small tokens (0.29, 0.0000123).

    Below 1, up to 6 decimals (10 below 0.001), trailing zeros trimmed.
    """
    magnitude = expr.abs()
    trim = r"(\.\d*?[1-9])0+$"
    return (
        pl.when(magnitude >= 1).then(number(expr, 2))
        .when(magnitude >= 0.001).then(number(expr, 6).str.replace(trim, "${1}"))
        .otherwise(number(expr, 10).str.replace(trim, "${1}"))
    )


def quantity(expr: pl.Expr) -> pl.Expr:
    """A quantity in base units, up to 4 decimals, trailing zeros trimmed: 161, 0.8333, 83,737.5."""
    return number(expr, 4).str.replace(r"\.?0+$", "").str.replace(r"^$", "0")


def money(expr: pl.Expr, currency: pl.Expr | None = None) -> pl.Expr:
    """An amount in the account currency: '12,400.00 USDT'."""
    ccy = pl.col("currency").fill_null("USDT") if currency is None else currency
    return pl.concat_str([number(expr, 2), pl.lit(" "), ccy])
