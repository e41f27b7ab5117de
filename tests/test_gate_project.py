"""Projection arithmetic (policy_engine/gate/project.py), every case computed by hand.

Q, EP, M, L: quantity, entry price, isolated margin, leverage of the position; q, p: the trade's.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from policy_engine.errors import DataError
from tests.test_gate_helpers import position, projected

BTC = {
    "position_id": "P1",
    "account_id": "A1",
    "symbol": "BTCUSDT",
    "side": "long",
    "quantity": 1,
    "entry_price": 60000,
    "mark_price": 61000,
    "leverage": 2,
    "isolated_margin": 30000,
    "venue": "binance",
    "stop_loss_price": 55000,
    "liquidation_price": 30500,
    "volatility": 0.6,
}
ETH = {
    "position_id": "P2",
    "account_id": "A1",
    "symbol": "ETHUSDT",
    "side": "short",
    "quantity": 10,
    "entry_price": 3000,
    "mark_price": 3000,
    "leverage": 3,
    "isolated_margin": 10000,
}


def test_increase_averages_entry_and_adds_margin(tmp_path: Path) -> None:
    # 1 BTC @ 60,000 + 1 @ 62,000 -> 2 @ (60,000 + 62,000) / 2 = 61,000
    # margin: 30,000 + 1 x 62,000 / 2 (the position's leverage) = 61,000
    proj = projected(
        tmp_path,
        [BTC, ETH],
        [{"account_id": "A1", "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "price": 62000}],
    )
    p = position(proj, "P1")
    assert (p["quantity"], p["entry_price"], p["isolated_margin"], p["leverage"]) == (2, 61000, 61000, 2)
    assert p["liquidation_price"] is None  # the venue's price was for the old size: recomputed
    assert p["stop_loss_price"] == 55000 and p["mark_price"] == 61000
    effect = proj.effects.row(0, named=True)
    assert (effect["action"], effect["position_id"], effect["new_position_id"], effect["trade_id"]) == (
        "increase",
        "P1",
        "P1",
        "line-2",
    )


def test_increase_adds_explicit_margin_and_sets_stop(tmp_path: Path) -> None:
    # margin 30,000 + 0.5 x 60,000 / 2 = 45,000, plus 5,000 added explicitly = 50,000
    # entry (1 x 60,000 + 0.5 x 60,000) / 1.5 = 60,000; quantity 1.5
    trade = {
        "account_id": "A1",
        "symbol": "BTCUSDT",
        "side": "buy",
        "quantity": 0.5,
        "price": 60000,
        "isolated_margin": 5000,
        "stop_loss_price": 57000,
    }
    p = position(projected(tmp_path, [BTC], [trade]), "P1")
    assert (p["quantity"], p["entry_price"], p["isolated_margin"], p["stop_loss_price"]) == (
        1.5,
        60000,
        50000,
        57000,
    )


def test_reduce_keeps_entry_and_releases_margin_in_proportion(tmp_path: Path) -> None:
    # ETH short 10 @ 3,000, M 10,000; buy 4 -> short 6 @ 3,000; M = 10,000 x 6/10 = 6,000
    proj = projected(
        tmp_path,
        [BTC, ETH],
        [{"account_id": "A1", "symbol": "ETHUSDT", "side": "buy", "quantity": 4, "price": 2900}],
    )
    p = position(proj, "P2")
    assert (p["side"], p["quantity"], p["entry_price"], p["isolated_margin"]) == (
        "short",
        6,
        3000,
        pytest.approx(6000),
    )
    assert proj.effects.get_column("action").to_list() == ["reduce"]
    assert position(proj, "P1") == position(projected(tmp_path, [BTC, ETH], []), "P1")  # untouched


def test_reduce_with_explicit_release(tmp_path: Path) -> None:
    # BTC 1 @ 60,000, M 30,000; sell 0.25 -> 0.75; M = 30,000 x 0.75 = 22,500, release 2,500 -> 20,000
    trade = {
        "account_id": "A1",
        "symbol": "BTCUSDT",
        "side": "sell",
        "quantity": 0.25,
        "isolated_margin": -2500,
    }
    p = position(projected(tmp_path, [BTC], [trade]), "P1")
    assert (p["quantity"], p["entry_price"], p["isolated_margin"]) == (0.75, 60000, pytest.approx(20000))


def test_releasing_more_margin_than_left_is_an_error_naming_the_line(tmp_path: Path) -> None:
    # 30,000 x 0.5 = 15,000 left after selling half; releasing 20,000 would leave -5,000
    trade = {
        "account_id": "A1",
        "symbol": "BTCUSDT",
        "side": "sell",
        "quantity": 0.5,
        "isolated_margin": -20000,
    }
    with pytest.raises(DataError) as err:
        projected(tmp_path, [BTC], [trade])
    assert (
        "trades.csv:2: [isolated_margin] releases more margin than the position keeps (15,000.00"
        in err.value.render()
    )


def test_close_removes_the_position(tmp_path: Path) -> None:
    proj = projected(
        tmp_path, [BTC, ETH], [{"account_id": "A1", "symbol": "BTCUSDT", "side": "sell", "quantity": 1}]
    )
    assert proj.positions.get_column("position_id").to_list() == ["P2"]
    effect = proj.effects.row(0, named=True)
    assert (effect["action"], effect["new_position_id"], effect["price"], effect["price_source"]) == (
        "close",
        None,
        61000,
        "mark",
    )


def test_flip_closes_and_opens_the_remainder_on_the_other_side(tmp_path: Path) -> None:
    # long 1 -> sell 3 @ 59,000: the long closes, a short of 3 - 1 = 2 opens @ 59,000 at the old leverage 2:
    # M = 2 x 59,000 / 2 = 59,000; the old stop (below a long) is dropped, volatility and venue are kept
    proj = projected(
        tmp_path,
        [BTC],
        [{"account_id": "A1", "symbol": "BTCUSDT", "side": "sell", "quantity": 3, "price": 59000}],
    )
    assert proj.positions.height == 1
    p = proj.positions.row(0, named=True)
    assert p["position_id"] == "A1:binance:BTCUSDT:short:isolated"
    assert (p["side"], p["quantity"], p["entry_price"], p["leverage"], p["isolated_margin"]) == (
        "short",
        2,
        59000,
        2,
        59000,
    )
    assert (p["stop_loss_price"], p["volatility"], p["venue"], p["mark_price"]) == (
        None,
        0.6,
        "binance",
        61000,
    )
    effect = proj.effects.row(0, named=True)
    assert (effect["action"], effect["position_id"], effect["new_position_id"]) == (
        "flip",
        "P1",
        p["position_id"],
    )


def test_flip_takes_leverage_and_stop_from_the_trade(tmp_path: Path) -> None:
    # remainder 0.5 @ 60,000 at 4x: M = 0.5 x 60,000 / 4 = 7,500
    trade = {
        "account_id": "A1",
        "symbol": "BTCUSDT",
        "side": "sell",
        "quantity": 1.5,
        "price": 60000,
        "leverage": 4,
        "stop_loss_price": 63000,
    }
    p = projected(tmp_path, [BTC], [trade]).positions.row(0, named=True)
    assert (p["quantity"], p["leverage"], p["isolated_margin"], p["stop_loss_price"]) == (0.5, 4, 7500, 63000)


def test_open_new_with_leverage(tmp_path: Path) -> None:
    # no SOL position: 100 SOL @ 150 at 5x -> M = 100 x 150 / 5 = 3,000; isolated by default
    trade = {
        "trade_id": "T9",
        "account_id": "A2",
        "symbol": "SOLUSDT",
        "side": "sell",
        "quantity": 100,
        "price": 150,
        "leverage": 5,
        "stop_loss_price": 160,
    }
    proj = projected(tmp_path, [BTC], [trade])
    p = position(proj, "A2:-:SOLUSDT:short:isolated")
    assert (
        p["side"],
        p["quantity"],
        p["entry_price"],
        p["mark_price"],
        p["leverage"],
        p["isolated_margin"],
    ) == ("short", 100, 150, 150, 5, 3000)
    assert (p["margin_mode"], p["stop_loss_price"], p["__row"]) == ("isolated", 160, 2)
    assert proj.effects.row(0, named=True)["action"] == "open"


def test_open_new_takes_the_mark_and_volatility_of_the_symbol_from_the_book(tmp_path: Path) -> None:
    # A2 holds no BTC; A1's BTC gives the mark (61,000, also the default price) and volatility 0.6.
    # isolated_margin alone: M = 10,000, leverage left empty (the engine derives 61,000 / 10,000 = 6.1x)
    trade = {"account_id": "A2", "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "isolated_margin": 10000}
    p = position(projected(tmp_path, [BTC], [trade]), "A2:-:BTCUSDT:long:isolated")
    assert (p["entry_price"], p["mark_price"], p["volatility"], p["isolated_margin"], p["leverage"]) == (
        61000,
        61000,
        0.6,
        10000,
        None,
    )


def test_trades_apply_in_order_per_position(tmp_path: Path) -> None:
    # buy 1 @ 62,000 -> 2 @ 61,000 (M 61,000); sell 0.5 -> 1.5 @ 61,000 (M 61,000 x 0.75 = 45,750);
    # sell 1.5 -> closed; buy 0.2 @ 60,000 at 3x -> a new long, M = 0.2 x 60,000 / 3 = 4,000, a new id
    trades = [
        {"account_id": "A1", "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "price": 62000},
        {"account_id": "A1", "symbol": "BTCUSDT", "side": "sell", "quantity": 0.5},
        {"account_id": "A1", "symbol": "BTCUSDT", "side": "sell", "quantity": 1.5},
        {
            "account_id": "A1",
            "symbol": "BTCUSDT",
            "side": "buy",
            "quantity": 0.2,
            "price": 60000,
            "leverage": 3,
        },
    ]
    proj = projected(tmp_path, [BTC], trades)
    assert proj.effects.get_column("action").to_list() == ["increase", "reduce", "close", "open"]
    p = proj.positions.row(0, named=True)
    assert (proj.positions.height, p["position_id"], p["isolated_margin"]) == (
        1,
        "A1:-:BTCUSDT:long:isolated",
        pytest.approx(4000),
    )


def test_position_without_leverage_uses_the_derived_one(tmp_path: Path) -> None:
    # leverage empty: L = Q x EP / M = 1 x 60,000 / 20,000 = 3
    # buy 1 @ 60,000 adds 60,000 / 3 = 20,000 -> M 40,000
    pos = {**BTC, "leverage": None, "isolated_margin": 20000}
    p = position(
        projected(
            tmp_path,
            [pos],
            [{"account_id": "A1", "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "price": 60000}],
        ),
        "P1",
    )
    assert (p["quantity"], p["isolated_margin"], p["leverage"]) == (2, 40000, None)


@pytest.mark.parametrize(
    ("trade", "expected"),
    [
        (
            {"account_id": "A1", "symbol": "DOGEUSDT", "side": "buy", "quantity": 10, "leverage": 2},
            "trades.csv:2: [price] price is required: no position in the book holds DOGEUSDT",
        ),
        (
            {"account_id": "A1", "symbol": "DOGEUSDT", "side": "buy", "quantity": 10, "price": 0.3},
            "trades.csv:2: [leverage] opens a new DOGEUSDT position in A1: give leverage or isolated_margin",
        ),
        (
            {
                "account_id": "A1",
                "symbol": "DOGEUSDT",
                "side": "buy",
                "quantity": 10,
                "price": 0.3,
                "margin_mode": "cross",
                "isolated_margin": 5,
            },
            "trades.csv:2: [leverage] opens a new DOGEUSDT position in A1: give leverage",
        ),
        (
            {"account_id": "A1", "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "leverage": 5},
            "trades.csv:2: [leverage] leverage applies to a position the trade opens; P1 has 2x",
        ),
        (
            {"account_id": "A1", "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "margin_mode": "cross"},
            "trades.csv:2: [margin_mode] P1 is isolated; a trade cannot change the margin mode",
        ),
        (
            {"account_id": "A1", "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "position_id": "P7"},
            "trades.csv:2: [position_id] no open position 'P7' of A1 in BTCUSDT",
        ),
    ],
)
def test_trades_the_book_cannot_take_are_errors_naming_the_line(
    tmp_path: Path, trade: dict, expected: str
) -> None:
    with pytest.raises(DataError) as err:
        projected(tmp_path, [BTC], [trade])
    assert expected in err.value.render()


def test_ambiguous_position_needs_position_id_or_venue(tmp_path: Path) -> None:
    okx = {**BTC, "position_id": "P1b", "venue": "okx", "quantity": 2}
    trade = {"account_id": "A1", "symbol": "BTCUSDT", "side": "sell", "quantity": 0.5}
    with pytest.raises(DataError) as err:
        projected(tmp_path, [BTC, okx], [trade])
    assert "A1 holds 2 BTCUSDT positions (P1, P1b): give position_id (or venue)" in err.value.render()
    assert position(projected(tmp_path, [BTC, okx], [{**trade, "venue": "okx"}]), "P1b")["quantity"] == 1.5
    assert (
        position(projected(tmp_path, [BTC, okx], [{**trade, "position_id": "P1"}]), "P1")["quantity"] == 0.5
    )


def test_new_ids_never_reuse_a_book_or_closed_id(tmp_path: Path) -> None:
    # the book already uses the id a new A1 short BTC would derive; a closed id is not reused either
    taken = {**ETH, "position_id": "A1:binance:BTCUSDT:short:isolated"}
    trade = {"account_id": "A1", "symbol": "BTCUSDT", "side": "sell", "quantity": 2, "price": 60000}
    proj = projected(tmp_path, [BTC, taken], [trade])
    assert sorted(proj.positions.get_column("position_id")) == [
        "A1:binance:BTCUSDT:short:isolated",
        "A1:binance:BTCUSDT:short:isolated#2",
    ]


def test_untouched_positions_are_the_same_rows(tmp_path: Path) -> None:
    before = projected(tmp_path, [BTC, ETH], []).positions
    after = projected(
        tmp_path, [BTC, ETH], [{"account_id": "A1", "symbol": "ETHUSDT", "side": "sell", "quantity": 1}]
    ).positions
    assert after.filter(pl.col("position_id") == "P1").equals(before.filter(pl.col("position_id") == "P1"))
    assert after.schema == before.schema


def test_a_new_position_in_a_book_with_integer_account_ids_finds_its_account(tmp_path: Path) -> None:
    # Parquet book and accounts with integer ids (loaded with Inputs.account_keys). Account 7 has
    # equity 100,000 and holds BTC on binance; a trade opens 1 BTC @ 61,000 at 5x on okx:
    # M = 12,200, 12.2% of equity > 5%. Had the projected book kept the file's keys, the new row
    # would have none: no equity, and no allocation finding at all.
    from policy_engine.gate.run import run_gate
    from tests.test_gate_helpers import POLICY, finding, trades_file

    book = pl.DataFrame([{**BTC, "account_id": 7, "leverage": 2.0, "isolated_margin": 3000.0}])
    book.write_parquet(tmp_path / "book.parquet")
    pl.DataFrame({"account_id": [7, 8], "equity": [100000.0, 5e6]}).write_parquet(tmp_path / "accounts.parquet")
    trades = [{"account_id": "7", "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "price": 61000,
               "leverage": 5, "venue": "okx"}]  # fmt: skip
    result = run_gate(
        POLICY, tmp_path / "book.parquet", tmp_path / "accounts.parquet", None, [str(trades_file(tmp_path, trades))]
    )
    new = finding(result, "alloc", "7:okx:BTCUSDT:long:isolated")
    assert (new["account_id"], new["status"]) == ("7", "breach")
    assert new["observed"] == pytest.approx(12200 / 100000, rel=1e-12)
