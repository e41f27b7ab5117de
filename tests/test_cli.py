"""The CLI end to end, in a subprocess: exit codes 0 / 1 / 2, outputs, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import run_cli, write_csv, write_policy

ACCOUNTS = [
    {"account_id": "A", "equity": 100000, "risk_profile": "moderate", "client_name": "Alice"},
    {"account_id": "B", "equity": 20000, "risk_profile": "conservative", "client_name": "Bob"},
]
POSITIONS = [
    # margin 50,000 / 12 = 4,166.67 = 4.17% of 100,000: inside the 80% warning band of 5% (warning only)
    {"position_id": "p1", "account_id": "A", "symbol": "BTCUSDT", "side": "long", "quantity": 1,
     "entry_price": 50000, "mark_price": 50000, "leverage": 12, "stop_loss_price": 49000},
    # margin 3,000 / 2 = 1,500 = 7.5% of 20,000 > 2% (conservative): breach
    {"position_id": "p2", "account_id": "B", "symbol": "DOGEUSDT", "side": "long", "quantity": 10000,
     "entry_price": 0.3, "mark_price": 0.3, "leverage": 2, "stop_loss_price": 0.29},
]
POLICY = {"rules": [
    {"id": "alloc", "kind": "max_allocation", "severity": "breach", "warn_at": 0.8,
     "params": {"limit": {"conservative": 0.02, "moderate": 0.05}}},
]}


@pytest.fixture
def book(tmp_path: Path) -> Path:
    write_policy(tmp_path / "policy.yaml", POLICY)
    write_csv(tmp_path / "positions.csv", POSITIONS)
    write_csv(tmp_path / "accounts.csv", ACCOUNTS)
    return tmp_path


def _check(book: Path, *extra: str, positions: str = "positions.csv") -> "subprocess.CompletedProcess[str]":  # noqa: F821
    return run_cli("check", "--policies", str(book / "policy.yaml"), "--positions", str(book / positions),
                   "--accounts", str(book / "accounts.csv"), *extra)


def test_help_and_version() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0 and "check" in proc.stdout and "Exit codes" in proc.stdout
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("policy-engine ")


def test_exit_codes_follow_fail_on(book: Path) -> None:
    assert _check(book).returncode == 1  # one breach at the default --fail-on breach
    assert _check(book, "--fail-on", "critical").returncode == 0
    assert _check(book, "--fail-on", "never").returncode == 0
    # without the breaching position only the near-limit warning remains
    write_csv(book / "only_p1.csv", POSITIONS[:1])
    assert _check(book, positions="only_p1.csv").returncode == 0
    assert _check(book, "--fail-on", "warning", positions="only_p1.csv").returncode == 1


def test_summary_names_counts_and_worst_findings(book: Path) -> None:
    proc = _check(book)
    assert "2 positions in 2 accounts" in proc.stdout
    assert "1 breach" in proc.stdout and "1 warning" in proc.stdout
    assert "7.50% of equity" in proc.stdout


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_machine_outputs(book: Path, fmt: str) -> None:
    out = book / f"findings.{fmt}"
    proc = _check(book, "--output", str(out))
    assert proc.returncode == 1, proc.stderr
    if fmt == "json":
        doc = json.loads(out.read_text())
        assert doc["summary"]["by_severity"]["breach"] == 1
        findings = doc["findings"]
    elif fmt == "csv":
        findings = pl.read_csv(out).to_dicts()
    else:
        findings = pl.read_parquet(out).to_dicts()
    by_pos = {f["position_id"]: f for f in findings}
    assert by_pos["p2"]["status"] == "breach" and by_pos["p1"]["status"] == "near_limit"
    assert abs(by_pos["p2"]["observed"] - 0.075) < 1e-12 and by_pos["p2"]["limit"] == 0.02


def test_json_findings_are_byte_identical_across_row_orders(book: Path) -> None:
    write_csv(book / "reversed.csv", list(reversed(POSITIONS)))
    a, b = book / "a.json", book / "b.json"
    _check(book, "--output", str(a))
    _check(book, "--output", str(b), positions="reversed.csv")
    fa, fb = json.loads(a.read_text()), json.loads(b.read_text())
    assert json.dumps(fa["findings"]) == json.dumps(fb["findings"])
    assert fa["findings"][0]["finding_id"] == fb["findings"][0]["finding_id"]


def test_bad_policy_exits_2_without_traceback(book: Path) -> None:
    (book / "policy.yaml").write_text("id: x\nid: y\n", encoding="utf-8")
    proc = _check(book)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "policy.yaml:2" in proc.stderr and "duplicate" in proc.stderr.lower()


def test_bad_data_exits_2_and_lists_every_problem(book: Path) -> None:
    rows = [dict(POSITIONS[0], quantity=-1), dict(POSITIONS[1], mark_price="abc", account_id="ZZ")]
    write_csv(book / "bad.csv", rows)
    proc = _check(book, positions="bad.csv")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    for text in ("quantity", "mark_price", "ZZ", "bad.csv:2", "bad.csv:3"):
        assert text in proc.stderr, proc.stderr


def test_missing_file_and_bad_usage_exit_2(book: Path) -> None:
    assert _check(book, positions="nope.csv").returncode == 2
    assert run_cli("check").returncode == 2  # argparse: --positions is required
    assert run_cli("frobnicate").returncode == 2


def test_profile_without_limit_is_an_error_not_a_pass(book: Path) -> None:
    write_csv(book / "accounts.csv", [dict(ACCOUNTS[0], risk_profile="aggressive"), ACCOUNTS[1]])
    proc = _check(book)
    assert proc.returncode == 2 and "aggressive" in proc.stderr


def test_validate_and_schema_commands(book: Path, root: Path) -> None:
    assert run_cli("validate", str(root / "policies")).returncode == 0
    (book / "broken.yaml").write_text("id: x\nrules: []\nsevrity: 1\n", encoding="utf-8")
    proc = run_cli("validate", str(book / "broken.yaml"))
    assert proc.returncode == 2 and "broken.yaml:3" in proc.stderr
    proc = run_cli("schema")
    assert proc.returncode == 0 and json.loads(proc.stdout)["$schema"].startswith("https://json-schema.org/")


def test_python_dash_m_and_console_script_agree(book: Path) -> None:
    import shutil
    import subprocess
    import sys

    script = shutil.which("policy-engine", path=str(Path(sys.executable).parent))
    assert script is not None
    proc = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == run_cli("--version").stdout


def test_as_of_must_be_an_iso_time(book: Path) -> None:
    proc = _check(book, "--as-of", "yesterday<b>")
    assert proc.returncode == 2 and "not an ISO date" in proc.stderr
    out = book / "f.json"
    assert _check(book, "--as-of", "2026-11-20T17:30:00+01:00", "--output", str(out)).returncode == 1
    assert json.loads(out.read_text())["run"]["as_of"] == "2026-11-20T17:30:00+01:00"


def test_as_of_column_takes_the_latest_time_not_the_latest_text(book: Path) -> None:
    # 2026-11-20T23:00:00-05:00 is 04:00 UTC on the 21st: later than 2026-11-21T01:00:00Z, though it sorts first as text
    rows = [dict(POSITIONS[0], as_of="2026-11-21T01:00:00Z"), dict(POSITIONS[1], as_of="2026-11-20T23:00:00-05:00")]
    write_csv(book / "timed.csv", rows)
    out = book / "f.json"
    _check(book, "--output", str(out), positions="timed.csv")
    assert json.loads(out.read_text())["run"]["as_of"] == "2026-11-20T23:00:00-05:00"


def test_an_empty_book_fails_unless_allowed(book: Path) -> None:
    (book / "empty.csv").write_text("position_id,account_id,symbol,side,quantity,entry_price,mark_price,leverage\n")
    proc = _check(book, positions="empty.csv")
    assert proc.returncode == 2 and "no rows" in proc.stderr
    assert _check(book, "--allow-empty", positions="empty.csv").returncode == 0
