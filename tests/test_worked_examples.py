"""DOMAIN.md's worked examples, through the `metrics` command end to end (tolerance 1e-4 relative).

Sources (DOMAIN.md): Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts"
(transcribed in freqtrade tests/exchange/test_binance.py::test_liquidation_price_binance); Bybit help
centre "Liquidation Price (USDT Contract)" example 1; the $500-at-5x example.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl

from tests.conftest import run_cli, write_csv

ACCOUNTS = [{"account_id": "A", "equity": 10_000_000, "risk_profile": "aggressive"}]


def _metrics(tmp_path: Path, positions: list[dict], *extra: str) -> pl.DataFrame:
    write_csv(tmp_path / "positions.csv", positions)
    write_csv(tmp_path / "accounts.csv", ACCOUNTS)
    out = tmp_path / "metrics.csv"
    proc = run_cli("metrics", "--positions", str(tmp_path / "positions.csv"), "--accounts",
                   str(tmp_path / "accounts.csv"), "--output", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    return pl.read_csv(out)


def _lp(df: pl.DataFrame, position_id: str) -> float:
    return float(df.filter(pl.col("position_id") == position_id).get_column("liquidation_price")[0])


def test_binance_faq_examples(tmp_path: Path) -> None:
    df = _metrics(tmp_path, [
        # ETHUSDT long 3,683.979 @ 1,456.84, M = 1,535,443.01, mmr 10%, cum 135,365 -> LP 1,114.78
        {"position_id": "eth", "account_id": "A", "symbol": "ETHUSDT", "side": "long", "quantity": 3683.979,
         "entry_price": 1456.84, "mark_price": 1456.84, "isolated_margin": 1535443.01,
         "maintenance_margin_rate": 0.10, "maintenance_amount": 135365},
        # BTCUSDT long 109.488 @ 32,481.98, M = 1,535,443.01, mmr 2.5%, cum 16,300 -> LP 18,778.73
        {"position_id": "btc", "account_id": "A", "symbol": "BTCUSDT", "side": "long", "quantity": 109.488,
         "entry_price": 32481.98, "mark_price": 32481.98, "isolated_margin": 1535443.01,
         "maintenance_margin_rate": 0.025, "maintenance_amount": 16300},
        # $500 isolated at 5x ($2,500 notional), mmr 0.5%: LP = EP x (1 - 0.2) / 0.995, a ~19.6% fall
        {"position_id": "five", "account_id": "A", "symbol": "XUSDT", "side": "long", "quantity": 25,
         "entry_price": 100, "mark_price": 100, "leverage": 5, "isolated_margin": 500,
         "maintenance_margin_rate": 0.005, "maintenance_amount": 0},
    ])
    assert math.isclose(_lp(df, "eth"), 1114.78, rel_tol=1e-4)
    assert math.isclose(_lp(df, "btc"), 18778.73, rel_tol=1e-4)
    assert math.isclose(_lp(df, "five"), 100 * 0.8 / 0.995, rel_tol=1e-9)
    fall = float(df.filter(pl.col("position_id") == "five").get_column("liq_distance")[0])
    assert math.isclose(fall, 0.196, rel_tol=1e-2)  # "liquidates after a ~19.6% fall"


def test_bybit_example_1(tmp_path: Path) -> None:
    # long 1 BTC @ 20,000, 50x, mmr 0.5%: IM = 400, MM = 100, LP = 20,000 - 300 = 19,700
    df = _metrics(tmp_path, [
        {"position_id": "b1", "account_id": "A", "symbol": "BTCUSDT", "side": "long", "quantity": 1,
         "entry_price": 20000, "mark_price": 20000, "leverage": 50, "maintenance_margin_rate": 0.005,
         "maintenance_amount": 0},
    ], "--liquidation-model", "bybit")
    assert math.isclose(_lp(df, "b1"), 19700.0, rel_tol=1e-4)


BTC_BRACKETS = [  # DOMAIN.md: Binance BTCUSDT 2024-05-30 (first four)
    {"tier": 1, "minNotional": 0, "maxNotional": 50_000, "maintenanceMarginRate": 0.004, "maxLeverage": 125, "maintenanceAmount": 0},
    {"tier": 2, "minNotional": 50_000, "maxNotional": 600_000, "maintenanceMarginRate": 0.005, "maxLeverage": 100, "maintenanceAmount": 50},
    {"tier": 3, "minNotional": 600_000, "maxNotional": 3_000_000, "maintenanceMarginRate": 0.0065, "maxLeverage": 75, "maintenanceAmount": 950},
    {"tier": 4, "minNotional": 3_000_000, "maxNotional": 12_000_000, "maintenanceMarginRate": 0.01, "maxLeverage": 50, "maintenanceAmount": 11_450},
]


def test_bracket_is_chosen_at_the_liquidation_price(tmp_path: Path) -> None:
    # long 10 BTC @ 60,000, 20x: notional 600,000 sits in tier 3 now, but Binance picks the bracket of
    # the notional AT the liquidation price. Tier 2: LP = (600,000 - 30,000 - 50) / (10 x 0.995) = 57,281.41,
    # notional at LP 572,814 lies in tier 2 [50k, 600k): consistent. (Tier 3 would give 57,277.30.)
    market = tmp_path / "market.json"
    market.write_text(json.dumps({"brackets": {"BTCUSDT": BTC_BRACKETS}}), encoding="utf-8")
    df = _metrics(tmp_path, [
        {"position_id": "p", "account_id": "A", "symbol": "BTCUSDT", "side": "long", "quantity": 10,
         "entry_price": 60000, "mark_price": 60000, "leverage": 20},
    ], "--market", str(market))
    assert math.isclose(_lp(df, "p"), 569950 / 9.95, rel_tol=1e-9)
    row = df.filter(pl.col("position_id") == "p")
    assert float(row.get_column("mmr")[0]) == 0.005
    assert float(row.get_column("cum")[0]) == 50


def test_notional_beyond_the_last_bracket_takes_the_last_bracket(tmp_path: Path) -> None:
    # two brackets only: [0, 50k) 0.4% / cum 0 and [50k, 600k) 0.5% / cum 50. A long of 20 BTC @ 60,000
    # at 2x (M = 600,000) has its LP far above 600k notional's bracket cap:
    # last bracket: LP = (1,200,000 - 600,000 - 50) / (20 x 0.995) = 30,148.24, notional 602,965 > 600k cap,
    # still the last (strictest published) bracket, never the 0.5% default with cum 0 (which gives 30,150.75)
    market = tmp_path / "market.json"
    market.write_text(json.dumps({"brackets": {"BTCUSDT": BTC_BRACKETS[:2]}}), encoding="utf-8")
    df = _metrics(tmp_path, [
        {"position_id": "big", "account_id": "A", "symbol": "BTCUSDT", "side": "long", "quantity": 20,
         "entry_price": 60000, "mark_price": 60000, "leverage": 2},
    ], "--market", str(market))
    assert math.isclose(_lp(df, "big"), (1_200_000 - 600_000 - 50) / (20 * 0.995), rel_tol=1e-9)
    assert float(df.filter(pl.col("position_id") == "big").get_column("cum")[0]) == 50
