"""SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer): one run per invocation.

What GitHub requires and uses (reference/ecosystem-conventions.md section 1): every rule with id,
name, short and full description and help; every result with a message, a location whose
``region.startLine`` is >= 1, a stable ``partialFingerprints.primaryLocationLineHash`` (here: a hash
of the finding id, which does not move when the trade moves to another line) and an explicit level;
``automationDetails.id`` as the category; ``invocations[0]`` with the exit code.

Results are the post-trade findings: ``new`` and ``worsened`` ones (baselineState new / updated)
at their severity's level, pre-existing ones (unchanged) at level ``note`` unless they block under
--strict. Resolved findings are not results: code scanning closes an alert that is no longer reported.

Waived findings (--waivers) are results too, at the level they would have, with a SARIF
``suppressions`` entry (kind ``external``, status ``accepted``, the waiver as justification): a
viewer shows them as suppressed and code scanning does not count them as open. Expired, expiring
and stale waivers are ``toolExecutionNotifications`` of the invocation.
"""

from __future__ import annotations

import urllib.parse

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from policy_engine import __version__
from policy_engine.gate.locate import location, relative, rule_name, waiver_note
from policy_engine.gate.run import GateResult
from policy_engine.rules import RULE_KINDS

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
CATEGORY = "policy-engine/gate/"
LEVELS = {"critical": "error", "breach": "error", "warning": "warning", "info": "note"}
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}
BASELINE = {"new": "new", "worsened": "updated", "unchanged": "unchanged"}
_MAX_TEXT = 1000  # GitHub: descriptions up to 1024 characters


def fingerprint(finding_id: str) -> str:
    return hashlib.sha256(f"policy-engine/gate/{finding_id}".encode()).hexdigest()[:32]


def _text(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 3] + "..."


def _rules(gate: GateResult) -> list[dict[str, Any]]:
    coverage = gate.result.evaluation.coverage
    checks: dict[str, list[str]] = {}
    for row in coverage.iter_rows(named=True):
        text = row["check_description"] or row["check"]
        checks.setdefault(f"{row['policy_id']}/{row['rule_id']}", []).append(f"{row['check']}: {text}")
    rules = []
    for policy, rule in gate.result.pack.rules:
        rule_id = f"{policy.id}/{rule.id}"
        kind = RULE_KINDS.get(rule.kind)
        summary = kind.summary if kind else rule.kind
        description = rule.description or summary
        level = LEVELS[rule.severity.label]
        listed = checks.get(rule_id, [])
        help_text = f"{description}\nKind {rule.kind}: {summary}\nChecks: " + "; ".join(listed)
        help_md = (
            f"**{rule_id}** ({rule.severity.label})\n\n{description}\n\n*Kind* `{rule.kind}`: {summary}\n\n"
            + "\n".join(f"- `{c.split(':', 1)[0]}`:{c.split(':', 1)[1]}" for c in listed)
            + "\n\nEach result says how to fix it; the gate blocks only findings its trades cause."
        )
        rules.append(
            {
                "id": rule_id,
                "name": rule.id,
                "shortDescription": {"text": _text(f"{policy.id}: {rule.id} ({rule.kind})")},
                "fullDescription": {"text": _text(description)},
                "help": {"text": help_text, "markdown": help_md},
                "defaultConfiguration": {"level": level},
                "properties": {
                    "tags": ["risk", "policy-engine", rule.kind, policy.id],
                    "precision": "very-high",
                    "problem.severity": PROBLEM_SEVERITY[level],
                    "policyVersion": policy.version,
                },
            }
        )
    return sorted(rules, key=lambda r: r["id"])


def _number(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _message(f: dict[str, Any]) -> str:
    trades = ", ".join(f"{t} (line {n})" for t, n in zip(f["trade_ids"], f["trade_lines"]))
    cause = {"new": "caused by", "worsened": "made worse by"}.get(f["change"], "touched by")
    text = f"[{f['change']}] {f['message']}. Fix: {f['remediation']}."
    text += f" {cause.capitalize()} trade {trades}." if trades else ""
    return text + (f" Waived: {waiver_note(f)}." if f.get("waiver_id") is not None else "")


def _notifications(gate: GateResult) -> list[dict[str, Any]]:
    """The waiver warnings (expired: their findings are back; expiring; stale) as SARIF notifications."""
    if "waivers" not in gate.result.extra:
        return []
    from policy_engine.waivers import waiver_warnings

    out = []
    for text in waiver_warnings(gate.result):
        level, _, message = text.partition(": ")
        out.append({"level": "warning" if level == "warning" else "note", "message": {"text": message}})
    return out


def _uri(path: str) -> str:
    """A relative path as a URI reference: 'my trades#1.csv' -> 'my%20trades%231.csv' ('#' is no fragment)."""
    return urllib.parse.quote(path, safe="/")


def _result(f: dict[str, Any], index: dict[str, int], fallback: str) -> dict[str, Any]:
    uri, line = location(f, fallback)
    rule_id = f"{f['policy_id']}/{f['rule_id']}"
    waived = f.get("waiver_id") is not None
    blocks = f["would_block"] if waived else f["blocking"]
    level = LEVELS[f["severity"]] if blocks or f["change"] != "unchanged" else "note"
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": index[rule_id],
        "level": level,
        "kind": "fail",
        "baselineState": BASELINE[f["change"]],
        "message": {"text": _message(f)},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": _uri(uri)}, "region": {"startLine": line}},
                "message": {"text": rule_name(f)},
            }
        ],
        "partialFingerprints": {"primaryLocationLineHash": fingerprint(f["finding_id"])},
        "properties": {
            "findingId": f["finding_id"],
            "change": f["change"],
            "blocking": f["blocking"],
            "severity": f["severity"],
            "status": f["status"],
            "check": f["check"],
            "accountId": f["account_id"],
            "positionId": f["position_id"],
            "symbol": f["symbol"],
            "observed": _number(f["observed"]),
            "observedBefore": _number(f["observed_before"]),
            "limit": _number(f["limit"]),
            "tradeIds": list(f["trade_ids"]),
        },
    }
    if waived:  # an accepted, external suppression: shown as suppressed, never an open alert
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": waiver_note(f)}]
        result["properties"].update(
            waiverId=f["waiver_id"],
            waiverExpires=f["waiver_expires"],
            waiverSource=f["waiver_source"],
            wouldBlock=f["would_block"],
        )
    return result


def render(gate: GateResult) -> dict[str, Any]:
    rules = _rules(gate)
    index = {r["id"]: i for i, r in enumerate(rules)}
    fallback = gate.trade_files[0] if gate.trade_files else "."
    current = gate.findings.filter(gate.findings["change"] != "resolved").iter_rows(named=True)
    results = [_result(f, index, fallback) for f in [*current, *gate.waived_rows]]
    code = gate.exit_code
    invocation: dict[str, Any] = {
        "executionSuccessful": True,
        "exitCode": code,
        "exitCodeDescription": "blocking findings" if code else "no blocking findings",
    }
    notifications = _notifications(gate)
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "policy-engine",
                        "semanticVersion": __version__,
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": CATEGORY},
                "invocations": [invocation],
                "artifacts": [
                    {"location": {"uri": _uri(relative(p))}, "roles": ["analysisTarget"]} for p in gate.trade_files
                ],
                "results": results,
                "properties": {"gate": gate.counts(), "failOn": gate.fail_on, "strict": gate.strict},
            }
        ],
    }


def write(gate: GateResult, path: str) -> None:
    text = json.dumps(render(gate), indent=2, ensure_ascii=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")
