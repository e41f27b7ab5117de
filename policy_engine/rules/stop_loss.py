"""`stop_loss`: leveraged positions carry a stop that is placed right and caps the loss.

Three checks, each selectable with ``checks``:

* ``missing``: a stop is required where ``required_when`` holds (default ``leverage > 1``);
* ``misplaced``: the stop sits on the protective side of the mark price (below it for a long,
  above for a short; a stop exactly at the mark is misplaced) and fires before liquidation
  (a long's stop above its liquidation price, a short's below): the effective exit of a long is
  max(stop, LP), so a stop at or below LP is decoration (DOMAIN.md);
* ``risk_per_trade``: loss at stop / equity <= ``max_risk`` (loss at stop = Q x |MP - stop|).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from policy_engine.model import Rule
from policy_engine.rules import fmt
from policy_engine.rules.common import EQUITY, IS_LONG, MP, Q, at_most, position_phrase, profile_phrase, stop_advice
from policy_engine.rules.kind import LIMIT, OBSERVED, BuildContext, Check, RuleKind
from policy_engine.rules.limits import limit_expr, limit_schema

CHECKS = ("missing", "misplaced", "risk_per_trade")
DEFAULT_REQUIRED_WHEN = "leverage > 1"

PARAMS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "required_when": {"type": "string", "default": DEFAULT_REQUIRED_WHEN,
                          "description": "condition under which a stop is required"},
        "max_risk": {**limit_schema(exclusive_minimum=0),
                     "description": "largest loss at the stop as a share of equity, e.g. 0.02"},
        "checks": {"type": "array", "items": {"enum": list(CHECKS)}, "minItems": 1, "uniqueItems": True,
                   "description": "which checks to run (default: all that apply)"},
    },
}

STOP, LP = pl.col("stop_loss_price"), pl.col("liquidation_price")


def _missing(rule: Rule, ctx: BuildContext, max_risk: pl.Expr | None) -> Check:
    condition = rule.params.get("required_when", DEFAULT_REQUIRED_WHEN)
    return Check(
        name="missing",
        metric="stop_loss_price",
        applies=ctx.condition(condition).fill_null(False),
        observed=pl.col("leverage"),
        limit=pl.lit(None, dtype=pl.Float64),
        breach=STOP.is_null(),
        message=pl.concat_str([position_phrase(), pl.lit(" at "), fmt.times(pl.col("leverage")),
                               pl.lit(f" has no stop-loss; a stop is required when `{condition}`")]),
        remediation=stop_advice(max_risk),
        description=f"a stop-loss is required when `{condition}`",
    )


def _misplaced(max_risk: pl.Expr | None) -> Check:
    wrong_side = pl.when(IS_LONG).then(STOP >= MP).otherwise(STOP <= MP)
    after_liq = pl.when(IS_LONG).then(STOP <= LP).otherwise(STOP >= LP).fill_null(False)
    side_word = pl.when(IS_LONG).then(pl.lit("below")).otherwise(pl.lit("above"))
    message = pl.when(wrong_side).then(pl.concat_str([
        position_phrase(), pl.lit(": stop "), fmt.price(STOP), pl.lit(" is not "), side_word,
        pl.lit(" the mark price "), fmt.price(MP), pl.lit(", so it does not protect the position"),
    ])).otherwise(pl.concat_str([
        position_phrase(), pl.lit(": stop "), fmt.price(STOP), pl.lit(" lies beyond the liquidation price "),
        fmt.price(LP), pl.lit(", so the position is liquidated before the stop can fire"),
    ]))
    return Check(
        name="misplaced",
        metric="stop_loss_price",
        applies=STOP.is_not_null(),
        observed=STOP,
        limit=pl.when(wrong_side).then(MP).otherwise(LP),
        breach=wrong_side | after_liq,
        message=message,
        remediation=stop_advice(max_risk),
        description="the stop must sit on the protective side of the mark price and fire before liquidation",
    )


def _risk(rule: Rule, max_risk: pl.Expr) -> Check:
    observed = pl.col("loss_at_stop") / EQUITY
    breach, near = at_most(OBSERVED, LIMIT, rule.warn_at)
    bound = pl.when(IS_LONG).then(MP - LIMIT * EQUITY / Q).otherwise(MP + LIMIT * EQUITY / Q)
    keep_units = LIMIT * EQUITY / (MP - STOP).abs()
    return Check(
        name="risk_per_trade",
        metric="risk_per_trade",
        applies=STOP.is_not_null(),
        observed=observed,
        limit=max_risk,
        breach=breach,
        near=near,
        message=pl.concat_str([
            position_phrase(), pl.lit(": the stop at "), fmt.price(STOP), pl.lit(" would lose "),
            fmt.money(pl.col("loss_at_stop")), pl.lit(", "), fmt.percent(OBSERVED), pl.lit(" of equity "),
            fmt.money(EQUITY), pl.lit("; the limit is "), fmt.percent(LIMIT), profile_phrase(),
        ]),
        remediation=pl.concat_str([
            pl.lit("move the stop to "), fmt.price(bound), pl.lit(" or closer to the mark, or reduce the position to "),
            fmt.quantity(keep_units), pl.lit(" units"),
        ]),
        description="the loss at the stop must not exceed the share of equity allowed per trade",
    )


def build(rule: Rule, ctx: BuildContext) -> tuple[Check, ...]:
    raw_risk: Any = rule.params.get("max_risk")
    max_risk = None if raw_risk is None else limit_expr(raw_risk, ctx.policy)
    wanted = rule.params.get("checks") or [c for c in CHECKS if c != "risk_per_trade" or max_risk is not None]
    checks: list[Check] = []
    if "missing" in wanted:
        checks.append(_missing(rule, ctx, max_risk))
    if "misplaced" in wanted:
        checks.append(_misplaced(max_risk))
    if "risk_per_trade" in wanted and max_risk is not None:
        checks.append(_risk(rule, max_risk))
    return tuple(checks)


def semantic_check(params: Any, policy: Any) -> list[tuple[tuple[str | int, ...], str]]:
    if "risk_per_trade" in (params.get("checks") or []) and "max_risk" not in params:
        return [(("checks",), "the risk_per_trade check needs max_risk (a share of equity, e.g. 0.02)")]
    return []


KIND = RuleKind(
    name="stop_loss",
    summary="Leveraged positions need a stop-loss on the protective side that fires before liquidation "
    "and caps the loss per trade.",
    params_schema=PARAMS_SCHEMA,
    build=build,
    expression_params=("required_when",),
    semantic_check=semantic_check,
    example="""\
id: stop-loss
kind: stop_loss
severity: breach
params: {required_when: "leverage > 1", max_risk: {conservative: 0.01, moderate: 0.02, aggressive: 0.03}}
""",
)
