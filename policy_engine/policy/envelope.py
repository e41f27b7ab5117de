"""The JSON Schema of a policy file, generated from the rule-kind registry.

``envelope_schema()`` is the shape of a policy without kind knowledge: validation runs it first
(pass 1) and checks each rule's kind and params separately (pass 2), so messages can name the
kind. ``policy_schema()`` is the same envelope plus, for every registered kind, an
``if kind == K then params: <K's params schema>`` clause: the file shipped as
policy_engine/schema/policy.schema.json for editors (regenerate with
``python -m policy_engine.policy.schema > policy_engine/schema/policy.schema.json``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Mapping, TypeVar

from policy_engine.model import SEVERITY_NAMES
from policy_engine.rules import RULE_KINDS, RuleKind

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SHIPPED_SCHEMA = Path(__file__).resolve().parent.parent / "schema" / "policy.schema.json"

# Policy and rule ids: ASCII letters (either case), digits, '.', '_' and '-'; no '/' (waivers write
# "policy_id/rule_id"), no spaces. Ids are case-sensitive, but two ids of one scope that differ only
# in case are rejected as duplicates (policy.semantics, policy.pack). The (?!\n) is for Python,
# whose '$' also matches before a final newline ("R1\n" would pass); in an editor's ECMA-262 regex
# it changes nothing.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*(?!\n)$"
ID_HINT = "letters a-z or A-Z, digits, '.', '_' and '-', starting with a letter or digit"

K = TypeVar("K")


def id_clashes(ids: Iterable[tuple[K, Any]]) -> Iterator[tuple[K, str, K, str]]:
    """For each ``(key, id)`` whose id equals an earlier one's, also ignoring case: ``(key, id,
    earlier key, earlier id)``. Ids that are not text are skipped (the schema reports them)."""
    first: dict[str, tuple[K, str]] = {}  # casefolded id -> the first (key, id) with it
    for key, value in ids:
        if not isinstance(value, str):
            continue
        folded = value.casefold()
        if folded in first:
            yield key, value, *first[folded]
        else:
            first[folded] = (key, value)

POLICY_REQUIRED = ("id", "version", "description", "owner", "rules")
RULE_REQUIRED = ("id", "kind", "severity", "params")
LIQUIDATION_MODELS = ("binance", "bybit")


def _id(what: str) -> dict[str, Any]:
    return {"type": "string", "pattern": ID_PATTERN, "description": f"{what}: {ID_HINT}"}


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description}


def _rule() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One rule: a kind of check with its params and a severity.",
        "additionalProperties": False,
        "required": list(RULE_REQUIRED),
        "properties": {
            "id": _id("rule id, unique within the policy"),
            "kind": _text("rule kind, a key of policy_engine.rules.RULE_KINDS"),
            "severity": {"enum": list(SEVERITY_NAMES), "description": "severity of a breach"},
            "description": _text("what the rule protects against, in plain language"),
            "where": _text("expression-language condition selecting the positions the rule covers"),
            "warn_at": {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 1,
                "description": "near-limit band as a fraction of the limit",
            },
            "params": {"type": "object", "description": "the kind's own parameters"},
        },
    }


def _defaults() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Pack-wide metric settings (model.MetricSettings); policies must agree.",
        "additionalProperties": False,
        "properties": {
            "maintenance_margin_rate": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
            "maintenance_amount": {"type": "number", "minimum": 0},
            "liquidation_model": {"enum": list(LIQUIDATION_MODELS)},
            "annualization_days": {"type": "number", "exclusiveMinimum": 0},
            "equity_annualization_days": {"type": "number", "exclusiveMinimum": 0},
        },
    }


def _volatility_tier() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "A volatility band: annualised volatility strictly below `below`.",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": _text("tier name, e.g. low"),
            "below": {"type": "number", "exclusiveMinimum": 0},
        },
    }


def envelope_schema() -> dict[str, Any]:
    """The schema of a policy document, with ``params`` left to each kind."""
    return {
        "$schema": DRAFT,
        "title": "policy-engine policy",
        "description": "One risk policy: a set of rules checked against portfolio positions.",
        "type": "object",
        "additionalProperties": False,
        "required": list(POLICY_REQUIRED),
        "properties": {
            "id": _id("policy id, unique within the pack"),
            "version": _text('policy version, a string such as "1.2.0"'),
            "description": _text("what the policy is for"),
            "owner": _text("who answers for the policy, e.g. an e-mail address"),
            "profiles": {
                "type": "array",
                "items": _text("a risk profile name"),
                "uniqueItems": True,
                "description": "risk profiles this policy's limits may name",
            },
            "volatility_tiers": {"type": "array", "minItems": 1, "items": _volatility_tier()},
            "unknown_volatility_tier": _text("tier of a position whose volatility is unknown"),
            "columns": {
                "type": "array",
                "items": _text("a column name, as in the snapshot"),
                "uniqueItems": True,
                "description": "custom snapshot columns that expressions may reference",
            },
            "defaults": _defaults(),
            "rules": {"type": "array", "minItems": 1, "items": _rule()},
        },
    }


def plain(value: Any) -> Any:
    """A deep copy made of dicts and lists only (kinds may hand over mapping proxies, tuples)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return copy.copy(value)


def kind_clause(kind: RuleKind) -> dict[str, Any]:
    return {
        "if": {"properties": {"kind": {"const": kind.name}}, "required": ["kind"]},
        "then": {"properties": {"params": plain(kind.params_schema)}},
    }


def policy_schema(kinds: Mapping[str, RuleKind] = RULE_KINDS) -> dict[str, Any]:
    """The full schema of a policy file: the envelope, the kind names and each kind's params."""
    schema = envelope_schema()
    rule = schema["properties"]["rules"]["items"]
    names = sorted(kinds)
    rule["properties"]["kind"] = {"enum": names, "description": "rule kind"}
    if names:
        rule["allOf"] = [kind_clause(kinds[name]) for name in names]
    return schema
