"""Number formatting as Polars expressions, so messages are built inside the one lazy plan.

``12400.5`` -> ``"12,400.50"``; ``0.0512`` -> ``"5.12%"``. Nulls and NaN format as ``"n/a"``, and so
do values that no Int64 holds once scaled (+-inf, or above about 9.2e16 at 2 decimals).

These run on every number of every message, so they avoid regexes and per-group integer casts:

1. ``_scaled``: ``|x| * 10**decimals`` rounded half away from zero, as Int64.
2. ``_decimal_text``: that integer, signed, read as a Decimal and cast to text (``"-1234567.89"``);
   one native cast writes the sign, the leading ``0.`` and the zero-padded fraction.
3. ``_grouped``: slices of the text at fixed offsets from its right end, one per group of three integer
   digits, with a comma between two groups only where the integer part reaches the upper one.
Trailing zeros are trimmed on the last slice, which holds the point and the whole fraction.

That is many expression nodes per number; on small books, where planning costs more than running,
``compact()`` switches to ``rules/fmt_compact.py`` (same text).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import polars as pl

from policy_engine.rules import fmt_compact

# Which variant the functions below build: these (fast per row, large expressions) or
# fmt_compact's (small expressions, cheap to plan on small books). See ``compact``.
_COMPACT: contextvars.ContextVar[bool] = contextvars.ContextVar("fmt_compact", default=False)


@contextlib.contextmanager
def compact(enabled: bool = True) -> Iterator[None]:
    """Inside the block, build the compact variant (``rules/fmt_compact.py``): identical text,
    a fraction of the expression nodes. For small books, where planning costs more than running."""
    token = _COMPACT.set(enabled)
    try:
        yield
    finally:
        _COMPACT.reset(token)


_INT64_DIGITS = 19  # digits of the largest Int64, so of any scaled value
_NA = pl.lit("n/a")


def _scaled(expr: pl.Expr, scale: int | pl.Expr) -> pl.Expr:
    """``|expr| * scale`` rounded half away from zero, as Int64; null for null, NaN, +-inf and overflow."""
    return (expr.abs() * scale).round(0, mode="half_away_from_zero").cast(pl.Int64, strict=False)


def _signed(expr: pl.Expr, scaled: pl.Expr) -> pl.Expr:
    """The scaled magnitude with the sign of ``expr`` back; a value that rounds to 0 stays 0 (no "-0.00")."""
    return pl.when(expr < 0).then(-scaled).otherwise(scaled)


def _decimal_text(units: pl.Expr, decimals: int) -> pl.Expr:
    """An integer count of ``10**-decimals`` as text with exactly ``decimals`` fraction digits: "-0.05"."""
    if decimals == 0:
        return units.cast(pl.String)
    # Multiplying by an exact Decimal literal reinterprets the integer; a cast to Decimal(38, d) would rescale
    # it instead. The literal is cast from its text: pl.lit(Decimal) imports numpy (70 ms, once per process).
    step = pl.lit(f"0.{'0' * (decimals - 1)}1").cast(pl.Decimal(38, decimals))
    return (units.cast(pl.Decimal(38, 0)) * step).cast(pl.String)


def _grouped(
    text: pl.Expr, whole: pl.Expr, decimals: int, int_digits: int, cut: int | pl.Expr = 0
) -> list[pl.Expr]:
    """Pieces that concatenate (nulls ignored) to ``text`` with thousands separators, less ``cut`` last chars.

    ``text`` has exactly ``decimals`` fraction digits; ``whole`` is the absolute value of its integer part, of
    at most ``int_digits`` digits. Polars slices like Python: a group left of the first digit comes out empty,
    and a leading "-" lands in the piece of the next group up, which gets no comma as ``whole`` does not reach
    it. The last piece is the lowest integer group, the point and the fraction.
    """
    tail = 3 + (decimals + 1 if decimals else 0)
    groups = -(-(int_digits + 1) // 3)  # +1: room for the sign
    pieces: list[pl.Expr] = []
    for j in range(groups - 1, 0, -1):
        pieces.append(text.str.slice(-(tail + 3 * j), 3))
        pieces.append(pl.when(whole >= 10 ** (3 * j)).then(pl.lit(",")))
    last = text.str.slice(-tail) if isinstance(cut, int) and cut == 0 else text.str.slice(-tail, tail - cut)
    pieces.append(last)
    return pieces


def _check_decimals(decimals: int) -> None:
    if not 0 <= decimals <= 18:  # 10**decimals must fit in an Int64
        raise ValueError(f"decimals must be between 0 and 18, not {decimals}")


def _number_pieces(expr: pl.Expr, decimals: int, trim: bool = False) -> list[pl.Expr]:
    """The pieces of ``number(expr, decimals)``; with ``trim``, the fraction loses its trailing zeros, and the
    point goes too when nothing is left of it."""
    _check_decimals(decimals)
    scale = 10**decimals
    scaled = _scaled(expr, scale)
    pieces = _grouped(_decimal_text(_signed(expr, scaled), decimals), scaled // scale, decimals,
                      _INT64_DIGITS - decimals)
    if trim and decimals:
        # Only the last piece holds fraction digits, and its integer digits end at the point, so they stay.
        pieces[-1] = pieces[-1].str.strip_chars_end("0").str.strip_suffix(".")
    return [pl.when(scaled.is_null()).then(_NA), *pieces]


def _suffix(expr: pl.Expr, decimals: int, text: str) -> pl.Expr:
    # Only a number that was written gets its unit: "n/a", never "n/a%" (the scaled value is the same
    # expression as in _number_pieces, so the plan computes it once).
    return pl.when(_scaled(expr, 10**decimals).is_not_null()).then(pl.lit(text))


def number(expr: pl.Expr, decimals: int = 2, trim: bool = False) -> pl.Expr:
    """Fixed-point with thousands separators, rounded half away from zero; ``trim`` drops the
    fraction's trailing zeros (3.50 -> "3.5", 3.00 -> "3")."""
    if _COMPACT.get():
        _check_decimals(decimals)
        return fmt_compact.number(expr, decimals, trim)
    return pl.concat_str(_number_pieces(expr, decimals, trim), ignore_nulls=True)


