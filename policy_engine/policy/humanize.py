"""jsonschema errors -> messages for the person who wrote the policy.

jsonschema says "'5%' is not valid under any of the given schemas"; a policy author needs
"params.limit must be a number or a mapping, got the text '5%'". Each error is turned into one
or more ``Problem``s: a JSON path (where to point), a message (what is wrong and what is
allowed) and whether to point at the key rather than the value. For ``oneOf``/``anyOf`` the
branch the author most likely meant is chosen (the one that got furthest into the value), in
the spirit of Cloud Custodian's ``specific_error``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from jsonschema.exceptions import ValidationError

from policy_engine.policy.envelope import ID_HINT, ID_PATTERN
from policy_engine.policy.yaml_source import JsonPath

TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "empty",
}
LIMIT_FORMS = (
    "a number, a profile map ({conservative: 0.02, default: 0.05}) or a tier map ({by_tier: {low: ...}})"
)
COMPARISONS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


@dataclass(frozen=True, slots=True)
class Problem:
    path: JsonPath
    message: str
    at_key: bool = False
    missing: str | None = None  # a required key that is absent
    suggested: str | None = None  # the key an unknown key probably meant


def closest(word: Any, names: Iterable[str]) -> str | None:
    """The name ``word`` most likely meant: one equal to it but for case first (ids and names are
    case-sensitive, so ``R1-x`` for ``r1-x`` is a likely slip), else difflib's closest."""
    if not isinstance(word, str):
        return None
    choices = list(names)
    same = [n for n in choices if n.casefold() == word.casefold()]
    if same:
        return same[0]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: Any, choices: Iterable[Any], what: str = "allowed") -> str:
    """``"; did you mean 'x'? allowed: a, b, x"``, the question only when a choice is close."""
    names = list(dict.fromkeys(str(c) for c in choices))
    listing = f"{what}: {', '.join(names)}" if names else f"{what}: none"
    close = closest(word, names)
    return f"; did you mean '{close}'? {listing}" if close else f"; {listing}"


def label(path: JsonPath) -> str:
    """A path as the author reads it, relative to the rule or policy that holds it."""
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rest, whole = path[2:], "the rule"
    else:
        rest, whole = path, "the policy"
    out = ""
    for part in rest:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or whole


