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

import math
from typing import Any, Callable, Mapping

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


def _profile_values(value: Any) -> tuple[dict[str, float], float | None]:
    """A number or profile map as (value per named profile, default)."""
    if not isinstance(value, Mapping):
        return {}, float(value)
    named = {k: float(v) for k, v in value.items() if k != "default"}
    default = value.get("default")
    return named, None if default is None else float(default)


def _profile_expr(named: Mapping[str, float], default: float | None) -> pl.Expr:
    # Numeric branches on the profile rather than ``replace_strict``: a handful of string
    # equality tests per row is several times cheaper than a hash-map lookup that builds a
    # new column, and it keeps the plan streamable (benchmarks/README.md, "profile").
    # Profiles sharing a value share a branch; no profile (null) and unnamed ones get the default.
    otherwise = pl.lit(default, dtype=pl.Float64)
    by_value: dict[float, list[str]] = {}
    for name, v in named.items():
        if v != default:
            by_value.setdefault(v, []).append(name)
    if not by_value:
        return otherwise
    expr: Any = None
    for v, names in by_value.items():
        cond = pl.col(PROFILE) == names[0] if len(names) == 1 else pl.col(PROFILE).is_in(names)
        then = pl.lit(v, dtype=pl.Float64)
        expr = pl.when(cond).then(then) if expr is None else expr.when(cond).then(then)
    return expr.otherwise(otherwise)


def _by_band(
    bands: tuple[VolatilityBand, ...], unknown: str | None, value: Callable[[str | None], pl.Expr], vol: pl.Expr
) -> pl.Expr:
    """``value(tier)`` for each position's volatility tier, decided on the volatility number: the
    first band whose ``below`` it is under (the last band is open-ended); a null volatility, or one
    above every closed band, takes ``value(unknown)``."""
    expr: Any = pl.when(vol.is_null()).then(value(unknown))
    for band in bands:
        expr = expr.when(vol.is_not_null() if band.below is None else vol < band.below).then(value(band.name))
    return expr.otherwise(value(unknown))


def tier_expr(bands: tuple[VolatilityBand, ...], unknown: str | None, vol: pl.Expr | None = None) -> pl.Expr:
    """The volatility tier name of each position; null volatility goes to ``unknown``.

    ``unknown=None`` leaves it null so the caller can apply the strictest limit.
    """
    return _by_band(bands, unknown, lambda name: pl.lit(name, dtype=pl.String), pl.col(VOLATILITY) if vol is None else vol)


def _strictest(per_tier: Mapping[str, tuple[dict[str, float], float | None]]) -> tuple[dict[str, float], float | None]:
    """The lowest limit over every tier, per profile, computed when compiling.

    A tier that gives a profile no number is skipped for it (as ``min_horizontal`` skips nulls);
    a profile that no tier covers is a data error reported before evaluation (``covers_profile``).
    """
    names = set().union(*(named for named, _ in per_tier.values()))

    def lowest(values: list[float | None]) -> float | None:
        # NaN is skipped as min_horizontal skips it (validation rejects it in policies anyway)
        known = [v for v in values if v is not None and not math.isnan(v)]
        return min(known) if known else None

    named = {
        name: low
        for name in sorted(names)
        if (low := lowest([n.get(name, d) for n, d in per_tier.values()])) is not None
    }
    return named, lowest([d for _, d in per_tier.values()])


def limit_expr(value: Any, policy: Policy, unknown_tier: str | None = None) -> pl.Expr:
    """The per-position limit for a limit value of any of the three forms.

    For a tier map, a position whose volatility is unknown gets ``unknown_tier`` (the policy's
    ``unknown_volatility_tier``); when neither names one, the strictest (lowest) limit applies,
    as it does for a tier the map does not name.
    """
    if not (isinstance(value, Mapping) and "by_tier" in value):
        return _profile_expr(*_profile_values(value))
    by_tier: Mapping[str, Any] = value["by_tier"]
    per_tier = {name: _profile_values(v) for name, v in by_tier.items()}
    strictest = _strictest(per_tier)

    def tier_limit(name: str | None) -> pl.Expr:  # a tier the map does not name: the strictest
        return _profile_expr(*(per_tier.get(name, strictest) if name is not None else strictest))

    # the limit per tier directly, not a tier name per position compared with every tier's name
    unknown = unknown_tier or policy.unknown_volatility_tier
    return _by_band(policy.volatility_tiers, unknown, tier_limit, pl.col(VOLATILITY))


def unknown_tiers(value: Any, policy: Policy) -> list[str]:
    """Tier names in a tier map that the policy's volatility tiers do not define."""
    if isinstance(value, Mapping) and "by_tier" in value:
        known = {b.name for b in policy.volatility_tiers}
        return sorted(set(value["by_tier"]) - known)
    return []
