"""R1-R4 as one hand-written Polars lazy query: the bar the engine is measured against.

Written the way an expert would write it for this one workload, straight from
REFERENCE_RULES.md: one join, the few derived columns the rules need, six boolean flags, and the
breaching (rule_id, position_id) pairs. Comparisons carry the engine's relative tolerance of 1e-9
(policy_engine/rules/common.py REL_TOL: a value equal to its limit on paper is not a breach); the
stop-versus-mark and stop-versus-LP comparisons are exact, as in the engine.

Rule ids are the reference ids exactly as REFERENCE_RULES.md spells them, as in the policy pack.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

REL_TOL = 1e-9
RULE_IDS = (
    "R1-max-allocation",
    "R2-leverage-tier",
    "R3-stop-missing",
    "R3-stop-misplaced",
    "R3-risk-per-trade",
    "R4-liquidation-buffer",
)
COLUMNS = (
    "account_id",
    "position_id",
    "side",
    "quantity",
    "entry_price",
    "mark_price",
    "leverage",
    "margin_mode",
    "isolated_margin",
    "maintenance_margin_rate",
    "maintenance_amount",
    "stop_loss_price",
    "volatility",
)


def _above(x: pl.Expr, limit: pl.Expr) -> pl.Expr:
    """x > limit, a value within 1e-9 (relative) of the limit counting as equal."""
    return x - limit > limit.abs() * REL_TOL


def query(positions: pl.LazyFrame, accounts: pl.LazyFrame) -> pl.LazyFrame:
    """The breaching (rule_id, position_id) pairs, one row per pair."""
    c = pl.col
    conservative = c("risk_profile") == "conservative"
    profile_limit = lambda cons, mod, agg: (  # noqa: E731
        pl.when(conservative).then(cons).when(c("risk_profile") == "moderate").then(mod).otherwise(agg)
    )
    q, ep, mp, stop, vol = (
        c("quantity"),
        c("entry_price"),
        c("mark_price"),
        c("stop_loss_price"),
        c("volatility"),
    )
    long = c("side") == "long"
    margin = pl.coalesce(c("isolated_margin"), q * ep / c("leverage"))
    mmr, cum = c("maintenance_margin_rate"), c("maintenance_amount").fill_null(0.0)
    lp = (
        pl.when(long)
        .then((q * ep - c("margin") - cum) / (q * (1 - mmr)))
        .otherwise((q * ep + c("margin") + cum) / (q * (1 + mmr)))
    )
    tier_max = (
        pl.when(vol < 0.5).then(10.0).when(vol < 0.8).then(5.0).when(vol < 1.2).then(3.0).otherwise(2.0)
    ) * pl.when(conservative).then(0.5).otherwise(1.0)
    sigma3 = 3.0 * vol * math.sqrt(1 / 365)
    lf = (
        positions.select(COLUMNS)
        .join(accounts.select("account_id", "equity", "risk_profile"), on="account_id", how="left")
        .with_columns(margin.alias("margin"))
        .with_columns(lp.alias("lp"))
    )
    eq, lp_ = c("equity"), c("lp")
    flags = {
        "R1-max-allocation": _above(c("margin") / eq, profile_limit(0.02, 0.05, 0.10)),
        "R2-leverage-tier": _above(c("leverage"), tier_max),
        "R3-stop-missing": (c("leverage") > 1) & stop.is_null(),
        "R3-stop-misplaced": pl.when(long)
        .then((stop >= mp) | ((lp_ > 0) & (stop <= lp_)))
        .otherwise((stop <= mp) | (stop >= lp_)),
        "R3-risk-per-trade": _above(q * (mp - stop).abs() / eq, profile_limit(0.01, 0.02, 0.03)),
        "R4-liquidation-buffer": (c("margin_mode") == "isolated")
        & ~(long & (lp_ <= 0))
        & (sigma3 - (mp - lp_).abs() / mp > sigma3.abs() * REL_TOL),
    }
    flagged = lf.select("position_id", *(e.fill_null(False).alias(k) for k, e in flags.items()))
    return pl.concat(
        [flagged.filter(c(k)).select(pl.lit(k).alias("rule_id"), "position_id") for k in flags],
        how="vertical",
    )


def breaches(positions: str | Path, accounts: str | Path, engine: str = "in-memory") -> set[tuple[str, str]]:
    plan = query(pl.scan_parquet(positions), pl.scan_parquet(accounts))
    out = plan.collect(engine=engine)  # type: ignore[arg-type]
    return set(
        zip(out.get_column("rule_id").to_list(), out.get_column("position_id").cast(pl.String).to_list())
    )


def run(positions: str | Path, accounts: str | Path, engine: str = "in-memory") -> int:
    """Read the Parquet files and evaluate; returns the number of breaches (for timing)."""
    plan = query(pl.scan_parquet(positions), pl.scan_parquet(accounts))
    return plan.collect(engine=engine).height  # type: ignore[arg-type]
