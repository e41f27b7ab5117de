"""Reading the history store: runs, one run's findings, findings per rule over time.

Only complete runs are compared or trended; ``runs()`` lists every run, so that a run that failed
or was killed (still ``running``) is visible too.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from policy_engine.errors import Issue
from policy_engine.history.store import HistoryError

TREND_RUNS = 30


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in ("inputs", "counts"):
        out[key] = json.loads(out[key]) if out.get(key) else None
    return out


def runs(con: sqlite3.Connection, limit: int | None = None, scope_key: str | None = None) -> list[dict[str, Any]]:
    """Runs, newest first (by start time)."""
    sql = "SELECT * FROM runs" + (" WHERE scope_key LIKE ?" if scope_key else "") + " ORDER BY started_at DESC, rowid DESC"
    params: list[Any] = [f"{scope_key}%"] if scope_key else []
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    return [_run_dict(r) for r in con.execute(sql, params)]


def find_run(con: sqlite3.Connection, run_id: str, store: str = "") -> dict[str, Any]:
    """The run whose id is ``run_id`` or starts with it (a unique prefix is enough)."""
    rows = con.execute(
        "SELECT * FROM runs WHERE run_id = ? OR run_id LIKE ? ORDER BY run_id = ? DESC LIMIT 3",
        (run_id, f"{run_id}%", run_id),
    ).fetchall()
    if not rows:
        raise HistoryError([Issue(store, f"no run with id '{run_id}': `history list` shows the run ids")])
    if len(rows) > 1 and rows[0]["run_id"] != run_id:
        ids = ", ".join(r["run_id"] for r in rows)
        raise HistoryError([Issue(store, f"run id prefix '{run_id}' is ambiguous ({ids}, ...): give more of it")])
    return _run_dict(rows[0])


def findings(con: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in con.execute("SELECT * FROM findings WHERE run_id = ? ORDER BY rowid", (run_id,))]


def latest_complete(
    con: sqlite3.Connection, scope_key: str | None = None, command: str | None = None
) -> dict[str, Any] | None:
    sql = "SELECT * FROM runs WHERE status = 'complete'"
    params: list[Any] = []
    if scope_key:
        sql += " AND scope_key LIKE ?"
        params.append(f"{scope_key}%")
    if command:
        sql += " AND command = ?"
        params.append(command)
    row = con.execute(sql + " ORDER BY seq DESC LIMIT 1", params).fetchone()
    return None if row is None else _run_dict(row)


def trend(con: sqlite3.Connection, scope_key: str, command: str, last: int = TREND_RUNS) -> list[dict[str, Any]]:
    """Findings per rule in each of the last ``last`` complete runs of a scope and command, oldest first.

    One row per (run, rule) for every rule seen in the window, zero where a run had none, so a
    chart has no gaps. Waived findings are not counted (they are not findings of the run).
    """
    window = con.execute(
        "SELECT run_id, generated_at, as_of, run_time FROM runs WHERE scope_key = ? AND command = ? "
        "AND status = 'complete' ORDER BY seq DESC LIMIT ?",
        (scope_key, command, last),
    ).fetchall()[::-1]
    if not window:
        return []
    ids = [r["run_id"] for r in window]
    marks = ", ".join("?" * len(ids))
    counted = con.execute(
        f"SELECT run_id, policy_id, rule_id, count AS n, breaches FROM rule_counts WHERE run_id IN ({marks})", ids,
    ).fetchall()
    counts = {(r["run_id"], r["policy_id"], r["rule_id"]): (r["n"], r["breaches"]) for r in counted}
    rules = sorted({(p, r) for _, p, r in counts})
    return [
        {
            "run_id": run["run_id"], "generated_at": run["generated_at"], "as_of": run["as_of"],
            "policy_id": policy, "rule_id": rule,
            "count": counts.get((run["run_id"], policy, rule), (0, 0))[0],
            "breaches": counts.get((run["run_id"], policy, rule), (0, 0))[1],
        }
        for run in window
        for policy, rule in rules
    ]
