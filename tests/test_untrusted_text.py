"""Data text printed on a terminal cannot inject lines (CI workflow commands) or escape sequences."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli, write_csv

PAYLOAD_SYMBOL = "BTC\n::error file=a::pwned"
PAYLOAD_ANSI = "\x1b[31mRED"


def _assert_inert(text: str) -> None:
    assert not any(line.startswith("::") for line in text.splitlines()), text
    assert "\x1b" not in text


def test_summary_escapes_newlines_and_escape_sequences(tmp_path: Path) -> None:
    # data with control characters is rejected at validation (below); text from a policy still reaches
    # the summary, and is shown, not interpreted
    from tests.conftest import write_policy

    write_policy(tmp_path / "policy.yaml", {"rules": [{
        "id": "r", "kind": "expression", "severity": "breach",
        "params": {"require": "leverage <= 1", "message": f"{PAYLOAD_SYMBOL} {PAYLOAD_ANSI}"},
    }]})
    write_csv(tmp_path / "p.csv", [
        {"position_id": "p1", "account_id": "A", "symbol": "BTCUSDT", "side": "long", "quantity": 1,
         "entry_price": 100, "mark_price": 100, "leverage": 20},
    ])
    write_csv(tmp_path / "a.csv", [{"account_id": "A", "equity": 1000, "risk_profile": "moderate"}])
    proc = run_cli("check", "--policies", str(tmp_path / "policy.yaml"), "--positions", str(tmp_path / "p.csv"),
                   "--accounts", str(tmp_path / "a.csv"))
    assert proc.returncode == 1, proc.stderr
    _assert_inert(proc.stdout + proc.stderr)
    assert "BTC\\n::error file=a::pwned" in proc.stdout  # shown, not interpreted


def test_error_messages_escape_the_offending_values(tmp_path: Path) -> None:
    write_csv(tmp_path / "p.csv", [
        {"position_id": "p1", "account_id": "A", "symbol": "BTC", "side": "long\n::error file=x::injected",
         "quantity": 1, "entry_price": 100, "mark_price": 100, "leverage": 2},
    ])
    write_csv(tmp_path / "a.csv", [{"account_id": "A", "equity": 1000, "risk_profile": "moderate"}])
    proc = run_cli("check", "--positions", str(tmp_path / "p.csv"), "--accounts", str(tmp_path / "a.csv"))
    assert proc.returncode == 2
    _assert_inert(proc.stdout + proc.stderr)


def test_control_characters_in_ids_and_names_are_rejected_with_their_row(tmp_path: Path) -> None:
    write_csv(tmp_path / "p.csv", [
        {"position_id": "p1", "account_id": "A", "symbol": "BTCUSDT", "side": "long", "quantity": 1,
         "entry_price": 100, "mark_price": 100, "leverage": 2},
        {"position_id": "p2", "account_id": "A", "symbol": PAYLOAD_SYMBOL, "side": "long", "quantity": 1,
         "entry_price": 100, "mark_price": 100, "leverage": 2},
    ])
    write_csv(tmp_path / "a.csv", [{"account_id": "A", "equity": 1000, "risk_profile": "moderate",
                                    "client_name": PAYLOAD_ANSI}])
    proc = run_cli("check", "--positions", str(tmp_path / "p.csv"), "--accounts", str(tmp_path / "a.csv"))
    assert proc.returncode == 2, proc.stderr
    assert "[symbol] must not contain control characters" in proc.stderr and "p.csv:3" in proc.stderr
    assert "[client_name] must not contain control characters" in proc.stderr
    _assert_inert(proc.stdout + proc.stderr)
