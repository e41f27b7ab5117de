"""`leverage_tiers`: leverage stays within the cap of the position's volatility tier.

Higher-volatility assets get lower leverage. Tiers are the policy's ``volatility_tiers``; a
position whose volatility is unknown goes to ``unknown_volatility_tier`` (of the rule, else of
the policy) and, when neither names one, to the strictest tier: it never passes silently.
"""

from __future__ import annotations

from typing import Any, Mapping

import polars as pl

from policy_engine.model import Policy, Rule
from policy_engine.rules import fmt
from policy_engine.rules.common import at_most, position_phrase, profile_phrase
from policy_engine.rules.kind import LIMIT, OBSERVED, BuildContext, Check, RuleKind
from policy_engine.rules.limits import limit_expr, limit_schema, tier_expr

PARAMS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["max_leverage"],
    "properties": {
        "max_leverage": {**limit_schema(minimum=1),
                         "description": "cap per tier: {by_tier: {low: 10, medium: 5, ...}}, each a number or profile map"},
        "unknown_volatility_tier": {"type": "string",
                                    "description": "tier for positions with unknown volatility (default: the strictest)"},
    },
}


def build(rule: Rule, ctx: BuildContext) -> tuple[Check, ...]:
    unknown = rule.params.get("unknown_volatility_tier") or ctx.policy.unknown_volatility_tier
    limit = limit_expr(rule.params["max_leverage"], ctx.policy, unknown)
    observed = pl.col("leverage")
    breach, near = at_most(OBSERVED, LIMIT, rule.warn_at)
    tier = tier_expr(ctx.policy.volatility_tiers, unknown)
    vol = pl.col("volatility")
    tier_phrase = (
        pl.when(vol.is_null() & tier.is_null()).then(pl.lit("volatility is unknown, and the strictest tier"))
        .when(vol.is_null()).then(pl.concat_str([pl.lit("volatility is unknown, and the "), tier, pl.lit(" tier it is assigned")]))
        .otherwise(pl.concat_str([pl.lit("the "), tier, pl.lit(" volatility tier (annualised "), fmt.percent(vol, 0), pl.lit(")")]))
    )
    # new isolated margin for the capped leverage; the alternative is a smaller position
    add_margin = pl.col("entry_notional") / LIMIT - pl.col("margin")
    keep_units = pl.col("quantity") * LIMIT / OBSERVED
    message = pl.concat_str([
        position_phrase(), pl.lit(" runs at "), fmt.times(OBSERVED), pl.lit("; "), tier_phrase,
        pl.lit(" allows at most "), fmt.times(LIMIT), profile_phrase(),
    ])
    remediation = pl.concat_str([
        pl.lit("lower leverage to "), fmt.times(LIMIT), pl.lit(": add "), fmt.money(add_margin),
        pl.lit(" margin, or reduce the position to "), fmt.quantity(keep_units), pl.lit(" units at the current margin"),
    ])
    return (
        Check(
            name="leverage",
            metric="leverage",
            applies=pl.lit(True),
            observed=observed,
            limit=limit,
            breach=breach,
            near=near,
            message=message,
            remediation=remediation,
            description="leverage must not exceed the cap of the position's volatility tier",
        ),
    )


def semantic_check(params: Mapping[str, Any], policy: Policy) -> list[tuple[tuple[str | int, ...], str]]:
    tiers = {b.name for b in policy.volatility_tiers}
    name = params.get("unknown_volatility_tier")
    if name is not None and name not in tiers:
        return [(("unknown_volatility_tier",), f"unknown tier '{name}'; tiers: {', '.join(sorted(tiers))}")]
    return []


KIND = RuleKind(
    name="leverage_tiers",
    summary="Leverage must not exceed the maximum of the position's volatility tier (per risk profile).",
    params_schema=PARAMS_SCHEMA,
    build=build,
    semantic_check=semantic_check,
    example="""\
id: leverage-by-volatility
kind: leverage_tiers
severity: breach
params:
  max_leverage:
    by_tier:
      low: {conservative: 5, default: 10}
      medium: {conservative: 2.5, default: 5}
      high: {conservative: 1.5, default: 3}
      extreme: {conservative: 1, default: 2}
""",
)
