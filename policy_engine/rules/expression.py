"""`expression`: a generic rule; positions where ``require`` does not hold are findings.

``require`` is a boolean expression over snapshot columns and derived metrics (the expression
language: comparisons, arithmetic, and / or / not, IS NULL, IN lists, whitelisted functions).
A ``require`` that cannot be evaluated (a missing value makes it null) is a finding too: a rule
never passes silently. ``observed`` optionally names a numeric expression reported as the
observed value.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from policy_engine.model import Rule
from policy_engine.rules import fmt
from policy_engine.rules.common import position_phrase
from policy_engine.rules.kind import OBSERVED, BuildContext, Check, RuleKind

PARAMS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["require"],
    "properties": {
        "require": {"type": "string", "minLength": 1, "description": "condition every covered position must meet"},
        "observed": {"type": "string", "minLength": 1, "description": "numeric expression shown as the observed value"},
        "message": {"type": "string", "description": "what is wrong, in plain language"},
        "remediation": {"type": "string", "description": "the fix to propose"},
        "scope": {"enum": ["position", "account"], "default": "position",
                  "description": "account: one finding per account, for conditions on account-wide metrics"},
    },
}


def build(rule: Rule, ctx: BuildContext) -> tuple[Check, ...]:
    from policy_engine.expr import compile_value  # the expression language is this kind's own dependency

    params: Any = rule.params
    require = ctx.condition(params["require"])
    observed = (
        compile_value(params["observed"]).cast(pl.Float64, strict=False)
        if "observed" in params else pl.lit(None, dtype=pl.Float64)
    )
    what = params.get("message") or rule.description or f"requirement `{params['require']}` not met"
    scope = params.get("scope", "position")
    subject = pl.concat_str([pl.lit("account "), pl.col("account_id")]) if scope == "account" else position_phrase()
    shown = pl.lit("") if "observed" not in params else pl.concat_str([pl.lit(f" ({params['observed']} = "), fmt.quantity(OBSERVED), pl.lit(")")])
    message = pl.when(require.is_null()).then(pl.concat_str([
        subject, pl.lit(f": `{params['require']}` cannot be evaluated (a value it needs is missing)"),
    ])).otherwise(pl.concat_str([subject, pl.lit(f": {what}"), shown]))
    return (
        Check(
            name="require",
            metric=params.get("observed", "require"),
            applies=pl.lit(True),
            observed=observed,
            limit=pl.lit(None, dtype=pl.Float64),
            breach=require.not_().fill_null(True),
            message=message,
            remediation=pl.lit(params.get("remediation") or f"bring the position in line with `{params['require']}`"),
            description=f"requires `{params['require']}`",
            scope=scope,
        ),
    )


KIND = RuleKind(
    name="expression",
    summary="A generic rule: every position where `where` holds must satisfy `require`.",
    params_schema=PARAMS_SCHEMA,
    build=build,
    expression_params=("require",),
    value_params=("observed",),
    example="""\
id: no-cross-margin-for-conservative
kind: expression
severity: breach
where: "risk_profile = 'conservative'"
params: {require: "margin_mode = 'isolated'", message: "conservative accounts trade isolated margin only"}
""",
)
