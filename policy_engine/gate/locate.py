"""Where a gate finding points: the trade-list line that caused it, else the position's line.
And how titles name a finding's rule and a waived finding's waiver.

CI systems need a file relative to the repository (the current directory, in CI the checkout) with
forward slashes, and a line >= 1 (GitHub code scanning rejects a whole SARIF file for a line 0).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_LINE_FORMATS = (".csv",)  # positions formats whose __row is a text line; others point at line 1


def relative(path: str) -> str:
    """``path`` relative to the current directory, with forward slashes (absolute if on another drive)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # Windows: another drive
        rel = os.path.abspath(path)
    return Path(rel).as_posix()


def location(finding: dict[str, Any], fallback: str) -> tuple[str, int]:
    """(file, line) of a finding row: its first trade's line, else its position's line, else line 1."""
    sources, lines = finding.get("trade_sources") or [], finding.get("trade_lines") or []
    if sources and lines:
        return relative(sources[0]), max(1, int(lines[0]))
    source, row = finding.get("__source"), finding.get("__row")
    if source:
        line = int(row) if row is not None and Path(source).suffix.lower() in _LINE_FORMATS else 1
        return relative(source), max(1, line)
    return relative(fallback), 1


def rule_name(finding: dict[str, Any]) -> str:
    """'policy/rule [check]' as titles name a finding's rule."""
    check = f" [{finding['check']}]" if finding.get("check") else ""
    return f"{finding['policy_id']}/{finding['rule_id']}{check}"


def waiver_note(finding: dict[str, Any]) -> str:
    """``<id>: <reason> (approved by X, ticket T, expires D)`` for a waived finding (GateResult.waived)."""
    return (
        f"{finding['waiver_id']}: {finding['waiver_reason']} (approved by {finding['waiver_approved_by']}, "
        f"ticket {finding['waiver_ticket']}, expires {finding['waiver_expires']})"
    )
