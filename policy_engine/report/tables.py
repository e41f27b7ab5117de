"""The view model's building blocks: facts, cells and tables of text, ready for the template.

A template only loops over these and prints them; every decision (what a cell says, how it sorts,
which rows are left out and how that is said) is made in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy_engine.report import fmt


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str
    code: bool = False  # a hash, an id or a path: monospaced, may wrap anywhere
    wide: bool = False  # a long value: two columns of the grid


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    sort: str | None = None  # data-sort value of a numeric cell; None sorts by the text
    kind: str = "text"  # text | num | badge | status | code | long | nowrap
    badge: str = ""  # severity name, for kind "badge"
    sub: str = ""  # a second, smaller line (a position id under its symbol)
    href: str = ""  # a link inside the report ("#client-...")


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    numeric: bool = False
    wide: bool = False  # long text: give it room

    @property
    def css(self) -> str:
        return " ".join(name for name, on in (("num", self.numeric), ("wide", self.wide)) if on)


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    omitted: int = 0  # rows left out of a capped table
    omitted_note: str = ""
    row_header: int = 0  # index of the cell that is <th scope="row">
    sortable: bool = True
    filterable: bool = False
    css: str = ""
    empty: str = "Nothing to show."


@dataclass(frozen=True, slots=True)
class Section:
    """An optional section of the report (waivers, changes since the last run, trend, gate)."""

    id: str
    title: str
    intro: str
    facts: tuple[Fact, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Any, ...] = field(default=())  # charts.Chart


def num(x: Any, shown: str) -> Cell:
    return Cell(shown, sort=fmt.sort_key(x), kind="num")


def badge(severity: str | None) -> Cell:
    sev = severity or "info"
    return Cell(f"{fmt.SEVERITY_GLYPH.get(sev, '●')} {sev}", sort=str(fmt.SEVERITY_RANK.get(sev, 0)),
                kind="badge", badge=sev)


def ok_badge() -> Cell:
    return Cell("✓ ok", sort="0", kind="badge", badge="ok")


def status(value: str | None) -> Cell:
    return Cell(fmt.STATUS_TEXT.get(value or "", value or fmt.MISSING), kind="status")


def more_note(omitted: int, what: str, where: str) -> str:
    return f"{fmt.plural(omitted, 'more ' + what, 'more ' + what + 's')} not shown here: {where}."


FINDINGS_ELSEWHERE = "the complete list is in the machine output (policy-engine check --output findings.json)"

# Preferred column order of a generic table; other keys follow, sorted.
PREFERRED_KEYS = (
    "severity", "status", "change", "account_id", "client_name", "policy_id", "rule_id", "check", "symbol",
    "position_id", "observed", "limit", "id", "reason", "approved_by", "ticket", "expires", "message",
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LIST_ITEMS = 5  # items of a list shown in one cell
_LONG_KEYS = frozenset({"message", "remediation", "reason", "description"})
_CODE_KEYS = frozenset({"id", "finding_id", "run_id", "previous_run_id", "ticket", "sha256", "trade_id"})
_HIDDEN_KEYS = frozenset({"severity_rank", "__row", "__source", "policy_version", "kind"})


def generic_cell(key: str, value: Any, record: Mapping[str, Any]) -> Cell:
    """One cell of a table built from records whose keys are not known in advance."""
    if key == "severity" and isinstance(value, str):
        return badge(value)
    if key == "status" and isinstance(value, str):
        return status(value)
    if key.endswith("_at") and isinstance(value, str):
        return Cell(fmt.timestamp(value))
    if key in ("observed", "limit") and fmt.finite(value):
        return num(value, fmt.metric_value(str(record.get("metric") or ""), value))
    if fmt.finite(value):
        return num(value, fmt.text(value))
    if isinstance(value, (list, tuple)):
        shown = ", ".join(fmt.text(v) for v in value[:LIST_ITEMS]) or fmt.MISSING
        return Cell(shown + (f" … and {len(value) - LIST_ITEMS:,} more" if len(value) > LIST_ITEMS else ""))
    if isinstance(value, dict):
        return Cell("; ".join(f"{k}: {fmt.text(v)}" for k, v in sorted(value.items())) or fmt.MISSING)
    if isinstance(value, str) and _DATE.fullmatch(value):
        return Cell(value, kind="nowrap")
    kind = "long" if key in _LONG_KEYS else "code" if key in _CODE_KEYS else "text"
    return Cell(fmt.text(value), kind=kind)


def label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def records_table(records: Sequence[Mapping[str, Any]], id: str, caption: str, cap: int = 200,
                  where: str = "see the machine output") -> Table:
    """A sortable table of plain records (lists of dicts from result.extra), capped at ``cap`` rows."""
    seen = {k for r in records for k in r if k not in _HIDDEN_KEYS}
    keys = [k for k in PREFERRED_KEYS if k in seen] + sorted(seen - set(PREFERRED_KEYS))
    shown = records[:cap]
    rows = tuple(tuple(generic_cell(k, r.get(k), r) for k in keys) for r in shown)
    numeric = {k for k in keys if any(fmt.finite(r.get(k)) for r in shown)}
    omitted = max(0, len(records) - cap)
    return Table(
        id=id, caption=caption, columns=tuple(Column(label(k), k in numeric) for k in keys), rows=rows,
        omitted=omitted, omitted_note=more_note(omitted, "row", where) if omitted else "",
        row_header=-1, filterable=len(shown) > 20,
    )


def as_records(value: Any) -> list[Mapping[str, Any]]:
    """A list of dicts from whatever an extra section holds; other items become {'value': item}."""
    items: Iterable[Any] = value if isinstance(value, (list, tuple)) else [value]
    return [v if isinstance(v, Mapping) else {"value": v} for v in items]
