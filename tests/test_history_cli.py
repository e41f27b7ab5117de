"""`policy-engine history`: list, show, trend, in text and JSON; errors are exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.test_history_books import Book, pos


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """Three runs: 2, 2 and 3 `alloc` findings; the last one with an account-wide `gross` finding too."""
    book = Book(tmp_path_factory.mktemp("history"))
    book.run([pos("a1", "A", 600, 100), pos("b1", "B", 700, 100)], "2026-03-01")
    book.run([pos("a1", "A", 600, 100), pos("c1", "C", 600, 100)], "2026-03-02")
    book.run([pos("a1", "A", 600, 100), pos("c1", "C", 600, 100), pos("c2", "C", 1000, 100),
              pos("c3", "C", 1000, 100)], "2026-03-03")
    return book


def _history(book: Book, *args: str) -> tuple[int, str, str]:
    proc = run_cli("history", "--history", str(book.store), *args)
    return proc.returncode, proc.stdout, proc.stderr


def test_list_shows_every_run_newest_first(recorded: Book) -> None:
    code, out, err = _history(recorded, "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("run id") and len(lines) == 4
    assert [line.split()[4] for line in lines[1:]] == ["2026-03-03", "2026-03-02", "2026-03-01"]
    assert all(" complete " in line for line in lines[1:])


def test_list_as_json(recorded: Book) -> None:
    code, out, _ = _history(recorded, "list", "--format", "json", "--limit", "2")
    runs = json.loads(out)
    assert code == 0 and len(runs) == 2
    assert runs[0]["counts"]["findings"] == 5 and runs[0]["counts"]["new"] == 3  # c2, c3 and account C
    assert runs[0]["inputs"][0]["role"] == "positions" and len(runs[0]["inputs"][0]["sha256"]) == 64


def test_show_one_run_by_unique_prefix(recorded: Book) -> None:
    runs = json.loads(_history(recorded, "list", "--format", "json")[1])
    run_id = runs[-1]["run_id"]  # the first run
    code, out, err = _history(recorded, "show", run_id[:-3])
    assert code == 0, err
    assert out.startswith(f"run {run_id}: check, complete")
    assert "test-policy/alloc" in out and "findings (2 of 2, waived ones marked)" in out
    assert "(new, 0d)" in out


def test_show_as_json_has_the_findings(recorded: Book) -> None:
    latest = json.loads(_history(recorded, "list", "--format", "json")[1])[0]["run_id"]
    data = json.loads(_history(recorded, "show", latest, "--format", "json")[1])
    assert data["run"]["run_id"] == latest
    changes = {(f["rule_id"], f["position_id"]): f["change"] for f in data["findings"]}
    assert changes == {("alloc", "a1"): "persisting", ("alloc", "c1"): "persisting", ("alloc", "c2"): "new",
                       ("alloc", "c3"): "new", ("gross", None): "new"}


def test_trend_table_counts_findings_per_rule_and_run(recorded: Book) -> None:
    code, out, err = _history(recorded, "trend")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1:3] == ["  [1] test-policy/alloc", "  [2] test-policy/gross"]
    rows = [line.split() for line in lines[4:]]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [("2026-03-01", "2", "0", "2"), ("2026-03-02", "2", "0", "2"),
                                                      ("2026-03-03", "4", "1", "5")]


def test_trend_as_json_and_last_n(recorded: Book) -> None:
    data = json.loads(_history(recorded, "trend", "--last", "2", "--format", "json")[1])
    assert sorted({t["as_of"] for t in data["trend"]}) == ["2026-03-02", "2026-03-03"]
    assert {(t["as_of"], t["rule_id"]): t["count"] for t in data["trend"]}[("2026-03-03", "gross")] == 1


def test_history_option_may_follow_the_action(recorded: Book) -> None:
    proc = run_cli("history", "list", "--history", str(recorded.store))
    assert proc.returncode == 0 and proc.stdout.startswith("run id")


@pytest.mark.parametrize("args, message", [
    (("show", "nope"), "no run with id 'nope'"),
    (("show", "2"), "is ambiguous"),
])
def test_bad_run_ids_are_exit_2(recorded: Book, args: tuple[str, ...], message: str) -> None:
    code, _, err = _history(recorded, *args)
    assert code == 2 and message in err


def test_a_missing_store_is_exit_2_and_not_created(tmp_path: Path) -> None:
    proc = run_cli("history", "--history", str(tmp_path / "none.db"), "list")
    assert proc.returncode == 2 and "no history store here" in proc.stderr
    assert not (tmp_path / "none.db").exists()


def test_history_needs_the_store_option() -> None:
    proc = run_cli("history", "list")
    assert proc.returncode == 2 and "--history" in proc.stderr


def test_a_run_whose_outputs_cannot_be_written_is_not_complete(tmp_path) -> None:
    # review finding: the run was recorded complete although --output failed (exit 2)
    import sqlite3

    from tests.conftest import ROOT, run_cli

    store = tmp_path / "h.db"
    base = ["check", "--policies", str(ROOT / "policies"), "--positions", str(ROOT / "samples/positions.csv"),
            "--accounts", str(ROOT / "samples/accounts.csv"), "--market", str(ROOT / "samples/market.json"),
            "--history", str(store), "-q"]
    (tmp_path / "blocker").write_text("a file, not a directory")
    proc = run_cli(*base, "--output", str(tmp_path / "blocker" / "findings.json"))
    assert proc.returncode == 2 and "cannot write --output" in proc.stderr and "internal error" not in proc.stderr
    with sqlite3.connect(store) as con:
        assert [r[0] for r in con.execute("SELECT status FROM runs")] == ["failed"]
    assert run_cli(*base, "--output", str(tmp_path / "ok.json")).returncode == 1
    with sqlite3.connect(store) as con:
        assert sorted(r[0] for r in con.execute("SELECT status FROM runs")) == ["complete", "failed"]


def test_a_run_stopped_by_sigterm_is_failed_not_left_running(tmp_path: Path) -> None:
    # a scheduler's timeout (Airflow, `timeout`) sends SIGTERM; the run used to stay 'running'
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from benchmarks import generate
    from tests.conftest import ROOT

    book = generate.generate(5_000, tmp_path / "book")
    store = tmp_path / "h.db"
    # JSON to a pipe nobody reads: the run blocks writing its outputs, so it is surely 'running'
    proc = subprocess.Popen(
        [sys.executable, "-m", "policy_engine", "check", "--policies", str(ROOT / "policies" / "core-risk.yaml"),
         "--positions", str(book / "positions.parquet"), "--accounts", str(book / "accounts.parquet"),
         "--history", str(store), "--format", "json", "--output", "-", "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as con:
                    if con.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]:
                        break
            except sqlite3.Error:  # the store or its tables are not there yet
                pass
            time.sleep(0.02)
        else:
            pytest.fail("the run never started")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 2, err
    assert "terminated (SIGTERM)" in err and "internal error" not in err
    with sqlite3.connect(store) as con:
        rows = con.execute("SELECT status, error FROM runs").fetchall()
    assert len(rows) == 1 and rows[0][0] == "failed" and "Terminated" in rows[0][1], rows