def percent(expr: pl.Expr, decimals: int = 2) -> pl.Expr:
    """A ratio as a percentage: 0.0512 -> '5.12%'."""
    if _COMPACT.get():
        _check_decimals(decimals)
        return fmt_compact.percent(expr, decimals)
    return pl.concat_str([*_number_pieces(expr * 100, decimals), _suffix(expr * 100, decimals, "%")], ignore_nulls=True)


def times(expr: pl.Expr, decimals: int = 2) -> pl.Expr:
    """A leverage: 3 -> '3x', 2.5 -> '2.5x' (trailing zeros dropped)."""
    if _COMPACT.get():
        _check_decimals(decimals)
        return fmt_compact.times(expr, decimals)
    return pl.concat_str([*_number_pieces(expr, decimals, trim=True), _suffix(expr, decimals, "x")], ignore_nulls=True)


def price(expr: pl.Expr) -> pl.Expr:
    """A price with enough precision for BTC (60,123.45) and small tokens (0.29, 0.0000123).

    Below 1, up to 6 decimals (10 below 0.001), trailing zeros trimmed.
    """
    if _COMPACT.get():
        return fmt_compact.price(expr)
    magnitude = expr.abs()
    big, mid = magnitude >= 1, magnitude >= 0.001
    # Each row is rounded at its own number of decimals and written with 10, then cut back to its own: one
    # text and one set of slices for the three ranges (a when/then over three formatted numbers builds all
    # three for every row).
    decimals = pl.when(big).then(2).when(mid).then(6).otherwise(10)
    scale = pl.when(big).then(10**2).when(mid).then(10**6).otherwise(10**10)
    scaled = _scaled(expr, scale)
    to_ten = pl.when(big).then(10**8).when(mid).then(10**4).otherwise(1)
    units = _signed(expr, scaled).cast(pl.Int128) * to_ten  # at 10 decimals, a big price overflows Int64
    # The integer part is longest in the 2-decimal rows.
    pieces = _grouped(_decimal_text(units, 10), scaled // scale, 10, _INT64_DIGITS - 2, cut=10 - decimals)
    # Below 1, trailing zeros go unless the fraction is all zeros ("1.000000" and "0.0000000000" stay, as
    # before). A per-row set of characters to strip ("" strips nothing) is cheaper than when/then on strings.
    trim = ~big & (scaled % scale != 0)
    pieces[-1] = pieces[-1].str.strip_chars_end(pl.when(trim).then(pl.lit("0")).otherwise(pl.lit("")))
    return pl.concat_str([pl.when(scaled.is_null()).then(_NA), *pieces], ignore_nulls=True)


def quantity(expr: pl.Expr) -> pl.Expr:
    """A quantity in base units, up to 4 decimals, trailing zeros trimmed: 161, 0.8333, 83,737.5."""
    if _COMPACT.get():
        return fmt_compact.quantity(expr)
    return pl.concat_str(_number_pieces(expr, 4, trim=True), ignore_nulls=True)


def money(expr: pl.Expr, currency: pl.Expr | None = None) -> pl.Expr:
    """An amount in the account currency: '12,400.00 USDT'."""
    if _COMPACT.get():
        return fmt_compact.money(expr, currency)
    if currency is None:
        return pl.concat_str([*_number_pieces(expr, 2), pl.lit(" "), pl.col("currency").fill_null("USDT")],
                             ignore_nulls=True)
    text = pl.concat_str([*_number_pieces(expr, 2), pl.lit(" "), currency], ignore_nulls=True)
    return pl.when(currency.is_not_null()).then(text)  # as before, a null currency gives a null text
