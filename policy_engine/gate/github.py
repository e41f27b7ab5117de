"""GitHub Actions workflow commands: ``::error``/``::warning`` annotations on the trade-list lines.

GitHub shows at most 10 error and 10 warning annotations per step and drops the rest silently
(reference/ecosystem-conventions.md section 3), so the gate annotates the first 10 of each (blocking
findings first, worst first) and ends with one ``::notice`` that counts everything, including what
was not annotated. Values are escaped as actions/toolkit does (packages/core/src/command.ts): in the
message ``%`` -> %25, CR -> %0D, LF -> %0A; in properties also ``:`` -> %3A and ``,`` -> %2C, so that
no data (a symbol, a client name) can end a command or start another.

Waived findings (--waivers) are not annotated: they do not block. The summary notice counts them,
names their waivers, and counts the expired waivers (their findings are back, annotated as errors
when they block) and those about to expire.
"""

from __future__ import annotations

import polars as pl

from policy_engine.gate.locate import location, rule_name
from policy_engine.gate.run import GateResult

MAX_PER_LEVEL = 10


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: object) -> str:
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items() if v is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def render(gate: GateResult) -> str:
    """The annotation lines (newline-terminated); the last one is a ::notice summary."""
    f = gate.findings
    shown = f.filter(pl.col("blocking") | pl.col("change").is_in(["new", "worsened"]))
    fallback = gate.trade_files[0] if gate.trade_files else "."
    lines, used, skipped = [], {"error": 0, "warning": 0}, 0
    for row in shown.iter_rows(named=True):
        level = "error" if row["blocking"] else "warning"
        if used[level] >= MAX_PER_LEVEL:
            skipped += 1
            continue
        used[level] += 1
        file, line = location(row, fallback)
        trades = ", ".join(row["trade_ids"])
        title = f"{rule_name(row)}: {row['change']} {row['severity']}" + (
            f" (trade {trades})" if trades else ""
        )
        lines.append(
            command(level, f"{row['message']}\nfix: {row['remediation']}", file=file, line=line, title=title)
        )
    c = gate.counts()
    verdict = (
        f"blocked: {c['blocking']} blocking findings" if c["blocking"] else "passed: no blocking findings"
    )
    summary = (
        f"policy-engine gate {verdict} (--fail-on {gate.fail_on}{', --strict' if gate.strict else ''}); "
        f"{c['trades']} trades: {c['new']} new, {c['worsened']} worsened, {c['unchanged']} pre-existing, "
        f"{c['resolved']} resolved findings"
    )
    summary += _waivers(gate)
    if skipped:
        summary += f"; {skipped} more new or blocking findings not annotated (see the job summary or SARIF)"
    lines.append(command("notice", summary, title="policy-engine gate"))
    return "\n".join(lines) + "\n"


def _waivers(gate: GateResult) -> str:
    """'; 1 waived (W-1), 1 waiver expired (its findings are back), ...' for the summary notice."""
    info = gate.result.extra.get("waivers")
    if not isinstance(info, dict):
        return ""
    ids = list(dict.fromkeys(w["waiver_id"] for w in gate.waived_rows))
    text = f"; {len(gate.waived_rows)} waived" + (f" ({', '.join(ids)})" if ids else "")
    if info["expired"]:
        text += f", {info['expired']} waiver{'s' if info['expired'] != 1 else ''} expired (findings back)"
    if info["expiring"]:
        text += f", {info['expiring']} expiring within {info['warning_days']} days"
    if info["stale"]:
        text += f", {info['stale']} stale"
    return text
