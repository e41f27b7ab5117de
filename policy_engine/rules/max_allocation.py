"""`max_allocation`: one position's allocation of account equity stays at or below a limit.

Basis ``margin`` (default): margin / equity, the capital tied up in an isolated position.
Basis ``notional``: notional / equity, the exposure.
"""

from __future__ import annotations

import polars as pl

from policy_engine.rules import fmt
from policy_engine.rules.common import EQUITY, MP, Q, SYMBOL, at_most, position_phrase, profile_phrase
from policy_engine.rules.kind import LIMIT, OBSERVED, BuildContext, Check, RuleKind
from policy_engine.rules.limits import limit_expr, limit_schema
from policy_engine.model import Rule

PARAMS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["limit"],
    "properties": {
        "basis": {"enum": ["margin", "notional"], "default": "margin",
                  "description": "margin: margin / equity; notional: notional / equity"},
        "limit": {**limit_schema(exclusive_minimum=0), "description": "largest allowed share of equity, e.g. 0.05"},
    },
}


def build(rule: Rule, ctx: BuildContext) -> tuple[Check, ...]:
    basis = rule.params.get("basis", "margin")
    limit = limit_expr(rule.params["limit"], ctx.policy)
    amount = pl.col("margin") if basis == "margin" else pl.col("notional")
    observed = amount / EQUITY
    breach, near = at_most(OBSERVED, LIMIT, rule.warn_at)
    excess = amount - LIMIT * EQUITY
    # closing a fraction f of the position frees f of its margin and f of its notional alike
    units = Q * excess / amount
    message = pl.concat_str([
        position_phrase(), pl.lit(f": {basis} of "), fmt.money(amount), pl.lit(" is "), fmt.percent(OBSERVED),
        pl.lit(" of equity "), fmt.money(EQUITY), pl.lit("; the limit is "), fmt.percent(LIMIT), profile_phrase(),
    ])
    remediation = pl.concat_str([
        pl.lit(f"reduce {basis} by "), fmt.money(excess), pl.lit(" (close "), fmt.quantity(units),
        pl.lit(" "), SYMBOL, pl.lit(", about "), fmt.money(units * MP),
        pl.lit(" of notional) to reach "), fmt.percent(LIMIT), pl.lit(" of equity"),
    ])
    return (
        Check(
            name="allocation",
            metric="allocation" if basis == "margin" else "allocation_notional",
            applies=EQUITY.is_not_null(),
            observed=observed,
            limit=limit,
            breach=breach,
            near=near,
            message=message,
            remediation=remediation,
            description=f"{basis} / equity of one position must not exceed the limit",
        ),
    )


KIND = RuleKind(
    name="max_allocation",
    summary="Allocation of one position (margin or notional over account equity) must not exceed a limit.",
    params_schema=PARAMS_SCHEMA,
    build=build,
    example="""\
id: max-allocation
kind: max_allocation
severity: breach
params: {basis: margin, limit: {conservative: 0.02, moderate: 0.05, aggressive: 0.10}}
""",
)
