"""Recording a run: a ``running`` row at the start; findings, comparison and ``complete`` at the end.

The end is ONE transaction: read the previous complete run of the scope, compare, insert this
run's findings, per-rule counts and position states, mark it complete. Two runs that finish together
queue on the write lock, so the second compares with the first. A run that raises is marked
``failed`` (SIGTERM raises too: cli.py); a run that is killed outright stays ``running``: neither is
ever read as a previous run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Self

import polars as pl

from policy_engine import __version__
from policy_engine.api import RunResult
from policy_engine.history import query
from policy_engine.history.compare import PREVIOUS_SCHEMA, STATE_SCHEMA, annotate, iso, run_time
from policy_engine.history.store import (
    FINDING_FIELDS,
    INSERT_FINDING,
    STATE_PART,
    connect,
    test_pause,
    transaction,
)

ANNOTATIONS = ("change", "first_seen", "age_days", "breach_type")
# the finding fields a run stores (and a resolved finding reports), with their types
STORED: dict[str, pl.DataType] = {
    **{c: pl.String() for c in FINDING_FIELDS[1:11]}, "observed": pl.Float64(), "limit": pl.Float64(),
    "message": pl.String(), "waiver_id": pl.String(),
}
RESOLVED_SCHEMA = {**STORED, "first_seen": pl.String(), "breach_type": pl.String()}


@dataclasses.dataclass(frozen=True)
class RunComparison:
    """A recorded run: its id, what it was compared with, and the result with the comparison attached."""

    result: RunResult
    run_id: str
    scope_key: str
    previous_run_id: str | None
    new: int
    persisting: int
    resolved: int


def scope_key(result: RunResult) -> str:
    """Same scope = same accounts and same policy pack (content hash)."""
    accounts = result.inputs.accounts if result.inputs.accounts is not None else result.inputs.positions
    ids = sorted({str(a) for a in accounts.get_column("account_id").to_list() if a is not None})
    text = json.dumps({"accounts": ids, "policy_hash": result.info.policy_hash}, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def position_states(positions: pl.DataFrame) -> pl.DataFrame:
    """quantity, leverage, margin (the isolated margin, else quantity x entry / leverage), stop."""
    def num(c: str) -> pl.Expr:
        return pl.col(c).cast(pl.Float64) if c in positions.columns else pl.lit(None, dtype=pl.Float64)

    return positions.select(
        pl.col("position_id").cast(pl.String), pl.col("account_id").cast(pl.String), num("quantity"), num("leverage"),
        pl.coalesce(num("isolated_margin"), num("quantity") * num("entry_price") / num("leverage")).alias("margin"),
        num("stop_loss_price"),
    )


def change_column(findings: pl.DataFrame) -> str:
    """``change``, unless the findings have one already: the gate's (new | worsened | unchanged | resolved,
    against the pre-trade book). Then the comparison with the previous run is ``history_change``."""
    return "history_change" if "change" in findings.columns else "change"


def _current(result: RunResult) -> pl.DataFrame:
    """This run's findings, then its waived findings (with their waiver id), as STORED columns."""
    own = result.findings
    if "change" in own.columns:  # the gate also lists the pre-trade findings its trades resolve: not in its book
        own = own.filter(pl.col("change") != "resolved")
    own = own.select(*(pl.col(c).cast(t) for c, t in STORED.items() if c != "waiver_id"),
                     pl.lit(None, dtype=pl.String).alias("waiver_id"))
    extra: Mapping[str, Any] = result.extra
    waived = [{**{c: w.get(c) for c in STORED}, "waiver_id": w.get("id")} for w in extra.get("waived") or []]
    return pl.concat([own, pl.DataFrame(waived, schema=STORED)]) if waived else own


def _finite(c: str) -> pl.Expr:
    return pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c)


