"""The machine output of a run: JSON (an object with the run's metadata and a ``findings`` list),
CSV or Parquet (the findings table).

Findings are byte-identical across runs and input row orders; only ``run`` (times, digests)
varies. The findings array is serialised by Polars (policy_engine.output.json_array: fast on millions
of rows) and spliced into the document.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from policy_engine import progress
from policy_engine.api import RunResult
from policy_engine.evaluate import FINDING_COLUMNS
from policy_engine.model import SEVERITY_NAMES
from policy_engine.output import json_array

FORMATS = ("json", "csv", "parquet")
SCHEMA_VERSION = 1


# Columns a run compared with the previous one (--history) adds to every finding (a gate has its own
# `change`, against the pre-trade book: its comparison with the previous run is `history_change`).
HISTORY_COLUMNS = ("change", "history_change", "first_seen", "age_days", "breach_type")


def public_findings(findings: pl.DataFrame) -> pl.DataFrame:
    return findings.select(*FINDING_COLUMNS, *(c for c in HISTORY_COLUMNS if c in findings.columns))


def summary(result: RunResult) -> dict[str, Any]:
    f = result.findings
    by_sev = {s: 0 for s in reversed(SEVERITY_NAMES)}
    for sev, n in f.group_by("severity").len().iter_rows():
        by_sev[sev] = n
    return {
        "total": f.height,
        "breaches": int((f.get_column("status") == "breach").sum()) if f.height else 0,
        "near_limit": int((f.get_column("status") == "near_limit").sum()) if f.height else 0,
        "by_severity": by_sev,
        "accounts_with_findings": f.get_column("account_id").n_unique() if f.height else 0,
    }


def run_metadata(result: RunResult) -> dict[str, Any]:
    info = result.info
    return {
        "engine_version": info.engine_version,
        "generated_at": info.generated_at,
        "as_of": info.as_of,
        "policy_pack": [{"id": i, "version": v} for i, v in info.policy_pack],
        "policy_hash": info.policy_hash,
        "inputs": [{"role": r, "path": p, "sha256": h} for r, p, h in info.input_files],
        "positions": info.positions,
        "accounts": info.accounts,
    }


def coverage_records(result: RunResult) -> list[dict[str, Any]]:
    return result.evaluation.coverage.drop("check_description").to_dicts()


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def document_head(result: RunResult) -> dict[str, Any]:
    head: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "policy-engine", "version": result.info.engine_version},
        "run": run_metadata(result),
        "summary": summary(result),
        "coverage": coverage_records(result),
    }
    for key, value in sorted(result.extra.items()):
        head[key] = value
    return head


def render_json(result: RunResult) -> str:
    out = io.BytesIO()
    write_json(result, out)
    return out.getvalue().decode("utf-8")


def write_json(result: RunResult, out: BinaryIO) -> None:
    """The JSON document into a binary stream: the head by json, then the findings array written
    into the stream a slice at a time (no Python string of the whole array: millions of findings)."""
    head = json.dumps(document_head(result), indent=2, sort_keys=False, default=_clean)
    json_array.write_document(head, "findings", public_findings(result.findings), out)


def write(result: RunResult, path: str, fmt: str | None = None) -> str:
    """Write the machine output; ``path == '-'`` writes JSON/CSV to stdout. Returns the format used."""
    fmt = fmt or infer_format(path)
    with progress.stage("writing", f"{result.findings.height:,} findings to {path}"):
        return _write(result, path, fmt)


def _write(result: RunResult, path: str, fmt: str) -> str:
    if fmt == "json":
        write_binary(path, lambda out: write_json(result, out))
        return fmt
    if fmt == "csv":
        text = public_findings(result.findings).write_csv()
    else:
        if path == "-":
            raise ValueError("parquet cannot be written to stdout")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        public_findings(result.findings).write_parquet(path)
        return fmt
    if path == "-":
        import sys

        sys.stdout.write(text)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    return fmt


def write_binary(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Run ``write`` on the file at ``path`` (parent folders made), or on stdout's bytes for ``-``."""
    if path == "-":
        import sys

        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # a text-only stream (a test's StringIO)
            out = io.BytesIO()
            write(out)
            sys.stdout.write(out.getvalue().decode("utf-8"))
        else:
            sys.stdout.flush()
            write(buffer)
            buffer.flush()
    else:
        # written beside the target and renamed over it at the end: a failure half-way (a full
        # disk, an interrupted run) leaves the previous document whole, never a truncated one
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.chmod(tmp, _file_mode())  # mkstemp's 0600 would make the output private
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: 0666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def infer_format(path: str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "json"
