"""Run history: every run of check/gate in one SQLite store, each compared with the previous one.

    store.py    the SQLite file: schema, WAL, busy timeout, write transactions
    compare.py  new / persisting / resolved, first seen and age, active / passive (pure)
    record.py   a run's lifecycle: running -> complete (one transaction) or failed
    query.py    reading runs, one run's findings, the per-rule trend

Use ``open_run`` around the evaluation (the run is ``running`` while it evaluates, ``failed`` if it
raises) or ``record_run`` after it. Apply waivers first: the store keeps waived findings too
(marked with their waiver id), so a finding's age survives a waiver that lapses. See docs/history.md.
"""

from __future__ import annotations

from pathlib import Path

from policy_engine.api import RunResult
from policy_engine.history.record import RunComparison, RunRecorder, scope_key
from policy_engine.history.store import HistoryError, connect


def open_run(store_path: str | Path, command: str) -> RunRecorder:
    """Start a run: inserts a ``running`` row now. Use as a context manager, call ``complete(result)``."""
    return RunRecorder(store_path, command)


def record_run(store_path: str | Path, result: RunResult, command: str = "gate") -> RunComparison:
    """Record an evaluated run and compare it with the previous complete run of the same scope.

    ``.result`` is ``result`` with the comparison attached: findings columns change, first_seen,
    age_days, breach_type; extra["since"], extra["resolved"], extra["trend"], extra["history"].
    """
    with open_run(store_path, command) as run:
        return run.complete(result)


__all__ = ["HistoryError", "RunComparison", "RunRecorder", "connect", "open_run", "record_run", "scope_key"]