class RunRecorder:
    """One run in the store: ``running`` from construction; ``complete(result)`` or ``fail(error)``."""

    def __init__(self, store_path: str | Path, command: str) -> None:
        self.store = str(store_path)
        self.command = command
        now = dt.datetime.now(dt.timezone.utc)
        self.run_id = f"{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"  # sorts by start time
        self.con = connect(store_path)
        self.done = False
        try:
            with transaction(self.con):
                self.con.execute(
                    "INSERT INTO runs (run_id, command, status, started_at, engine_version, pid) "
                    "VALUES (?, ?, 'running', ?, ?, ?)",
                    (self.run_id, command, iso(now), __version__, os.getpid()),
                )
        except BaseException:
            self.con.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None and not self.done:
            self.fail(f"{type(exc).__name__}: {exc}")
        self.con.close()

    def fail(self, error: str) -> None:
        try:
            with transaction(self.con):
                self.con.execute(
                    "UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE run_id = ? AND status = 'running'",
                    (iso(dt.datetime.now(dt.timezone.utc)), error[:2000], self.run_id),
                )
        except sqlite3.Error:
            pass  # the original error matters more; the run stays 'running', never 'complete'
        self.done = True

    def _previous(self, scope: str) -> tuple[sqlite3.Row | None, pl.DataFrame | None]:
        row = self.con.execute(
            "SELECT run_id, generated_at, as_of, run_time FROM runs WHERE scope_key = ? AND command = ? "
            "AND status = 'complete' ORDER BY seq DESC LIMIT 1",
            (scope, self.command),
        ).fetchone()
        if row is None:
            return None, None
        rows = self.con.execute(f"SELECT {', '.join(PREVIOUS_SCHEMA)} FROM findings WHERE run_id = ?", (row["run_id"],))
        return row, pl.DataFrame(rows.fetchall(), schema=PREVIOUS_SCHEMA, orient="row")

    def _resolved(self, run_id: str, ids: pl.Series) -> pl.DataFrame:
        """The previous run's findings with these ids, in that run's order."""
        if ids.len() == 0:
            return pl.DataFrame(schema=RESOLVED_SCHEMA)
        self.con.execute("CREATE TEMP TABLE IF NOT EXISTS gone (finding_id TEXT PRIMARY KEY)")
        self.con.execute("DELETE FROM gone")
        self.con.executemany("INSERT OR IGNORE INTO gone VALUES (?)", ((i,) for i in ids.to_list()))
        names = ", ".join(f'f."{c}"' for c in RESOLVED_SCHEMA)
        rows = self.con.execute(f"SELECT {names} FROM findings f JOIN gone g ON g.finding_id = f.finding_id "
                                "WHERE f.run_id = ? ORDER BY f.rowid", (run_id,))
        return pl.DataFrame(rows.fetchall(), schema=RESOLVED_SCHEMA, orient="row")

    def _states(self, run_id: str) -> pl.DataFrame:
        parts = self.con.execute("SELECT data FROM position_states WHERE run_id = ? ORDER BY part", (run_id,))
        frames = [pl.read_ipc(io.BytesIO(r[0])) for r in parts]
        return pl.concat(frames) if frames else pl.DataFrame(schema=STATE_SCHEMA)

    def complete(self, result: RunResult, deliver: Callable[[RunResult], None] | None = None) -> RunComparison:
        """Compare with the previous complete run of the scope and record this run, in one transaction.

        ``deliver`` (writing the run's outputs) is called inside that transaction with the annotated
        result: if it raises, the transaction rolls back and the run is never recorded as complete.
        """
        info, scope = result.info, scope_key(result)
        now = run_time(info.as_of, info.generated_at)
        states = position_states(result.inputs.positions)
        current = _current(result)
        with transaction(self.con):
            meta, previous = self._previous(scope)
            previous_id = meta["run_id"] if meta else ""
            annotated = annotate(current, previous, states, lambda: self._states(previous_id), now)
            gone = pl.DataFrame(schema=RESOLVED_SCHEMA)
            if previous is not None:
                ids = previous.join(current.select("finding_id"), on="finding_id", how="anti").get_column("finding_id")
                gone = self._resolved(previous_id, ids)
            own = annotated.filter(pl.col("waiver_id").is_null())
            new = own.filter(pl.col("change") == "new").height
            self._insert(annotated, states)
            self.con.execute(
                "UPDATE runs SET status = 'complete', seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), "
                "finished_at = ?, generated_at = ?, as_of = ?, run_time = ?, engine_version = ?, policy_hash = ?, "
                "scope_key = ?, accounts = ?, positions = ?, inputs = ?, counts = ? WHERE run_id = ?",
                (iso(dt.datetime.now(dt.timezone.utc)), info.generated_at, info.as_of, now, info.engine_version,
                 info.policy_hash, scope, info.accounts, info.positions,
                 json.dumps([{"role": r, "path": p, "sha256": h} for r, p, h in info.input_files]),
                 json.dumps(_counts(own, annotated.height - own.height, new, gone.height)), self.run_id),
            )
            self._prune_states(scope)
            trend = query.trend(self.con, scope, self.command)
            test_pause()
            history = {"store": self.store, "run_id": self.run_id, "scope_key": scope, "command": self.command,
                       "run_time": now}
            attached = _attach(result, annotated, gone, meta, trend, history)
            if deliver is not None:
                deliver(attached)
        self.done = True
        return RunComparison(attached, self.run_id, scope, meta["run_id"] if meta else None,
                             new, own.height - new, gone.height)

    def _insert(self, annotated: pl.DataFrame, states: pl.DataFrame) -> None:
        rows = annotated.join(states.drop("account_id"), on="position_id", how="left", maintain_order="left").select(
            pl.lit(self.run_id).alias("run_id"), *(_finite(c) if c in ("observed", "limit") else pl.col(c)
                                                   for c in FINDING_FIELDS[1:]))
        self.con.executemany(INSERT_FINDING, rows.iter_rows())
        counts = annotated.filter(pl.col("waiver_id").is_null()).group_by("policy_id", "rule_id").agg(
            pl.len().alias("count"), (pl.col("status") == "breach").sum().alias("breaches"))
        self.con.executemany(
            "INSERT INTO rule_counts (run_id, policy_id, rule_id, count, breaches) VALUES (?, ?, ?, ?, ?)",
            [(self.run_id, *row) for row in counts.iter_rows()],
        )
        for part, offset in enumerate(range(0, max(states.height, 1), STATE_PART)):
            buffer = io.BytesIO()
            states.slice(offset, STATE_PART).write_ipc(buffer, compression="zstd")
            self.con.execute("INSERT INTO position_states (run_id, part, data) VALUES (?, ?, ?)",
                             (self.run_id, part, buffer.getvalue()))

    def _prune_states(self, scope: str) -> None:
        # classification reads the previous run's states only: keep this run's and the previous one's
        mine = "scope_key = ? AND command = ? AND status = 'complete'"
        self.con.execute(
            f"DELETE FROM position_states WHERE run_id IN (SELECT run_id FROM runs WHERE {mine} AND seq < "
            f"(SELECT MIN(seq) FROM (SELECT seq FROM runs WHERE {mine} ORDER BY seq DESC LIMIT 2)))",
            (scope, self.command, scope, self.command),
        )


