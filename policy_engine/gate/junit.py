"""JUnit XML that GitLab, Jenkins and the GitHub test-report actions read.

One test case per (trade, check of the pack): classname = the policy id, name =
``<trade_id> line <n> <rule_id>[<check>] <symbol>`` (unique: GitLab keeps only the first of equal
names), failing when the trade caused a blocking (new or worsened, at or above --fail-on) finding
of that check, passing otherwise (non-blocking findings it caused are listed in ``system-out``).
Under --strict, each blocking finding no trade caused is a failing case of its own
(``book <account> <position> <rule_id>[<check>]``). When nothing blocks, one passing case
"no new findings" is always there, so that a report is never empty (Jenkins fails an empty one).

A case whose blocking findings are all waived (--waivers) is skipped, not failed:
``<skipped message="waived: <waiver id>: <reason> (approved by X, ticket T, expires D)"/>``; a waived
finding that would not have blocked is listed in ``system-out``, marked waived.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import polars as pl

from policy_engine.gate.locate import relative, waiver_note
from policy_engine.gate.run import GateResult

SUITE = "policy-engine gate"
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0


def _clean(text: Any) -> str:
    return _INVALID_XML.sub("\ufffd", "" if text is None else str(text))


def _detail(f: dict[str, Any]) -> str:
    where = f"{f['account_id']} {f['position_id'] or '(account)'}"
    before = (
        ""
        if f["observed_before"] is None
        else f" (before: {f['observed_before']:.6g}, {f['severity_before']})"
    )
    observed = "" if f["observed"] is None else f"observed {f['observed']:.6g}"
    limit = "" if f["limit"] is None else f", limit {f['limit']:.6g}"
    waived = f"\n  waived: {waiver_note(f)}" if f.get("waiver_id") is not None else ""
    return (
        f"[{f['severity']} {f['change']}] {where}: {f['message']}\n  {observed}{limit}{before}\n"
        f"  fix: {f['remediation']}\n  finding {f['finding_id']}{waived}"
    )


def _case(suite: ET.Element, classname: str, name: str, file: str, line: int | None) -> ET.Element:
    attrs = {"classname": _clean(classname), "name": _clean(name), "file": file, "time": "0"}
    if line is not None:
        attrs["line"] = str(line)
    return ET.SubElement(suite, "testcase", attrs)


def _fail(case: ET.Element, findings: list[dict[str, Any]]) -> None:
    first = findings[0]
    node = ET.SubElement(
        case,
        "failure",
        {"message": _clean(first["message"]), "type": _clean(f"{first['severity']} {first['change']}")},
    )
    node.text = _clean("\n".join(_detail(f) for f in findings))


def _skip(case: ET.Element, findings: list[dict[str, Any]]) -> None:
    node = ET.SubElement(
        case, "skipped", {"message": _clean("waived: " + "; ".join(waiver_note(f) for f in findings))}
    )
    node.text = _clean("\n".join(_detail(f) for f in findings))


def _by_case(findings: pl.DataFrame) -> dict[tuple[str, str, str, str], list[dict[str, Any]]]:
    """New or worsened findings by (trade, policy, rule, check)."""
    caused = (
        findings.filter(pl.col("change").is_in(["new", "worsened"]))
        .with_columns(pl.col("trade_ids").alias("__trade"))
        .explode("__trade")
        .drop_nulls("__trade")
    )
    by_case: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for f in caused.iter_rows(named=True):
        by_case.setdefault((f["__trade"], f["policy_id"], f["rule_id"], f["check"]), []).append(f)
    return by_case


def _book_name(f: dict[str, Any], clash: set[tuple[str, str]]) -> str:
    name = f"book {f['account_id']} {f['position_id'] or 'account'} {f['rule_id']}[{f['check']}]"
    return name + (f" ({f['policy_id']})" if (f["rule_id"], f["check"]) in clash else "")


def render(gate: GateResult) -> ET.ElementTree:
    by_case = _by_case(gate.findings)
    waived_by_case = _by_case(gate.waived) if gate.waived is not None else {}
    checks = gate.result.evaluation.coverage.select("policy_id", "rule_id", "check").rows()
    clash = {(r, c) for _, r, c in checks if sum(1 for _, r2, c2 in checks if (r2, c2) == (r, c)) > 1}
    root = ET.Element("testsuites", {"name": "policy-engine"})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE})
    failures = skipped = 0
    for t in gate.effects.iter_rows(named=True):
        file = relative(t["source"])
        for policy_id, rule_id, check in checks:
            name = f"{t['trade_id']} line {t['line']} {rule_id}[{check}] {t['symbol']}"
            if (rule_id, check) in clash:
                name += f" ({policy_id})"
            case = _case(suite, policy_id, name, file, t["line"])
            key = (t["trade_id"], policy_id, rule_id, check)
            found, waived = by_case.get(key, []), waived_by_case.get(key, [])
            blocking = [f for f in found if f["blocking"]]
            would_block = [f for f in waived if f["would_block"]]
            if blocking:
                _fail(case, blocking)
                failures += 1
            elif would_block:
                _skip(case, would_block)
                skipped += 1
            quiet = [f for f in found if not f["blocking"]] + [f for f in waived if not f["would_block"]]
            if quiet:
                ET.SubElement(case, "system-out").text = _clean("\n".join(_detail(f) for f in quiet))
    unblamed = gate.blocking.filter(~pl.col("change").is_in(["new", "worsened"]))
    for f in unblamed.iter_rows(named=True):
        source = f.get("__source")
        _fail(
            _case(suite, f["policy_id"], _book_name(f, clash), relative(source) if source else "", None), [f]
        )
        failures += 1
    for f in gate.waived_rows:  # --strict: a waived pre-existing finding that would block is skipped
        if f["would_block"] and f["change"] not in ("new", "worsened"):
            source = f.get("__source")
            _skip(
                _case(suite, f["policy_id"], _book_name(f, clash), relative(source) if source else "", None),
                [f],
            )
            skipped += 1
    if not gate.blocking.height:
        counts = gate.counts()
        case = _case(
            suite,
            "policy-engine.gate",
            "no new findings",
            relative(gate.trade_files[0]) if gate.trade_files else "",
            None,
        )
        ET.SubElement(case, "system-out").text = (
            f"{counts['trades']} trades; {counts['new']} new, {counts['worsened']} worsened, "
            f"{counts['unchanged']} pre-existing, {counts['resolved']} resolved findings; none blocks "
            f"(--fail-on {gate.fail_on}{', --strict' if gate.strict else ''})"
            + (f"; {counts['waived']} waived" if counts.get("waived") else "")
        )
    tests = len(suite)
    for node in (root, suite):
        node.set("tests", str(tests))
        node.set("failures", str(failures))
        node.set("errors", "0")
        node.set("skipped", str(skipped))
        node.set("time", "0")
    ET.indent(root)
    return ET.ElementTree(root)


def write(gate: GateResult, path: str) -> None:
    tree = render(gate)
    with Path(path).open("wb") as fh:
        tree.write(fh, encoding="utf-8", xml_declaration=True)
        fh.write(b"\n")
