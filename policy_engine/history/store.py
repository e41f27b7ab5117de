"""The run-history store: one SQLite file (stdlib sqlite3), safe for concurrent runs.

Why SQLite and these settings:

* WAL journal: readers never block the writer and a process killed mid-transaction leaves only
  uncommitted WAL frames, which the next connection discards (the store stays consistent).
* ``busy_timeout``: two runs finishing at the same moment queue for the write lock instead of
  failing with "database is locked".
* ``BEGIN IMMEDIATE`` for every write: the write lock is taken at the start of the transaction,
  so a transaction never has to upgrade a read lock (the upgrade is what deadlocks under load).
* ``synchronous=FULL``: a run reported as recorded survives a power cut, not only a crash.

A run is two transactions: a ``running`` row when it starts, then its findings, its position
states and ``status = 'complete'`` together at the end. Readers consider complete runs only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Iterator

from policy_engine.errors import Issue, PolicyEngineError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 120_000
# Test hook: seconds to sleep inside the completing transaction, before COMMIT, so that a test can
# kill the process at a known point. Never set in production.
PAUSE_ENV = "POLICY_ENGINE_TEST_PAUSE_BEFORE_COMMIT"

FINDING_FIELDS: tuple[str, ...] = (
    "run_id", "finding_id", "policy_id", "rule_id", "check", "kind", "severity", "status", "account_id",
    "position_id", "symbol", "observed", "limit", "message", "waiver_id", "change", "first_seen", "age_days",
    "breach_type", "quantity", "leverage", "margin", "stop_loss_price",
)
_QUOTED = ", ".join(f'"{f}"' for f in FINDING_FIELDS)  # "check" and "limit" are SQL keywords
INSERT_FINDING = f"INSERT INTO findings ({_QUOTED}) VALUES ({', '.join('?' * len(FINDING_FIELDS))})"
STATE_PART = 2_000_000  # positions per stored part: far below SQLite's 1 GB limit on one value

_DDL = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id          TEXT PRIMARY KEY,
    seq             INTEGER UNIQUE,          -- completion order; NULL until complete
    command         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    generated_at    TEXT,
    as_of           TEXT,
    run_time        TEXT,                    -- as_of in UTC when readable, else generated_at
    engine_version  TEXT NOT NULL,
    policy_hash     TEXT,
    scope_key       TEXT,
    accounts        INTEGER,
    positions       INTEGER,
    inputs          TEXT,                    -- JSON: [{{role, path, sha256}}]
    counts          TEXT,                    -- JSON
    error           TEXT,
    pid             INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_scope ON runs (scope_key, status, seq);
CREATE TABLE IF NOT EXISTS findings (
    {", ".join(f'"{name}" {_type}' for name, _type in (
        ("run_id", "TEXT NOT NULL REFERENCES runs (run_id)"), ("finding_id", "TEXT NOT NULL"),
        ("policy_id", "TEXT"), ("rule_id", "TEXT"), ("check", "TEXT"), ("kind", "TEXT"), ("severity", "TEXT"),
        ("status", "TEXT"), ("account_id", "TEXT"), ("position_id", "TEXT"), ("symbol", "TEXT"),
        ("observed", "REAL"), ("limit", "REAL"), ("message", "TEXT"), ("waiver_id", "TEXT"), ("change", "TEXT"),
        ("first_seen", "TEXT"), ("age_days", "INTEGER"), ("breach_type", "TEXT"), ("quantity", "REAL"),
        ("leverage", "REAL"), ("margin", "REAL"), ("stop_loss_price", "REAL"),
    ))}
);
-- by run only: rows arrive in run order, so the index grows at its end
CREATE INDEX IF NOT EXISTS findings_by_run ON findings (run_id);
-- findings per rule and run, for trends without scanning the findings (waived ones not counted)
CREATE TABLE IF NOT EXISTS rule_counts (
    run_id TEXT NOT NULL REFERENCES runs (run_id), policy_id TEXT, rule_id TEXT,
    count INTEGER NOT NULL, breaches INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rule_counts_by_run ON rule_counts (run_id);
-- The state of every position at a run (quantity, leverage, margin, stop), for active/passive
-- classification: Arrow IPC (zstd) in parts of up to STATE_PART rows, a few bytes per position.
-- Only the latest two complete runs of a scope keep theirs: classification reads the previous run's.
CREATE TABLE IF NOT EXISTS position_states (
    run_id TEXT NOT NULL REFERENCES runs (run_id), part INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (run_id, part)
);
"""


class HistoryError(PolicyEngineError):
    """The history store cannot be opened or read (exit code 2)."""

    kind = "history store error"


def _fail(path: str | Path, message: str) -> HistoryError:
    return HistoryError([Issue(str(path), message)])


def connect(path: str | Path, create: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), the schema in place."""
    path = Path(path)
    if not create and not path.is_file():
        raise _fail(path, "no history store here: run `policy-engine check --history PATH` first")
    if path.is_dir():
        raise _fail(path, "is a directory: --history takes the path of a database file, e.g. history.db")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise _fail(path, f"cannot open the history store: {exc}") from exc
    con.row_factory = sqlite3.Row
    try:
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _set_wal(con)
        con.execute("PRAGMA synchronous = FULL")
        con.execute("PRAGMA cache_size = -65536")  # 64 MiB: a run of 10^5-10^6 findings updates large indexes
        con.execute("PRAGMA foreign_keys = ON")
        with transaction(con):
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise _fail(path, f"written by a newer policy-engine (schema {version}, this one reads {SCHEMA_VERSION})")
            if version < SCHEMA_VERSION:
                for statement in _DDL.split(";\n"):  # not executescript: it would COMMIT first (no ';' in comments)
                    if statement.strip():
                        con.execute(statement)
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as exc:
        con.close()
        raise _fail(path, f"not a policy-engine history store ({exc})") from exc
    except BaseException:
        con.close()
        raise
    return con


def _set_wal(con: sqlite3.Connection) -> None:
    # Switching a new file to WAL needs an exclusive lock for a moment; a second process creating
    # the store at the same time can see SQLITE_BUSY here even with busy_timeout, so retry.
    for attempt in range(100):
        try:
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        time.sleep(0.05 * (1 + attempt % 5))
    raise sqlite3.OperationalError("could not switch the history store to WAL mode")


@contextlib.contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def test_pause() -> None:
    """Sleep inside the transaction when the test hook asks for it (see PAUSE_ENV)."""
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        print(f"{PAUSE_ENV}: pausing {seconds}s before commit", file=sys.stderr, flush=True)
        time.sleep(float(seconds))