def describe(value: Any) -> str:
    """What a value is, for "got ..." phrases."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (dt.date, dt.datetime)):
        return f"the date {value.isoformat()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


# jsonschema types these loosely (a schema may be a bool, a value may be unset); ours are JSON values
def _instance(err: ValidationError) -> Any:
    return err.instance


def _schema(err: ValidationError) -> Any:
    return err.schema


def _keyword(err: ValidationError) -> Any:
    return err.validator_value


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    if "type" in schema:
        t = schema["type"]
        return [t] if isinstance(t, str) else list(t)
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return sorted({"string" if isinstance(v, str) else "number" for v in values})
    return []


def _joined(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _type_message(err: ValidationError, path: JsonPath) -> str:
    schema, instance = _schema(err), _instance(err)
    expected = _joined([TYPE_NAMES.get(t, t) for t in _types(schema)] or ["another type"])
    text = f"{label(path)} must be {expected}, got {describe(instance)}"
    if "string" in _types(schema) and isinstance(instance, (int, float, dt.date)):
        text += "; put it in quotes to make it text"
    return text


def _unknown_keys(err: ValidationError, path: JsonPath) -> list[Problem]:
    schema = _schema(err)
    allowed = list(schema.get("properties", {}))
    patterns = schema.get("patternProperties", {})
    where = "" if label(path) in ("the rule", "the policy") else f" in {label(path)}"
    problems = []
    for key in _instance(err):
        if key in allowed or any(re.search(p, key) for p in patterns):
            continue
        message = f"unknown key '{key}'{where}{suggest(key, allowed)}"
        problems.append(Problem((*path, key), message, at_key=True, suggested=closest(key, allowed)))
    return problems


def is_limit_schema(branches: Any) -> bool:
    """Whether a ``oneOf`` is rules/limits.limit_schema(): it has a ``by_tier`` branch."""
    return isinstance(branches, list) and any(
        isinstance(b, Mapping) and list(b.get("required", ())) == ["by_tier"] for b in branches
    )


def _branch_score(errors: list[ValidationError]) -> tuple[int, int]:
    # the branch whose shallowest error is deepest got furthest; then the fewest errors
    return (min(len(e.absolute_path) for e in errors), -len(errors))


def _combinator(err: ValidationError, path: JsonPath, prefix: JsonPath) -> list[Problem]:
    if not err.context:
        return [Problem(path, f"{label(path)} matches more than one allowed form; make it unambiguous")]
    branches: dict[int, list[ValidationError]] = {}
    for sub in err.context:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    # a branch that rejects the value's own type is not the one the author meant
    fitting = {
        i: errs
        for i, errs in branches.items()
        if not any(e.validator == "type" and (*prefix, *e.absolute_path) == path for e in errs)
    }
    if not fitting:
        branches_schema = _keyword(err)
        forms = [TYPE_NAMES.get(t, t) for b in branches_schema for t in _types(b)]
        expected = LIMIT_FORMS if is_limit_schema(branches_schema) else _joined(forms or ["another form"])
        return [Problem(path, f"{label(path)} must be {expected}, got {describe(_instance(err))}")]
    best = max(fitting.values(), key=_branch_score)
    return [p for sub in best for p in humanize(sub, prefix)]


def _simple(err: ValidationError, path: JsonPath) -> str:
    name, value, kw = label(path), _instance(err), _keyword(err)
    if err.validator == "enum":
        return f"{name} {value!r} is not allowed{suggest(value, kw)}"
    if err.validator == "const":
        return f"{name} must be {kw!r}, got {describe(value)}"
    if err.validator == "pattern":
        hint = ID_HINT if kw == ID_PATTERN else _schema(err).get("description", f"matching {kw}")
        return f"{name} {value!r} is not valid: use {hint}"
    if err.validator in COMPARISONS:
        return f"{name} must be {COMPARISONS[str(err.validator)]} {kw}, got {value}"
    if err.validator in ("minItems", "maxItems"):
        bound = "at least" if err.validator == "minItems" else "at most"
        return f"{name} must have {bound} {kw} item{'s' if kw != 1 else ''}, got {len(value)}"
    if err.validator == "minLength" and kw == 1:
        return f"{name} must not be empty"
    if err.validator in ("minProperties", "maxProperties"):
        bound = "at least" if err.validator == "minProperties" else "at most"
        return f"{name} must have {bound} {kw} key{'s' if kw != 1 else ''}"
    if err.validator == "uniqueItems":
        dups = [v for i, v in enumerate(value) if v in value[:i]]
        return f"{name} lists {dups[0]!r} more than once" if dups else f"{name} has repeated items"
    if err.validator == "not" and "propertyNames" in err.relative_schema_path:
        return f"key {value!r} is not allowed here"
    return f"{name}: {err.message}"


def humanize(err: ValidationError, prefix: JsonPath = ()) -> list[Problem]:
    """One jsonschema error as the problems a policy author should fix.

    ``prefix`` is the path of the validated value inside the document (a rule's params).
    """
    path = (*prefix, *err.absolute_path)
    instance = _instance(err)
    if err.validator == "required" and isinstance(instance, Mapping):
        # one error per missing key, none saying which: report them all, merge() drops repeats
        required = [str(k) for k in _keyword(err)]
        return [
            Problem(
                path,
                f"missing required key '{key}' in {label(path)}; required: {', '.join(required)}",
                missing=key,
            )
            for key in required
            if key not in instance
        ]
    if err.validator == "additionalProperties" and isinstance(instance, Mapping):
        return _unknown_keys(err, path)
    if err.validator in ("oneOf", "anyOf"):
        return _combinator(err, path, prefix)
    if err.validator == "type":
        return [Problem(path, _type_message(err, path))]
    return [Problem(path, _simple(err, path))]


def merge(problems: list[Problem]) -> list[Problem]:
    """Drop repeats, and "missing key 'severity'" where an unknown key 'sevrity' already says so."""
    meant = {(p.path[:-1], p.suggested) for p in problems if p.suggested}
    unique = list(dict.fromkeys(problems))
    return [p for p in unique if p.missing is None or (p.path, p.missing) not in meant]
