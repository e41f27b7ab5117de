"""Optional sections, from ``RunResult.extra``: one function per key, rendered only when the key is there.

Other stages (waivers, history, trade gate) put plain data under these keys; the report shows it
generically (facts and capped tables), so that a new field appears without a template change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from policy_engine.report import fmt
from policy_engine.report.charts import trend_chart
from policy_engine.report.findings import extra_columns, findings_table
from policy_engine.report.tables import Fact, Section, Table, as_records, generic_cell, records_table

CAP = 200
CHANGES = ("new", "worsened", "persisting", "unchanged", "resolved")


def _facts(mapping: Mapping[str, Any]) -> tuple[Fact, ...]:
    """The scalar entries of a mapping, in the producer's order (lists of records become tables)."""
    return tuple(
        Fact(key.replace("_", " ").capitalize(), generic_cell(key, value, mapping).text,
             code=key.endswith(("_id", "sha256")))
        for key, value in mapping.items()
        if not _is_records(value)
    )


def _is_records(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and isinstance(value[0], Mapping)


def _nested_tables(mapping: Mapping[str, Any], prefix: str) -> tuple[Table, ...]:
    return tuple(
        records_table(as_records(value), f"{prefix}-{fmt.anchor('t', key)}", key.replace("_", " ").capitalize(), CAP)
        for key, value in mapping.items()
        if _is_records(value)
    )


Builder = Callable[[Any, pl.DataFrame], Section]


def _records_section(id: str, title: str, intro: str) -> Builder:
    def build(value: Any, findings: pl.DataFrame) -> Section:
        if isinstance(value, Mapping):
            return Section(id, title, intro, _facts(value), _nested_tables(value, id))
        records = as_records(value)
        return Section(id, title, intro + f" ({fmt.plural(len(records), 'entry', 'entries')})",
                       tables=(records_table(records, f"{id}-table", title, CAP),) if records else ())
    return build


def since(value: Any, findings: pl.DataFrame) -> Section:
    """Changes since the previous run: its identity, counts per change, the new and worsened findings."""
    given = value if isinstance(value, Mapping) else {"previous_run": value}
    facts = list(_facts(given))
    tables: list[Table] = []
    if "change" in findings.columns and findings.height:
        counts = dict(findings.group_by("change").len().iter_rows())
        facts += [Fact(c.capitalize(), f"{counts[c]:,}") for c in CHANGES if c in counts and c not in given]
        moved = findings.filter(pl.col("change").is_in(["new", "worsened"]))
        tables.append(findings_table(
            moved.head(CAP).to_dicts(), "since-findings", "New and worsened findings since the previous run",
            moved.height, client=True, explain=False, extra=extra_columns(findings),
        ))
    return Section("since", "Changes since the previous run",
                   "How this run's findings compare with the previous run's.", tuple(facts), tuple(tables))


def trend(value: Any, findings: pl.DataFrame) -> Section:
    chart = trend_chart(as_records(value))
    return Section("trend", "Trend", "Findings per run, from the run history.",
                   charts=(chart,) if chart is not None else ())


def resolved_rows(rows: pl.DataFrame) -> Section:
    """Findings a run lists as resolved (a gate's findings carry those its trades resolve)."""
    table = findings_table(rows.head(CAP).to_dicts(), "resolved-findings", "Resolved findings", rows.height,
                           client=True, explain=False, extra=extra_columns(rows))
    return Section("resolved", "Resolved", "Findings that no longer occur; they are not counted above.",
                   tables=(table,))


# key of result.extra -> builder, in the order the sections appear
SECTIONS: tuple[tuple[str, Builder], ...] = (
    ("gate", _records_section("gate", "Trade gate", "Proposed trades and the findings they would cause")),
    ("since", since),
    ("resolved", _records_section("resolved", "Resolved since the previous run",
                                  "Findings of the previous run that no longer occur")),
    ("trend", trend),
    ("waivers", _records_section("waivers", "Waivers", "The waiver files applied to this run")),
    ("waived", _records_section("waived", "Waived findings",
                                "Findings covered by an approved waiver; they do not count toward the exit code")),
    ("expired_waivers", _records_section("expired-waivers", "Expired waivers",
                                         "Waivers past their date: the findings they covered are back")),
    ("expiring_waivers", _records_section("expiring-waivers", "Waivers expiring soon",
                                          "Waivers that lapse shortly; renew or remediate")),
    ("stale_waivers", _records_section("stale-waivers", "Stale waivers",
                                       "Waivers that no longer match any finding; remove them")),
    ("history", _records_section("history", "Run history", "Where this run is recorded")),
)


def sections(extra: Mapping[str, Any], findings: pl.DataFrame, resolved: pl.DataFrame | None = None) -> tuple[Section, ...]:
    """The optional sections present in ``extra`` (empty ones left out), in SECTIONS order."""
    out = []
    for key, build in SECTIONS:
        value = extra.get(key)
        if key == "resolved" and not value and resolved is not None and resolved.height:
            out.append(resolved_rows(resolved))
        elif value is not None and value != [] and value != {}:
            out.append(build(value, findings))
    return tuple(out)
