"""`liquidation_buffer`: the liquidation price lies outside the asset's normal volatility band.

Distance to liquidation d = |MP - LP| / MP must be at least k x sigma_h, where
sigma_h = volatility x sqrt(h / N) over a horizon of h days (N = 365 crypto, 252 equities).
``band: lognormal`` is the stricter reading: 1 - exp(-k sigma_h) for longs, exp(k sigma_h) - 1
for shorts. Positions that cannot be liquidated (a long whose LP <= 0) are not covered. A
position with unknown volatility is a breach (``missing_volatility: breach``, the default) or
not covered (``ignore``).
"""

from __future__ import annotations

import polars as pl

from policy_engine.model import Rule
from policy_engine.rules import fmt
from policy_engine.rules.common import EP, IS_LONG, MP, Q, at_least, position_phrase, profile_phrase
from policy_engine.rules.kind import LIMIT, OBSERVED, BuildContext, Check, RuleKind
from policy_engine.rules.limits import limit_expr, limit_schema

PARAMS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["k"],
    "properties": {
        "k": {**limit_schema(exclusive_minimum=0), "description": "multiple of sigma over the horizon, e.g. 3"},
        "horizon_days": {"type": "number", "exclusiveMinimum": 0, "default": 1},
        "band": {"enum": ["linear", "lognormal"], "default": "linear"},
        "missing_volatility": {"enum": ["breach", "ignore"], "default": "breach"},
    },
}

LP, VOL = pl.col("liquidation_price"), pl.col("volatility")


def required_distance(k: pl.Expr, horizon_days: float, band: str) -> pl.Expr:
    sigma_h = VOL * (horizon_days / pl.col("annualization_days")).sqrt()
    if band == "lognormal":
        return pl.when(IS_LONG).then(1 - (-k * sigma_h).exp()).otherwise((k * sigma_h).exp() - 1)
    return k * sigma_h


def margin_for(target_lp: pl.Expr, model: str) -> pl.Expr:
    """Isolated margin that puts the liquidation price at ``target_lp`` (inverse of metrics' LP)."""
    mmr, cum = pl.col("mmr"), pl.col("cum")
    if model == "bybit":
        mm = Q * EP * mmr - cum
        return pl.when(IS_LONG).then(mm + Q * (EP - target_lp)).otherwise(mm + Q * (target_lp - EP))
    return (
        pl.when(IS_LONG).then(Q * EP - cum - target_lp * Q * (1 - mmr))
        .otherwise(target_lp * Q * (1 + mmr) - Q * EP - cum)
    )


def build(rule: Rule, ctx: BuildContext) -> tuple[Check, ...]:
    params = rule.params
    horizon = float(params.get("horizon_days", 1))
    k = limit_expr(params["k"], ctx.policy)
    limit = required_distance(k, horizon, params.get("band", "linear"))
    observed = pl.col("liq_distance")
    breach, near = at_least(OBSERVED, LIMIT, rule.warn_at)
    if params.get("missing_volatility", "breach") == "breach":
        breach = breach.fill_null(False) | VOL.is_null()
        applies = LP.is_not_null()
    else:
        applies = LP.is_not_null() & VOL.is_not_null()
    target_lp = pl.when(IS_LONG).then(MP * (1 - LIMIT)).otherwise(MP * (1 + LIMIT))
    add_margin = margin_for(target_lp, ctx.settings.liquidation_model) - pl.col("margin")
    days = f"{horizon:g}-day"
    message = pl.when(VOL.is_null()).then(pl.concat_str([
        position_phrase(), pl.lit(": volatility is unknown, so the liquidation buffer cannot be verified (liquidation at "),
        fmt.price(LP), pl.lit(", "), fmt.percent(OBSERVED), pl.lit(" from the mark)"),
    ])).otherwise(pl.concat_str([
        position_phrase(), pl.lit(": liquidation at "), fmt.price(LP), pl.lit(" is "), fmt.percent(OBSERVED),
        pl.lit(" from the mark "), fmt.price(MP), pl.lit("; at least "), fmt.number(k, 2, trim=True),
        pl.lit(f" x {days} sigma = "), fmt.percent(LIMIT), pl.lit(" is required"), profile_phrase(),
    ]))
    remediation = pl.when(VOL.is_null()).then(pl.lit("supply the volatility of the symbol (positions or market data)")).otherwise(
        pl.concat_str([
            pl.lit("add "), fmt.money(add_margin), pl.lit(" margin to move the liquidation price to "),
            fmt.price(target_lp), pl.lit(", or reduce leverage"),
        ])
    )
    return (
        Check(
            name="buffer",
            metric="liq_distance",
            applies=applies,
            observed=observed,
            limit=limit,
            breach=breach,
            near=near,
            message=message,
            remediation=remediation,
            description=f"distance to liquidation must be at least k x sigma over {days} horizon",
        ),
    )


KIND = RuleKind(
    name="liquidation_buffer",
    summary="Distance to liquidation must be at least k x sigma of the asset over a horizon of h days.",
    params_schema=PARAMS_SCHEMA,
    build=build,
    example="""\
id: liquidation-buffer
kind: liquidation_buffer
severity: critical
where: "margin_mode = 'isolated'"
params: {k: 3, horizon_days: 1}
""",
)
