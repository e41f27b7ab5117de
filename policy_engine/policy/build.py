"""Validated YAML values -> the frozen model objects (``Policy``, ``Rule``, ``MetricSettings``).

Only called on documents that passed every check, except ``provisional_policy``, which builds a
best-effort ``Policy`` from a document that may still be broken so that the kinds' own semantic
checks can run during pass 3. Params are frozen deeply (mappings become read-only mappings,
lists become tuples) so that no later stage can change a policy it was handed.
"""

from __future__ import annotations

from dataclasses import fields
from types import MappingProxyType
from typing import Any

from policy_engine.model import (
    DEFAULT_VOLATILITY_TIERS,
    MetricSettings,
    Policy,
    Rule,
    Severity,
    SourceRef,
    VolatilityBand,
)
from policy_engine.policy.yaml_source import Document, JsonPath

SETTING_FIELDS: dict[str, type] = {f.name: type(f.default) for f in fields(MetricSettings)}


def freeze(value: Any) -> Any:
    """A read-only deep copy: dicts become mapping proxies, lists become tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def volatility_bands(value: Any) -> tuple[VolatilityBand, ...] | None:
    """The bands a ``volatility_tiers`` value declares; None when it is not well formed."""
    if value is None:
        return DEFAULT_VOLATILITY_TIERS
    if not isinstance(value, list) or not value:
        return None
    bands = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return None
        below = item.get("below")
        if below is not None and (isinstance(below, bool) or not isinstance(below, (int, float))):
            return None
        bands.append(VolatilityBand(item["name"], None if below is None else float(below)))
    return tuple(bands)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def provisional_policy(value: dict[str, Any]) -> Policy:
    """A ``Policy`` with whatever parts of the document are usable, and no rules."""

    def text(key: str) -> str:
        v = value.get(key)
        return v if isinstance(v, str) else ""

    unknown = value.get("unknown_volatility_tier")
    return Policy(
        id=text("id"),
        version=text("version"),
        description=text("description"),
        owner=text("owner"),
        rules=(),
        profiles=_strings(value.get("profiles")),
        volatility_tiers=volatility_bands(value.get("volatility_tiers")) or DEFAULT_VOLATILITY_TIERS,
        unknown_volatility_tier=unknown if isinstance(unknown, str) else None,
        columns=_strings(value.get("columns")),
    )


def _source(doc: Document, path: JsonPath) -> SourceRef:
    line, column = doc.position(path)
    return SourceRef(doc.source, line, column)


def build_rule(doc: Document, index: int, value: dict[str, Any]) -> Rule:
    warn_at = value.get("warn_at")
    return Rule(
        id=value["id"],
        kind=value["kind"],
        severity=Severity.parse(value["severity"]),
        params=freeze(value["params"]),
        description=value.get("description", ""),
        where=value.get("where"),
        warn_at=None if warn_at is None else float(warn_at),
        source=_source(doc, ("rules", index)),
    )


def build_policy(doc: Document) -> Policy:
    value: dict[str, Any] = doc.value
    base = provisional_policy(value)
    rules = tuple(build_rule(doc, i, r) for i, r in enumerate(value["rules"]))
    return Policy(
        id=base.id,
        version=base.version,
        description=base.description,
        owner=base.owner,
        rules=rules,
        profiles=base.profiles,
        volatility_tiers=base.volatility_tiers,
        unknown_volatility_tier=base.unknown_volatility_tier,
        columns=base.columns,
        source=_source(doc, ()),
    )


def build_settings(merged: dict[str, Any]) -> MetricSettings:
    """Pack settings from the merged ``defaults`` of every policy (numbers as floats)."""
    return MetricSettings(**{k: SETTING_FIELDS[k](v) for k, v in merged.items()})
