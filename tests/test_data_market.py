"""Market data: volatility and leverage brackets, checked against the bracket identity of DOMAIN.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from policy_engine.data import load_inputs
from policy_engine.data.market import load_market
from policy_engine.errors import DataError, Issue

# Binance USD-M BTCUSDT brackets as of 2024-05-30 (freqtrade freqtrade/exchange/binance_leverage_tiers.json,
# transcribed in shared/DOMAIN.md), ccxt fetchLeverageTiers form with Binance's cum in info.cum.
BINANCE = Path(__file__).parent / "data" / "binance_btcusdt_brackets.json"


def tiers() -> list[dict[str, Any]]:
    doc = json.loads(BINANCE.read_text())
    return list(doc["brackets"]["BTCUSDT"])


def market(tmp_path: Path, doc: dict[str, Any], name: str = "m.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def problems(path: Path) -> tuple[Issue, ...]:
    with pytest.raises(DataError) as err:
        load_market(path)
    return err.value.issues


def test_binance_brackets_pass_the_identity() -> None:
    brackets = load_market(BINANCE).brackets
    assert brackets is not None
    assert brackets.schema == pl.Schema(
        {"symbol": pl.String, "bracket": pl.Int64, "min_notional": pl.Float64, "max_notional": pl.Float64,
         "mmr": pl.Float64, "cum": pl.Float64, "max_leverage": pl.Float64}
    )  # fmt: skip
    assert brackets["bracket"].to_list() == list(range(1, 13))
    assert brackets["cum"].to_list()[:4] == [0.0, 50.0, 950.0, 11450.0]
    assert brackets["cum"][-1] == 421_481_450.0
    assert brackets["max_leverage"].to_list()[:3] == [125.0, 100.0, 75.0]


def test_a_corrupted_cum_is_reported_with_symbol_and_tier(tmp_path: Path) -> None:
    rows = tiers()
    rows[4]["info"]["cum"] = "131460.0"  # tier 5: 11,450 + 12M x (2.00% - 1.00%) = 131,450
    issues = problems(market(tmp_path, {"brackets": {"BTCUSDT": rows}}))
    first = issues[0]
    assert first.where == "brackets.BTCUSDT tier 5"
    assert first.message.startswith("maintenance amount breaks cum_n = cum_(n-1)")
    assert "(got 131460.0, expected 131450.0)" in first.message
    # tier 6 is computed from tier 5's cum, so it no longer adds up either
    assert [i.where for i in issues] == ["brackets.BTCUSDT tier 5", "brackets.BTCUSDT tier 6"]


def test_cum_within_tolerance_passes(tmp_path: Path) -> None:
    rows = tiers()
    rows[11]["info"]["cum"] = str(421_481_450 * (1 + 5e-7))  # 1e-6 relative + 1e-6 absolute
    rows[11]["maxNotional"] = 1.8e9
    assert load_market(market(tmp_path, {"brackets": {"BTCUSDT": rows[:12]}})).brackets is not None


@pytest.mark.parametrize("spelling", ["maintenanceAmount", "cum", "info"])
def test_maintenance_amount_spellings(tmp_path: Path, spelling: str) -> None:
    rows = []
    for tier in tiers():
        cum = tier.pop("info")["cum"]
        rows.append(tier | ({"info": {"cum": cum}} if spelling == "info" else {spelling: float(cum)}))
    brackets = load_market(market(tmp_path, {"brackets": {"BTCUSDT": rows}})).brackets
    assert brackets is not None
    assert brackets.equals(load_market(BINANCE).brackets)  # type: ignore[arg-type]


def test_amounts_absent_on_every_tier_are_derived_from_the_identity(tmp_path: Path) -> None:
    rows = [{k: v for k, v in t.items() if k != "info"} for t in tiers()]
    brackets = load_market(market(tmp_path, {"brackets": {"BTCUSDT": rows}})).brackets
    assert brackets is not None
    assert brackets["cum"].to_list() == pytest.approx(load_market(BINANCE).brackets["cum"].to_list())  # type: ignore[index]


@pytest.mark.parametrize(
    ("tier", "change", "message"),
    [
        (1, {"minNotional": 10}, "the first tier must start at minNotional 0 (got 10.0)"),
        (
            3,
            {"minNotional": 650000},
            "minNotional must equal the previous tier's maxNotional (got 650000.0 after 600000.0)",
        ),
        (2, {"maintenanceMarginRate": 1.2}, "maintenanceMarginRate must be in [0, 1) (got 1.2)"),
        (
            3,
            {"maintenanceMarginRate": 0.005},
            "maintenanceMarginRate must increase from tier to tier (got 0.005 after 0.005)",
        ),
        (2, {"maxLeverage": 0}, "maxLeverage must be >= 1 (got 0.0)"),
        (2, {"maxNotional": 50000}, "minNotional must be below maxNotional (got 50000.0 >= 50000.0)"),
        (2, {"maxLeverage": None}, "missing maxLeverage"),
        (2, {"maintenanceMarginRate": "high"}, "maintenanceMarginRate must be a finite number (got 'high')"),
        (2, {"tier": 7}, "tier numbers must run 1, 2, 3, ... (got 7)"),
        (2, {"info": {}}, "maintenance amount missing (give it on every tier or on none)"),
    ],
)
def test_each_bracket_problem_names_symbol_and_tier(
    tmp_path: Path, tier: int, change: dict[str, Any], message: str
) -> None:
    rows = tiers()
    rows[tier - 1] = {k: v for k, v in (rows[tier - 1] | change).items() if v is not None}
    issues = problems(market(tmp_path, {"brackets": {"BTCUSDT": rows}}))
    assert any(i.message == message for i in issues), [i.render() for i in issues]
    assert all(i.where and i.where.startswith("brackets.BTCUSDT tier ") for i in issues)
    assert all(i.source == str(tmp_path / "m.json") for i in issues)


def test_yaml_market_with_volatility_and_brackets(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "volatility: {BTCUSDT: 0.55, ETHUSDT: 0.70}\n"
        "brackets:\n"
        "  BTCUSDT:\n"
        "    - {tier: 1, minNotional: 0, maxNotional: 50000, maintenanceMarginRate: 0.004, maxLeverage: 125,"
        " maintenanceAmount: 0}\n"
        "    - {tier: 2, minNotional: 50000, maxNotional: 600000, maintenanceMarginRate: 0.005,"
        " maxLeverage: 100, maintenanceAmount: 50}\n"
    )
    data = load_market(path)
    assert data.volatility is not None and data.brackets is not None
    assert data.volatility.rows() == [("BTCUSDT", 0.55), ("ETHUSDT", 0.70)]
    assert data.brackets.height == 2


def test_market_file_problems_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "volatilty: {BTCUSDT: 0.5}\nvolatility: {BTCUSDT: high, ETHUSDT: 0}\nbrackets: {BTCUSDT: []}\n"
    )
    issues = problems(path)
    assert {(i.where, i.message) for i in issues} == {
        ("brackets.BTCUSDT", "must be a non-empty list of tiers"),
        ("volatility.ETHUSDT", "must be a finite number > 0 (got 0)"),
        ("volatility.BTCUSDT", "must be a finite number > 0 (got 'high')"),
        (None, "unknown section 'volatilty' (did you mean 'volatility'?); allowed: volatility, brackets"),
    }


def test_yaml_duplicate_symbol_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("volatility:\n  BTCUSDT: 0.5\n  BTCUSDT: 0.6\n")
    (issue,) = problems(path)
    assert (issue.line, issue.message) == (3, "invalid YAML: duplicate key 'BTCUSDT'")


def test_csv_market_file_holds_volatility(tmp_path: Path) -> None:
    path = tmp_path / "vol.csv"
    path.write_text("Symbol,Volatility\nBTCUSDT,0.55\nETHUSDT,0.7\n")
    data = load_market(path)
    assert data.brackets is None and data.volatility is not None
    assert data.volatility.rows() == [("BTCUSDT", 0.55), ("ETHUSDT", 0.7)]
    path.write_text("symbol,volatility\nBTCUSDT,0.55\nBTCUSDT,x\n")
    assert [(i.where, i.line) for i in problems(path)] == [("symbol", 2), ("volatility", 3)]


def test_load_inputs_carries_market_data(tmp_path: Path) -> None:
    positions = tmp_path / "p.csv"
    positions.write_text(
        "account_id,symbol,side,quantity,entry_price,mark_price,leverage\nA1,BTCUSDT,long,1,1,1,2\n"
    )
    inputs = load_inputs(positions, market=BINANCE)
    assert inputs.brackets is not None and inputs.brackets.height == 12
    assert inputs.volatility is None
    assert inputs.files == (("positions", str(positions)), ("market", str(BINANCE)))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.yaml", None, "market file does not exist"),
        ("m.txt", "x", "unsupported market file type '.txt'"),
        ("m.json", "{", "invalid JSON"),
        (
            "m.json",
            '{"volatility": {"BTCUSDT": 0.5, "BTCUSDT": 0.6}}',
            "invalid JSON: duplicate key 'BTCUSDT'",
        ),
        ("m.yaml", "- 1\n- 2\n", "market data is a mapping with 'volatility' and/or 'brackets'"),
        ("m.yaml", "volatility: [0.5]\n", "must map each symbol to its annualised volatility"),
    ],
)
def test_unreadable_market_files(tmp_path: Path, name: str, content: str | None, expected: str) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=expected):
        load_market(tmp_path / name)
