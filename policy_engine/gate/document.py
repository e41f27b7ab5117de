"""Machine output of a gate run: JSON (run metadata, the gate classification per trade, findings with
``change``), or the findings table as CSV or Parquet.

The JSON head is check's (policy_engine.output.document.document_head: tool, run, summary,
coverage, then ``gate`` and ``gate_summary`` from RunResult.extra, and with --waivers/--history
check's ``waived``, ``expired_waivers``, ..., ``since``, ``resolved``, ``trend``, ``history``); the
summary counts the post-trade findings (resolved ones are listed with ``change: resolved`` but not
counted; waived ones are in ``waived``, not in the findings). With --history each finding also has
``history_change`` (new | persisting against the previous gate run), ``first_seen``, ``age_days`` and
``breach_type``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from pathlib import Path
from typing import BinaryIO

import polars as pl

from policy_engine.evaluate import FINDING_COLUMNS
from policy_engine.gate.run import GateResult
from policy_engine.output import json_array
from policy_engine.output.document import HISTORY_COLUMNS, document_head, infer_format, write_binary

GATE_COLUMNS = (
    "change",
    "blocking",
    "observed_before",
    "severity_before",
    "trade_ids",
    "trade_lines",
    "trade_sources",
)


def findings_table(gate: GateResult) -> pl.DataFrame:
    f = gate.findings
    history = [c for c in HISTORY_COLUMNS if c in f.columns and c not in GATE_COLUMNS]
    return f.select(*FINDING_COLUMNS, *GATE_COLUMNS, *history)


def write_json(gate: GateResult, out: BinaryIO) -> None:
    """The JSON document into a binary stream, the findings array written a slice at a time."""
    post = gate.findings.filter(pl.col("change") != "resolved")
    current = dataclasses.replace(
        gate.result, evaluation=dataclasses.replace(gate.result.evaluation, findings=post)
    )
    head = json.dumps(document_head(current), indent=2, default=str)
    json_array.write_document(head, "findings", findings_table(gate), out)


def render_json(gate: GateResult) -> str:
    out = io.BytesIO()
    write_json(gate, out)
    return out.getvalue().decode("utf-8")


def write(gate: GateResult, path: str, fmt: str | None = None) -> str:
    """Write JSON, CSV (lists joined with ';') or Parquet; ``-`` is stdout (not for Parquet)."""
    fmt = fmt or infer_format(path)
    if fmt == "parquet":
        if path == "-":
            raise ValueError("parquet cannot be written to stdout")
        findings_table(gate).write_parquet(path)
        return fmt
    if fmt == "json":
        write_binary(path, lambda out: write_json(gate, out))
        return fmt
    lists = [
        pl.col(c).cast(pl.List(pl.String)).list.join(";") for c in ("trade_ids", "trade_lines", "trade_sources")
    ]
    text = findings_table(gate).with_columns(lists).write_csv()
    if path == "-":
        sys.stdout.write(text)
    else:
        Path(path).write_text(text, encoding="utf-8")
    return fmt
