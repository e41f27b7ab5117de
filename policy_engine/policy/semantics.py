"""Validation pass 3 for one policy: what a schema cannot say.

* rule ids are unique within the policy, also ignoring case (``R1-x`` and ``r1-x`` clash);
* ``volatility_tiers``: names unique, ``below`` strictly increasing, only the last band open;
  ``unknown_volatility_tier`` names a tier; ``default`` is not a profile name;
* ``where`` and each of the kind's ``expression_params`` parse (policy_engine.expr) and read only
  known columns (columns.KNOWN_COLUMNS and the policy's own ``columns``);
* limit values name only the policy's tiers (``by_tier``) and, when ``profiles`` is declared,
  only those profiles;
* each kind's own ``semantic_check``;
* every number is finite: YAML's ``.nan`` and ``.inf`` pass a JSON Schema's ``minimum`` (NaN
  compares false with everything), and a NaN limit would make every comparison with it pass.

Checks skip values that passes 1 and 2 already reported, so one mistake gives one message.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from policy_engine.columns import KNOWN_COLUMNS
from policy_engine.expr import ExprError, parse_condition, parse_value, unknown_columns
from policy_engine.policy.build import provisional_policy, volatility_bands
from policy_engine.policy.envelope import id_clashes
from policy_engine.policy.humanize import label, suggest
from policy_engine.policy.shape import LimitValue, rules_of
from policy_engine.policy.sink import IssueSink
from policy_engine.policy.yaml_source import JsonPath
from policy_engine.rules import RuleKind
from policy_engine.rules.limits import unknown_tiers


def _rule_ids(sink: IssueSink) -> None:
    """Rule ids are case-sensitive, but two that differ only in case (``R1-x``, ``r1-x``) are a
    duplicate too: in one policy they are almost certainly a typo, and they read as the same rule."""
    for i, rid, j, other in id_clashes((i, rule.get("id")) for i, rule in rules_of(sink.doc.value)):
        at = sink.line(("rules", j))
        if other == rid:
            message = (
                f"duplicate rule id '{rid}': already used by the rule at line {at}; "
                "rule ids must be unique in a policy"
            )
        else:
            message = (
                f"duplicate rule id '{rid}' (line {sink.line(('rules', i))}): the rule at line {at} is "
                f"'{other}', which differs only in case; rule ids must differ by more than case in a policy"
            )
        sink.add(("rules", i, "id"), message)


def _finite_numbers(sink: IssueSink, value: Any, path: JsonPath = ()) -> None:
    """Report every NaN or infinite number in the document, wherever it is."""
    if isinstance(value, float) and not math.isfinite(value):
        if sink.has_issues(path):  # the schema already said what is wrong with it
            return
        sink.add(path, f"{label(path) if path else 'value'}: {value!r} is not a usable number; "
                       "limits and parameters must be finite numbers")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _finite_numbers(sink, item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _finite_numbers(sink, item, (*path, i))


def _tiers(sink: IssueSink) -> list[str] | None:
    """Check the bands; return the tier names, or None when they are too broken to use."""
    value = sink.doc.value
    bands = volatility_bands(value.get("volatility_tiers"))
    if bands is None or sink.has_issues(("volatility_tiers",)):
        return None
    if "volatility_tiers" not in value:
        return [b.name for b in bands]
    seen: set[str] = set()
    previous: float | None = None
    for i, band in enumerate(bands):
        path: JsonPath = ("volatility_tiers", i)
        if band.name in seen:
            sink.add(
                (*path, "name"), f"volatility tier '{band.name}' is declared twice; tier names must be unique"
            )
        seen.add(band.name)
        last = i == len(bands) - 1
        if last and band.below is not None:
            sink.add(
                (*path, "below"),
                f"the last volatility tier '{band.name}' must not have 'below': "
                "it takes every volatility above the previous band",
                at_key=True,
            )
        elif not last and band.below is None:
            sink.add(path, f"volatility tier '{band.name}' needs 'below': only the last tier is open-ended")
        if band.below is not None and previous is not None and band.below <= previous:
            sink.add(
                (*path, "below"),
                f"volatility tier '{band.name}' has below {band.below:g}, which is not above "
                f"the previous tier's {previous:g}; 'below' must strictly increase",
            )
        previous = band.below if band.below is not None else previous
    return [b.name for b in bands]


def _policy_names(sink: IssueSink, tiers: list[str] | None) -> None:
    value = sink.doc.value
    unknown = value.get("unknown_volatility_tier")
    if isinstance(unknown, str) and tiers is not None and unknown not in tiers:
        sink.add(
            ("unknown_volatility_tier",),
            f"unknown_volatility_tier '{unknown}' is not a volatility tier{suggest(unknown, tiers, 'tiers')}",
        )
    profiles = value.get("profiles")
    if isinstance(profiles, list) and "default" in profiles:
        i = profiles.index("default")
        sink.add(
            ("profiles", i),
            "'default' cannot be a profile name: in a limit map it already means 'any profile not named'",
        )


def _text_position(sink: IssueSink, path: JsonPath, offset: int) -> tuple[int, int] | None:
    """Line and column of character ``offset`` of a one-line scalar, when the text maps exactly."""
    node = sink.doc.nodes.get(path)
    if node is None or node.start_mark.line != node.end_mark.line:
        return None
    raw = sink.doc.text[node.start_mark.index : node.end_mark.index]
    style = getattr(node, "style", None)
    if style is None and raw == node.value:
        shift = 0
    elif style in ("'", '"') and raw[1:-1] == node.value:
        shift = 1
    else:
        return None
    return node.start_mark.line + 1, node.start_mark.column + 1 + shift + offset


def _expression(sink: IssueSink, path: JsonPath, text: str, known: frozenset[str], condition: bool = True) -> None:
    name = label(path)
    try:
        node = parse_condition(text) if condition else parse_value(text)
    except ExprError as exc:
        position = _text_position(sink, path, exc.offset)
        where = "" if position else f" (at character {exc.offset + 1} of the expression)"
        sink.add(path, f"invalid expression in {name}: {exc.message}{where}", position=position)
        return
    for message in unknown_columns(node, known):
        sink.add(path, f"{name}: {message} (custom columns are declared in the policy's 'columns')")


def _expressions(sink: IssueSink, kinds: Mapping[str, RuleKind]) -> None:
    custom = sink.doc.value.get("columns")
    known = (
        KNOWN_COLUMNS | frozenset(c for c in custom if isinstance(c, str))
        if isinstance(custom, list)
        else KNOWN_COLUMNS
    )
    for i, rule in rules_of(sink.doc.value):
        if isinstance(rule.get("where"), str) and not sink.has_issues(("rules", i, "where")):
            _expression(sink, ("rules", i, "where"), rule["where"], known)
        kind, params = kinds.get(str(rule.get("kind"))), rule.get("params")
        if kind is None or not isinstance(params, dict):
            continue
        for names, condition in ((kind.expression_params, True), (kind.value_params, False)):
            for name in names:
                if isinstance(params.get(name), str) and not sink.has_issues(("rules", i, "params", name)):
                    _expression(sink, ("rules", i, "params", name), params[name], known, condition)


def _profile_keys(value: Mapping[str, Any], path: JsonPath) -> list[tuple[JsonPath, str]]:
    if "by_tier" in value:
        by_tier = value["by_tier"]
        return [
            p
            for t, v in by_tier.items()
            if isinstance(v, Mapping)
            for p in _profile_keys(v, (*path, "by_tier", t))
        ]
    return [((*path, k), k) for k in value if k != "default"]


def _limits(sink: IssueSink, limits: list[LimitValue], tiers: list[str] | None) -> None:
    policy = provisional_policy(sink.doc.value)
    profiles = sink.doc.value.get("profiles")
    declared = [p for p in profiles if isinstance(p, str)] if isinstance(profiles, list) else None
    for path, value in limits:
        if tiers is not None:
            for tier in unknown_tiers(value, policy):
                sink.add(
                    (*path, "by_tier", tier),
                    f"unknown volatility tier '{tier}' in {label(path)}{suggest(tier, tiers, 'tiers')}",
                    at_key=True,
                )
        if declared is None:
            continue
        for key_path, name in _profile_keys(value, path):
            if name not in declared:
                sink.add(
                    key_path,
                    f"profile '{name}' is not declared in the policy's profiles"
                    f"{suggest(name, declared, 'profiles')} (or 'default')",
                    at_key=True,
                )


def _kind_checks(sink: IssueSink, kinds: Mapping[str, RuleKind], valid: set[int]) -> None:
    policy = provisional_policy(sink.doc.value)
    for i, rule in rules_of(sink.doc.value):
        kind, params = kinds.get(str(rule.get("kind"))), rule.get("params")
        prefix: JsonPath = ("rules", i, "params")
        if kind is None or kind.semantic_check is None or not isinstance(params, dict) or i not in valid:
            continue  # a kind's check may rely on its params fitting its schema
        for sub, message in kind.semantic_check(params, policy):
            sink.add((*prefix, *sub), f"{label((*prefix, *sub))}: {message}")


def check_semantics(sink: IssueSink, kinds: Mapping[str, RuleKind], limits: list[LimitValue]) -> None:
    """Pass 3 for one policy document (cross-policy checks live in pack.py)."""
    if not isinstance(sink.doc.value, dict):
        return
    valid = {i for i, _ in rules_of(sink.doc.value) if not sink.has_issues(("rules", i, "params"))}
    _finite_numbers(sink, sink.doc.value)
    _rule_ids(sink)
    tiers = _tiers(sink)
    _policy_names(sink, tiers)
    _expressions(sink, kinds)
    _limits(sink, limits, tiers)
    _kind_checks(sink, kinds, valid)
