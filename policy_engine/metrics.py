"""Derived metrics per position: one ``with_columns`` chain on the lazy plan.

Formulas (DOMAIN.md, docs/metrics.md). Q = quantity, EP = entry price, MP = mark price,
M = margin, mmr / cum = maintenance margin rate / amount:

* notional = Q x MP; entry_notional = Q x EP; initial_margin = Q x EP / leverage
* margin = isolated_margin when given, else initial_margin (initial margin at entry)
* leverage: as given; when absent, entry_notional / isolated_margin
* allocation = margin / equity; allocation_notional = notional / equity
* effective_leverage = notional / margin
* liquidation_price: the venue's when given, else computed (Binance USD-M isolated form by default):
    long  (Q*EP - M - cum) / (Q * (1 - mmr));  short (Q*EP + M + cum) / (Q * (1 + mmr))
  or the Bybit form (maintenance margin on the entry value):
    long EP - (M - MM) / Q;  short EP + (M - MM) / Q;  MM = Q*EP*mmr - cum
  mmr and cum come from the position, else from the market-data bracket of the notional AT the
  liquidation price (Binance; Bybit: of the entry value), else from the pack's defaults. A long
  whose computed liquidation price is <= 0 cannot be liquidated: null, source "none".
  Cross positions use the isolated form with their own margin (an approximation: the real
  cross liquidation price depends on the whole account).
* liq_distance = (MP - LP) / MP for a long, (LP - MP) / MP for a short: |MP - LP| / MP while the
  position is alive, negative once the mark is past the liquidation price.
* sigma_daily = volatility x sqrt(1 / N), N = 252 for asset_class 'equity', else 365 (crypto).
* loss_at_stop = Q x |MP - stop|; risk_per_trade = loss_at_stop / equity.
* gross_exposure = sum of notional over the account; account_leverage = gross_exposure / equity.
"""

from __future__ import annotations

import polars as pl

from policy_engine.columns import ACCOUNT_COLUMNS, ACCOUNT_KEY, POSITION_COLUMNS, joins_on_account_key
from policy_engine.model import DEFAULT_VOLATILITY_TIERS, MetricSettings
from policy_engine.rules.limits import tier_expr

_TYPES = {"str": pl.String, "float": pl.Float64}

Q, EP, MP = pl.col("quantity"), pl.col("entry_price"), pl.col("mark_price")
IS_LONG = pl.col("side") == "long"


def _ensure_columns(lf: pl.LazyFrame, columns: tuple) -> pl.LazyFrame:  # type: ignore[type-arg]
    """Add every optional contract column the input lacks, as typed nulls."""
    have = set(lf.collect_schema().names())
    missing = [pl.lit(None, dtype=_TYPES[c.type]).alias(c.name) for c in columns if c.name not in have]
    return lf.with_columns(missing) if missing else lf


def _binance_lp(margin: pl.Expr, mmr: pl.Expr, cum: pl.Expr) -> pl.Expr:
    return (
        pl.when(IS_LONG)
        .then((Q * EP - margin - cum) / (Q * (1 - mmr)))
        .otherwise((Q * EP + margin + cum) / (Q * (1 + mmr)))
    )


def _bybit_lp(margin: pl.Expr, mmr: pl.Expr, cum: pl.Expr) -> pl.Expr:
    mm = Q * EP * mmr - cum
    return pl.when(IS_LONG).then(EP - (margin - mm) / Q).otherwise(EP + (margin - mm) / Q)


def liquidation_price_expr(margin: pl.Expr, mmr: pl.Expr, cum: pl.Expr, model: str) -> pl.Expr:
    """The computed liquidation price for the given model ('binance' or 'bybit')."""
    return (_bybit_lp if model == "bybit" else _binance_lp)(margin, mmr, cum)


def _bracket_lists(brackets: pl.DataFrame) -> pl.LazyFrame:
    """One row per symbol with the bracket columns as lists ordered by floor."""
    return (
        brackets.lazy()
        .sort("symbol", "min_notional")
        .group_by("symbol", maintain_order=True)
        .agg(
            pl.col("min_notional").alias("__b_floor"),
            pl.col("max_notional").alias("__b_cap"),
            pl.col("mmr").alias("__b_mmr"),
            pl.col("cum").alias("__b_cum"),
        )
    )


def _bracket_choice(n_brackets: int, margin: pl.Expr, settings: MetricSettings) -> tuple[pl.Expr, pl.Expr]:
    """(mmr, cum) of the bracket a position falls in, as Binance and Bybit pick it.

    Binance picks the bracket of the notional AT the liquidation price, which depends on the
    bracket: compute the candidate price with every bracket and keep the first consistent one.
    """
    mmr_pick: pl.Expr = pl.lit(None, dtype=pl.Float64)
    cum_pick: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for k in reversed(range(n_brackets)):
        floor = pl.col("__b_floor").list.get(k, null_on_oob=True)
        cap = pl.col("__b_cap").list.get(k, null_on_oob=True)
        mmr_k = pl.col("__b_mmr").list.get(k, null_on_oob=True)
        cum_k = pl.col("__b_cum").list.get(k, null_on_oob=True)
        if settings.liquidation_model == "bybit":
            at = Q * EP  # Bybit: risk limit by position value at entry
        else:
            at = Q * liquidation_price_expr(margin, mmr_k, cum_k, "binance")
        lower_ok = (at >= floor) | pl.lit(k == 0)  # an LP <= 0 lands in the first bracket
        # the last bracket is open-ended: a notional beyond its cap must not fall back to the
        # (optimistic) default mmr; it gets the strictest bracket the venue publishes
        is_last = pl.col("__b_floor").list.len() == k + 1
        fits = lower_ok & ((at < cap) | is_last) & mmr_k.is_not_null()
        mmr_pick = pl.when(fits).then(mmr_k).otherwise(mmr_pick)
        cum_pick = pl.when(fits).then(cum_k).otherwise(cum_pick)
    return mmr_pick, cum_pick


