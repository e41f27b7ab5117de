"""Limits that depend on the account's risk profile and on the position's volatility tier.

A limit value in a policy is one of:

* a number: ``0.05``;
* a profile map: ``{conservative: 0.02, moderate: 0.05, aggressive: 0.10, default: 0.05}``;
  ``default`` covers any profile not named (without it, an account whose profile is not named
  is a data error, reported before evaluation: it must never pass silently);
* a tier map: ``{by_tier: {low: 10, medium: 5, high: {conservative: 1.5, default: 3}, extreme: 2}}``,
  each value a number or a profile map. The tier comes from the policy's ``volatility_tiers``.
"""

from __future__ import annotations

from typing import Any, Mapping

import polars as pl

from policy_engine.model import Policy, VolatilityBand

PROFILE = "risk_profile"
VOLATILITY = "volatility"

NUMBER_SCHEMA: dict[str, Any] = {"type": "number"}
PROFILE_MAP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {"type": "number"},
    "propertyNames": {"not": {"const": "by_tier"}},
}


def limit_schema(minimum: float | None = None, exclusive_minimum: float | None = None) -> dict[str, Any]:
    """JSON Schema of a limit value (number, profile map or tier map)."""
    num: dict[str, Any] = {"type": "number"}
    if minimum is not None:
        num["minimum"] = minimum
    if exclusive_minimum is not None:
        num["exclusiveMinimum"] = exclusive_minimum
    pmap = {**PROFILE_MAP_SCHEMA, "additionalProperties": num}
    flat = {"oneOf": [num, pmap]}
    return {
        "oneOf": [
            num,
            pmap,
            {
                "type": "object",
                "required": ["by_tier"],
                "additionalProperties": False,
                "properties": {"by_tier": {"type": "object", "minProperties": 1, "additionalProperties": flat}},
            },
        ]
    }


def profile_names(value: Any) -> set[str]:
    """Profiles a limit value names explicitly (``default`` excluded)."""
    if isinstance(value, Mapping):
        if "by_tier" in value:
            return set().union(*(profile_names(v) for v in value["by_tier"].values()))
        return {k for k in value if k != "default"}
    return set()


def covers_profile(value: Any, profile: str | None) -> bool:
    """Whether a limit value gives a number for ``profile`` (None: the account has no profile)."""
    if isinstance(value, Mapping):
        if "by_tier" in value:
            return all(covers_profile(v, profile) for v in value["by_tier"].values())
        return "default" in value or (profile is not None and profile in value)
    return True


def _profile_expr(value: Any) -> pl.Expr:
    if not isinstance(value, Mapping):
        return pl.lit(float(value), dtype=pl.Float64)
    named = {k: float(v) for k, v in value.items() if k != "default"}
    default = value.get("default")
    expr = pl.col(PROFILE).replace_strict(
        list(named), list(named.values()), default=None if default is None else float(default),
        return_dtype=pl.Float64,
    ) if named else pl.lit(None, dtype=pl.Float64)
    if default is not None and named:
        # accounts without a profile take the default too
        expr = expr.fill_null(float(default))
    elif default is not None:
        expr = pl.lit(float(default), dtype=pl.Float64)
    return expr


def tier_expr(bands: tuple[VolatilityBand, ...], unknown: str | None, vol: pl.Expr | None = None) -> pl.Expr:
    """The volatility tier name of each position; null volatility goes to ``unknown``.

    ``unknown=None`` leaves it null so the caller can apply the strictest limit.
    """
    v = pl.col(VOLATILITY) if vol is None else vol
    expr: pl.Expr | pl.When | pl.Then | None = None
    for band in bands:
        cond = v.is_not_null() if band.below is None else v < band.below
        expr = pl.when(cond).then(pl.lit(band.name)) if expr is None else expr.when(cond).then(pl.lit(band.name))
    assert expr is not None
    return expr.otherwise(pl.lit(unknown, dtype=pl.String))  # type: ignore[union-attr]


def limit_expr(value: Any, policy: Policy, unknown_tier: str | None = None) -> pl.Expr:
    """The per-position limit for a limit value of any of the three forms.

    For a tier map, a position whose volatility is unknown gets ``unknown_tier`` (the policy's
    ``unknown_volatility_tier``); when neither names one, the strictest (lowest) limit applies.
    """
    if not (isinstance(value, Mapping) and "by_tier" in value):
        return _profile_expr(value)
    by_tier: Mapping[str, Any] = value["by_tier"]
    per_tier = {name: _profile_expr(v) for name, v in by_tier.items()}
    unknown = unknown_tier or policy.unknown_volatility_tier
    tier = tier_expr(policy.volatility_tiers, unknown)
    expr: Any = None
    for name, e in per_tier.items():
        expr = pl.when(tier == name).then(e) if expr is None else expr.when(tier == name).then(e)
    strictest = pl.min_horizontal(*per_tier.values())
    return expr.otherwise(strictest)


def unknown_tiers(value: Any, policy: Policy) -> list[str]:
    """Tier names in a tier map that the policy's volatility tiers do not define."""
    if isinstance(value, Mapping) and "by_tier" in value:
        known = {b.name for b in policy.volatility_tiers}
        return sorted(set(value["by_tier"]) - known)
    return []