def _counts(own: pl.DataFrame, waived: int, new: int, gone: int) -> dict[str, Any]:
    status = dict(own.group_by("status").len().iter_rows())
    severity = dict(own.group_by("severity").len().iter_rows())
    return {
        "findings": own.height, "breaches": status.get("breach", 0), "near_limit": status.get("near_limit", 0),
        "by_severity": {k: severity.get(k, 0) for k in ("critical", "breach", "warning", "info")},
        "waived": waived, "new": new, "persisting": own.height - new, "resolved": gone,
    }


def _attach(
    result: RunResult, annotated: pl.DataFrame, gone: pl.DataFrame, previous: sqlite3.Row | None,
    trend: list[dict[str, Any]], history: dict[str, Any],
) -> RunResult:
    own = annotated.filter(pl.col("waiver_id").is_null())
    change = change_column(result.findings)
    columns = own.select("finding_id", *ANNOTATIONS).rename({"change": change})
    findings = result.findings.drop([c for c in (change, *ANNOTATIONS[1:]) if c in result.findings.columns])
    findings = findings.join(columns, on="finding_id", how="left", maintain_order="left")
    extra: dict[str, Any] = dict(result.extra)
    if extra.get("waived"):
        waived = {r["finding_id"]: r for r in annotated.filter(pl.col("waiver_id").is_not_null())
                  .select("finding_id", *ANNOTATIONS).to_dicts()}
        extra["waived"] = [{**w, **{(change if a == "change" else a): waived[w["finding_id"]][a] for a in ANNOTATIONS}}
                           if w["finding_id"] in waived else w for w in extra["waived"]]
    persisting = own.filter(pl.col("change") == "persisting")
    breach_types = dict(own.group_by("breach_type").len().iter_rows())
    extra["since"] = {
        "previous_run_id": previous["run_id"] if previous else None,
        "previous_generated_at": previous["generated_at"] if previous else None,
        "previous_as_of": previous["as_of"] if previous else None,
        "new": own.height - persisting.height,
        "persisting": persisting.height,
        "resolved": gone.height,
        "oldest_age_days": persisting.get_column("age_days").max() if persisting.height else None,
        "passive": breach_types.get("passive", 0),
        "active": breach_types.get("active", 0),
    }
    extra["resolved"] = gone.with_columns(
        _finite("observed"), _finite("limit"),
        pl.lit(previous["run_time"] if previous else None, dtype=pl.String).alias("last_seen"),
        pl.lit(history["run_time"]).alias("resolved_at"),
    ).to_dicts()
    extra["trend"] = trend
    extra["history"] = history
    return dataclasses.replace(result, evaluation=dataclasses.replace(result.evaluation, findings=findings), extra=extra)
