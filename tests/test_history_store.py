"""The history store under stress: parallel runs, a run killed mid-transaction, foreign files."""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from policy_engine.history import HistoryError, connect
from policy_engine.history.store import PAUSE_ENV, SCHEMA_VERSION
from tests.conftest import ROOT, write_csv
from tests.test_history_books import Book, pos

# a1 60,000 and b1 70,000 breach; c1 45,000 is near the limit: three findings per run
POSITIONS = [pos("a1", "A", 600, 100), pos("b1", "B", 700, 100), pos("c1", "C", 450, 100)]


def _check_cmd(book: Book, out: Path, as_of: str = "2026-03-01") -> list[str]:
    return [sys.executable, "-m", "policy_engine", "check", "--policies", str(book.policy),
            "--positions", str(book.positions), "--accounts", str(book.accounts), "--as-of", as_of,
            "--history", str(book.store), "--output", str(out), "--quiet"]


def _integrity(store: Path) -> str:
    con = sqlite3.connect(store)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


@pytest.mark.parametrize("parallel", [2, 4])
def test_parallel_runs_all_complete_and_queue_on_the_store(tmp_path: Path, parallel: int) -> None:
    book = Book(tmp_path)
    write_csv(book.positions, POSITIONS)
    # every run holds the write lock for 0.3 s, so they certainly overlap; the store does not exist yet,
    # so they also race to create it
    env = {**os.environ, PAUSE_ENV: "0.3"}
    outs = [tmp_path / f"run{i}.json" for i in range(parallel)]
    procs = [subprocess.Popen(_check_cmd(book, out), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for out in outs]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, results):
        assert proc.returncode == 1, err  # breaches found; never 2
    assert _integrity(book.store) == "ok"
    con = sqlite3.connect(book.store)
    rows = con.execute("SELECT run_id, status, seq, counts FROM runs ORDER BY seq").fetchall()
    assert [r[1] for r in rows] == ["complete"] * parallel
    assert [r[2] for r in rows] == list(range(1, parallel + 1))
    assert all(json.loads(r[3])["findings"] == 3 for r in rows)
    per_run = dict(con.execute("SELECT run_id, COUNT(*) FROM findings GROUP BY run_id").fetchall())
    assert per_run == {r[0]: 3 for r in rows}
    # each run compared itself with the one that completed just before it
    docs = {d["history"]["run_id"]: d for d in (json.loads(o.read_text()) for o in outs)}
    order = [r[0] for r in rows]
    assert docs[order[0]]["since"]["previous_run_id"] is None and docs[order[0]]["since"]["new"] == 3
    for before, run in itertools.pairwise(order):
        assert docs[run]["since"]["previous_run_id"] == before
        assert (docs[run]["since"]["new"], docs[run]["since"]["persisting"]) == (0, 3)


def _wait_for_line(proc: subprocess.Popen[str], marker: str, timeout: float = 120) -> threading.Thread:
    """Block until ``proc`` writes ``marker`` to stderr; the thread reading stderr runs on to EOF."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stream = proc.stderr

    def pump() -> None:
        for line in stream:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while marker not in lines.get(timeout=timeout):
        pass
    return reader


def test_a_run_killed_mid_transaction_leaves_the_store_consistent(tmp_path: Path) -> None:
    book = Book(tmp_path)
    write_csv(book.positions, POSITIONS)
    first = subprocess.run(_check_cmd(book, tmp_path / "1.json"), cwd=ROOT, capture_output=True, text=True,
                           timeout=300, check=False)
    assert first.returncode == 1, first.stderr
    run1 = json.loads((tmp_path / "1.json").read_text())["history"]["run_id"]

    # run 2 stops inside its completing transaction (findings inserted, not committed) and is killed there
    write_csv(book.positions, [*POSITIONS, pos("d1", "C", 900, 100)])
    env = {**os.environ, PAUSE_ENV: "600"}
    victim = subprocess.Popen(_check_cmd(book, tmp_path / "2.json", "2026-03-02"), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        reader = _wait_for_line(victim, PAUSE_ENV)
    finally:
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=60)
    reader.join(timeout=60)
    assert victim.stderr is not None
    victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL

    assert _integrity(book.store) == "ok"
    con = sqlite3.connect(book.store)
    runs = dict(con.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
    assert runs == {"complete": 1, "running": 1}  # the killed run is not complete, and never will be
    killed = con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchone()[0]
    assert con.execute("SELECT COUNT(*) FROM findings WHERE run_id = ?", (killed,)).fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM position_states WHERE run_id = ?", (killed,)).fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM findings WHERE run_id = ?", (run1,)).fetchone()[0] == 3
    con.close()

    # the next run compares with the last COMPLETE run, not the killed one
    third = subprocess.run(_check_cmd(book, tmp_path / "3.json", "2026-03-03"), cwd=ROOT, capture_output=True,
                           text=True, timeout=300, check=False)
    assert third.returncode == 1, third.stderr
    doc = json.loads((tmp_path / "3.json").read_text())
    assert doc["since"]["previous_run_id"] == run1
    assert (doc["since"]["new"], doc["since"]["persisting"]) == (1, 3)
    assert _integrity(book.store) == "ok"


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "h.db"
    connect(store).close()
    con = sqlite3.connect(store)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(HistoryError, match="newer policy-engine"):
        connect(store)


def test_a_file_that_is_not_a_store_is_an_error_not_a_crash(tmp_path: Path) -> None:
    book = Book(tmp_path)
    book.store.write_text("positions,not,a,database\n" * 100)
    proc, _ = book.cli(POSITIONS, "--as-of", "2026-03-01")
    assert proc.returncode == 2
    assert "history store error" in proc.stderr and "Traceback" not in proc.stderr
    assert "internal error" not in proc.stderr


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    book = Book(tmp_path)
    book.store.mkdir()
    proc, _ = book.cli(POSITIONS, "--as-of", "2026-03-01")
    assert proc.returncode == 2 and "is a directory" in proc.stderr