def derive(
    positions: pl.LazyFrame,
    accounts: pl.LazyFrame | None,
    settings: MetricSettings,
    volatility: pl.LazyFrame | None = None,
    brackets: pl.DataFrame | None = None,
    keep_order: bool = True,
) -> pl.LazyFrame:
    """Join accounts and market data once, then add every derived metric as a column.

    ``keep_order=False`` lets the joins return rows in any order: a third cheaper at 1e7 positions,
    and the findings do not depend on it (they are sorted by account and position). Keep the order
    where rows are shown or summed in order (metrics output, reports, account aggregates)."""
    order = "left" if keep_order else "none"
    lf = _ensure_columns(positions, POSITION_COLUMNS)
    if accounts is not None:
        # the files' integer ids when both sides have them (columns.ACCOUNT_KEY), else the text
        schema = lf.collect_schema()
        key = ACCOUNT_KEY if joins_on_account_key(schema, accounts.collect_schema()) else "account_id"
        fields = [c.name for c in ACCOUNT_COLUMNS if c.name != "account_id"]
        acc = _ensure_columns(accounts, ACCOUNT_COLUMNS).select(key, *fields)
        drop = [n for n in fields if n in schema]
        lf = lf.drop(drop).join(acc, on=key, how="left", maintain_order=order)
    else:
        lf = _ensure_columns(lf, ACCOUNT_COLUMNS)
    lf = lf.drop(ACCOUNT_KEY, strict=False)
    if volatility is not None:
        vol = volatility.select("symbol", pl.col("volatility").alias("__mkt_vol"))
        lf = lf.join(vol, on="symbol", how="left", maintain_order=order).with_columns(
            pl.coalesce("volatility", "__mkt_vol").alias("volatility")
        ).drop("__mkt_vol")

    lf = lf.with_columns(
        pl.col("margin_mode").fill_null("isolated"),
        pl.col("liquidation_price").alias("reported_liquidation_price"),
        (Q * MP).alias("notional"),
        (Q * EP).alias("entry_notional"),
        pl.coalesce(pl.col("leverage"), Q * EP / pl.col("isolated_margin")).alias("leverage"),
    ).with_columns(
        (pl.col("entry_notional") / pl.col("leverage")).alias("initial_margin"),
    ).with_columns(
        pl.coalesce("isolated_margin", "initial_margin").alias("margin"),
    )

    margin = pl.col("margin")
    mmr: pl.Expr = pl.col("maintenance_margin_rate")
    cum: pl.Expr = pl.col("maintenance_amount")
    if brackets is not None and brackets.height > 0:
        n = int(brackets.group_by("symbol").len().get_column("len").max())  # type: ignore[arg-type]
        lf = lf.join(_bracket_lists(brackets), on="symbol", how="left", maintain_order=order)
        b_mmr, b_cum = _bracket_choice(n, margin, settings)
        from_bracket = mmr.is_null() & b_mmr.is_not_null()
        cum = pl.when(from_bracket).then(b_cum).otherwise(cum)
        mmr = pl.coalesce(mmr, b_mmr)
    lf = lf.with_columns(
        mmr.fill_null(settings.maintenance_margin_rate).alias("mmr"),
        cum.fill_null(settings.maintenance_amount).alias("cum"),
    )
    computed = liquidation_price_expr(margin, pl.col("mmr"), pl.col("cum"), settings.liquidation_model)
    computed = pl.when(computed > 0).then(computed)  # a long with LP <= 0 cannot be liquidated
    reported = pl.col("reported_liquidation_price")
    lf = lf.with_columns(
        pl.coalesce(reported, computed).alias("liquidation_price"),
        pl.when(reported.is_not_null()).then(pl.lit("venue"))
        .when(computed.is_not_null()).then(pl.lit("computed"))
        .otherwise(pl.lit("none")).alias("liquidation_price_source"),
        pl.when(pl.col("asset_class") == "equity").then(pl.lit(settings.equity_annualization_days))
        .otherwise(pl.lit(settings.annualization_days)).alias("annualization_days"),
    )
    lp = pl.col("liquidation_price")
    stop = pl.col("stop_loss_price")
    equity = pl.col("equity")
    lf = lf.with_columns(
        (margin / equity).alias("allocation"),
        (pl.col("notional") / equity).alias("allocation_notional"),
        (pl.col("notional") / margin).alias("effective_leverage"),
        (pl.when(IS_LONG).then(1.0).otherwise(-1.0) * Q * (MP - EP)).alias("unrealized_pnl"),
        pl.when(IS_LONG).then((MP - lp) / MP).otherwise((lp - MP) / MP).alias("liq_distance"),
        (pl.col("volatility") * (1.0 / pl.col("annualization_days")).sqrt()).alias("sigma_daily"),
        tier_expr(DEFAULT_VOLATILITY_TIERS, None).alias("volatility_tier"),
        (Q * (MP - stop).abs()).alias("loss_at_stop"),
        pl.col("notional").sum().over("account_id").alias("gross_exposure"),
    ).with_columns(
        (pl.col("loss_at_stop") / equity).alias("risk_per_trade"),
        (pl.col("gross_exposure") / equity).alias("account_leverage"),
    )
    return lf.drop([c for c in ("__b_floor", "__b_cap", "__b_mmr", "__b_cum") if c in lf.collect_schema().names()])
