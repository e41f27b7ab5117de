"""Loading and validating trade lists (policy_engine/gate/trades.py): every problem, file:line and column."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from policy_engine.data import load_inputs
from policy_engine.errors import DataError
from policy_engine.gate.trades import load_trades, record_lines
from tests.test_gate_helpers import ACCOUNTS


def accounts() -> pl.DataFrame:
    frame = load_inputs(Path(__file__).parent / "data" / "gate" / "positions.csv", ACCOUNTS).accounts
    assert frame is not None
    return frame


def errors(paths: list[Path]) -> str:
    with pytest.raises(DataError) as err:
        load_trades([str(p) for p in paths], accounts())
    return err.value.render()


def test_csv_trades_are_typed_and_get_default_ids(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "account_id,symbol,side,quantity,price,trade_id,comment\n"
        "A1,BTCUSDT,BUY,0.5,60000,,first\n\nA2, ETHUSDT ,sell,2,,T-7,second\n"
    )
    t = load_trades([str(path)], accounts())
    assert t.select("trade_id", "__row", "side", "symbol", "quantity", "price").rows() == [
        ("line-2", 2, "buy", "BTCUSDT", 0.5, 60000.0),
        ("T-7", 4, "sell", "ETHUSDT", 2.0, None),
    ]


def test_every_problem_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "account_id,symbol,side,quantity,price,leverage,margin_mode,stop_loss_price\n"
        "A1,BTCUSDT,buy,-1,60000,,,\n"  # line 2: quantity <= 0
        "A1,BTCUSDT,long,1,abc,,,\n"  # line 3: side; price not a number
        "A9,BTCUSDT,sell,1,,0.5,isolatd,\n"  # line 4: unknown account; leverage < 1; margin mode
        ",BTCUSDT,sell,1,,,,-5\n"
    )  # line 5: account missing; stop <= 0
    text = errors([path])
    for expected in (
        f"{path}:2: [quantity] must be > 0 (got -1)",
        f"{path}:3: [side] must be buy or sell (got long)",
        f"{path}:3: [price] must be a number (got abc)",
        f"{path}:4: [account_id] account not in the accounts file (got A9)",
        f"{path}:4: [leverage] must be >= 1 (got 0.5)",
        f"{path}:4: [margin_mode] must be isolated or cross (got isolatd)",
        f"{path}:5: [account_id] is required",
        f"{path}:5: [stop_loss_price] must be > 0 (got -5)",
    ):
        assert expected in text, f"{expected!r} not in\n{text}"


def test_missing_required_column_and_typo(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("account_id,symbol,side,stop_loss_prce\nA1,BTCUSDT,buy,1\n")
    text = errors([path])
    assert f"{path}:1: [quantity] required column is missing" in text
    assert (
        f"{path}:1: [stop_loss_prce] unknown column 'stop_loss_prce': did you mean 'stop_loss_price'?" in text
    )


def test_duplicate_trade_ids_across_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("trade_id,account_id,symbol,side,quantity\nX,A1,BTCUSDT,buy,1\n")
    b.write_text("trade_id,account_id,symbol,side,quantity\nX,A1,BTCUSDT,sell,1\n,A1,BTCUSDT,sell,1\n")
    assert "[trade_id] duplicate trade_id (got X)" in errors([a, b])
    b.write_text("account_id,symbol,side,quantity\nA1,BTCUSDT,sell,1\n")
    t = load_trades([str(a), str(b)], accounts())  # several files: default ids name the file
    assert t.get_column("trade_id").to_list() == ["X", "b.csv:line-2"]
    assert t.get_column("__seq").to_list() == [0, 1]


def test_json_trades_report_the_line_of_each_object(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    records = [
        {"account_id": "A1", "symbol": "BTCUSDT", "side": "buy", "quantity": 1},
        {"account_id": "A1", "symbol": "BTCUSDT", "side": "buy", "quantity": 0},
    ]
    path.write_text('{"trades": [\n  ' + ",\n  ".join(json.dumps(r) for r in records) + "\n]}\n")
    assert record_lines(path.read_text()) == [2, 3]
    assert f"{path}:3: [quantity] must be > 0 (got 0)" in errors([path])
    path.write_text(json.dumps(records[:1], indent=2))
    t = load_trades([str(path)], accounts())
    assert t.select("trade_id", "__row").row(0) == ("line-2", 2)


def test_unreadable_files(tmp_path: Path) -> None:
    assert f"{tmp_path / 'nope.csv'}: trades file does not exist" in errors([tmp_path / "nope.csv"])
    bad = tmp_path / "bad.json"
    bad.write_text('[{"account_id": "A1",\n "symbol": }]')
    assert f"{bad}:2:" in errors([bad]) and "invalid JSON" in errors([bad])
