"""Pieces several rule kinds share: comparisons with a near-limit band, and common phrases."""

from __future__ import annotations

import polars as pl

from policy_engine.rules import fmt

SYMBOL, SIDE, PROFILE = pl.col("symbol"), pl.col("side"), pl.col("risk_profile")
Q, MP, EP, EQUITY = pl.col("quantity"), pl.col("mark_price"), pl.col("entry_price"), pl.col("equity")
IS_LONG = SIDE == "long"


# Float arithmetic puts values that are equal on paper a few ulps apart (10,000 x 0.02 / 20,000 is
# 0.010000000000000002): a value within this relative tolerance of its limit counts as equal.
REL_TOL = 1e-9


def at_most(observed: pl.Expr, limit: pl.Expr, warn_at: float | None) -> tuple[pl.Expr, pl.Expr | None]:
    """(breach, near) for a check of the form ``observed <= limit``; equal is not a breach."""
    breach = observed - limit > limit.abs() * REL_TOL
    near = None if warn_at is None else observed > limit * warn_at
    return breach, near


def at_least(observed: pl.Expr, limit: pl.Expr, warn_at: float | None) -> tuple[pl.Expr, pl.Expr | None]:
    """(breach, near) for a check of the form ``observed >= limit``; near when inside limit / warn_at."""
    breach = limit - observed > limit.abs() * REL_TOL
    near = None if warn_at is None else observed < limit / warn_at
    return breach, near


def profile_phrase() -> pl.Expr:
    """' for moderate accounts' (empty when the account has no profile)."""
    return pl.when(PROFILE.is_null()).then(pl.lit("")).otherwise(pl.concat_str([pl.lit(" for "), PROFILE, pl.lit(" accounts")]))


def position_phrase() -> pl.Expr:
    """'BTCUSDT long 0.5' as the subject of a message."""
    return pl.concat_str([SYMBOL, pl.lit(" "), SIDE, pl.lit(" "), fmt.quantity(Q)])


def stop_range(max_risk: pl.Expr | None) -> tuple[pl.Expr, pl.Expr]:
    """(low, high) bounds of a well-placed stop: protective side of the mark, before liquidation,
    and (with ``max_risk``) close enough that the loss at the stop stays within that share of equity."""
    lp = pl.col("liquidation_price")
    if max_risk is None:
        long_low, short_high = lp, lp
    else:
        room = max_risk * EQUITY / Q
        long_low = pl.max_horizontal(lp, MP - room)
        short_high = pl.min_horizontal(lp, MP + room)
    low = pl.when(IS_LONG).then(long_low).otherwise(MP)
    high = pl.when(IS_LONG).then(MP).otherwise(short_high)
    return low, high


def stop_advice(max_risk: pl.Expr | None) -> pl.Expr:
    """'place the stop between 41,250.00 and 43,900.00' (open-ended when no liquidation price)."""
    low, high = stop_range(max_risk)
    return (
        pl.when(low.is_null()).then(pl.concat_str([pl.lit("place the stop below "), fmt.price(high)]))
        .when(high.is_null()).then(pl.concat_str([pl.lit("place the stop above "), fmt.price(low)]))
        .otherwise(pl.concat_str([pl.lit("place the stop between "), fmt.price(low), pl.lit(" and "), fmt.price(high)]))
    )
