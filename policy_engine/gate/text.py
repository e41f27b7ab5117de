"""The short terminal summary of a gate run: the verdict, the counts, the blocking findings.

With --waivers/--history it also has check's waiver and "since the previous run" lines
(output.summary.extra_lines) and one ``WAIVED`` line per waived finding the trades caused or that
would have blocked, naming its waiver.
"""

from __future__ import annotations

import polars as pl

from policy_engine.textsafe import printable
from policy_engine.gate.locate import location, rule_name
from policy_engine.gate.run import GateResult
from policy_engine.output.summary import extra_lines

SHOWN = 20


def render(gate: GateResult) -> str:
    c, info = gate.counts(), gate.result.info
    verdict = (
        f"BLOCKED: {c['blocking']} blocking findings" if c["blocking"] else "PASSED: no blocking findings"
    )
    would = sum(1 for w in gate.waived_rows if w["would_block"])
    if would:
        verdict += f"; {would} waived finding{'s' if would != 1 else ''} would otherwise block"
    lines = [
        (
            f"policy-engine gate {info.engine_version}: {c['trades']} trades on {info.positions:,} positions "
            f"(post-trade) in {info.accounts:,} accounts; --fail-on {gate.fail_on}"
            f"{' --strict' if gate.strict else ''}"
        ),
        (
            f"findings: {c['new']} new, {c['worsened']} worsened, {c['unchanged']} pre-existing (not blocking"
            f"{' unless --strict' if not gate.strict else ''}), {c['resolved']} resolved"
        ),
        *extra_lines(gate.result.extra),
        verdict,
    ]
    fallback = gate.trade_files[0] if gate.trade_files else "."
    shown = gate.findings.filter(pl.col("blocking") | pl.col("change").is_in(["new", "worsened"]))
    for f in shown.head(SHOWN).iter_rows(named=True):
        file, line = location(f, fallback)
        mark = "BLOCK" if f["blocking"] else "note "
        trades = ",".join(f["trade_ids"]) or "-"
        lines.append(
            f"  {mark} {file}:{line} [{trades}] {f['severity']} {f['change']} {rule_name(f)}: {f['message']}"
        )
        lines.append(f"        fix: {f['remediation']}")
    if shown.height > SHOWN:
        lines.append(f"  ... {shown.height - SHOWN} more (see --markdown, --sarif or --output)")
    waived = [w for w in gate.waived_rows if w["would_block"] or w["change"] in ("new", "worsened")]
    for f in waived[:SHOWN]:
        file, line = location(f, fallback)
        trades = ",".join(f["trade_ids"]) or "-"
        lines.append(
            f"  WAIVED {file}:{line} [{trades}] {f['severity']} {f['change']} {rule_name(f)}: {f['message']}"
        )
        lines.append(
            f"        waiver {f['waiver_id']} (ticket {f['waiver_ticket']}, expires {f['waiver_expires']}): "
            f"{f['waiver_reason']}"
        )
    if len(waived) > SHOWN:
        lines.append(f"  ... {len(waived) - SHOWN} more waived (see --markdown, --sarif or --output)")
    return "\n".join(printable(line) for line in lines) + "\n"
