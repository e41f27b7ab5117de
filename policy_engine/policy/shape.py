"""Validation passes 1 and 2: the envelope of a policy, then each rule's kind and params.

Pass 1 checks the document against ``envelope_schema()`` (required and unknown keys, types,
severities, id patterns). Pass 2 looks each rule's kind up in the registry (an unknown kind is
reported with a did-you-mean and the known kinds) and checks its params against the kind's own
``params_schema``. Both collect every problem; neither stops at the first.

Pass 2 also returns where the params hold *limit values* (a number, a profile map or a
``by_tier`` map, see rules/limits.py), found by the schema itself: a ``oneOf`` that has a
``by_tier`` branch and that the value satisfies. Pass 3 checks their profile and tier names.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator, Mapping

from jsonschema import Draft202012Validator, validators

from policy_engine.policy.envelope import envelope_schema
from policy_engine.policy.humanize import humanize, is_limit_schema, merge, suggest
from policy_engine.policy.sink import IssueSink
from policy_engine.policy.yaml_source import JsonPath
from policy_engine.rules import RuleKind

LimitValue = tuple[JsonPath, Mapping[str, Any]]


@lru_cache(maxsize=1)
def _envelope_validator() -> Draft202012Validator:
    return Draft202012Validator(envelope_schema())


def check_envelope(sink: IssueSink) -> None:
    """Pass 1: the policy's own keys and each rule's common keys (not params)."""
    errors = _envelope_validator().iter_errors(sink.doc.value)
    for problem in merge([p for error in errors for p in humanize(error)]):
        sink.add(problem.path, problem.message, at_key=problem.at_key)


def rules_of(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, rule) for each rule that is at least a mapping."""
    rules = value.get("rules") if isinstance(value, dict) else None
    if not isinstance(rules, list):
        return []
    return [(i, r) for i, r in enumerate(rules) if isinstance(r, dict)]


def _recording_validator(schema: Mapping[str, Any], found: list[Mapping[str, Any]]) -> Any:
    """A validator that also notes every mapping a limit schema accepted."""
    one_of = Draft202012Validator.VALIDATORS["oneOf"]

    def recording_one_of(validator: Any, branches: Any, instance: Any, sub: Any) -> Iterator[Any]:
        errors = list(one_of(validator, branches, instance, sub))
        if not errors and isinstance(instance, Mapping) and is_limit_schema(branches):
            found.append(instance)
        yield from errors

    cls = validators.extend(Draft202012Validator, {"oneOf": recording_one_of})  # type: ignore[no-untyped-call]
    return cls(schema)


def _paths_of(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths_of(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths_of(v, (*path, i))


def _check_params(sink: IssueSink, kind: RuleKind, params: Any, prefix: JsonPath) -> list[LimitValue]:
    found: list[Mapping[str, Any]] = []
    errors = _recording_validator(kind.params_schema, found).iter_errors(params)
    for problem in merge([p for error in errors for p in humanize(error, prefix)]):
        sink.add(problem.path, problem.message, at_key=problem.at_key)
    by_id = {id(v): p for p, v in _paths_of(params, prefix) if isinstance(v, Mapping)}
    unique = {id(v): v for v in found if id(v) in by_id}  # a value may be validated more than once
    return [(by_id[key], v) for key, v in unique.items()]


def check_kinds(sink: IssueSink, kinds: Mapping[str, RuleKind]) -> list[LimitValue]:
    """Pass 2: each rule's kind exists and its params fit the kind's schema."""
    limits: list[LimitValue] = []
    for i, rule in rules_of(sink.doc.value):
        name = rule.get("kind")
        if not isinstance(name, str) or not name:
            continue  # pass 1 reported it
        kind = kinds.get(name)
        if kind is None:
            sink.add(
                ("rules", i, "kind"),
                f"unknown rule kind '{name}'{suggest(name, sorted(kinds), 'known kinds')}",
            )
            continue
        params = rule.get("params")
        if isinstance(params, dict):
            limits.extend(_check_params(sink, kind, params, ("rules", i, "params")))
    return limits
