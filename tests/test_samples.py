"""The bundled sample data (samples/): reproducible, internally consistent, and a good demo.

* samples/generate.py regenerates every data file byte-identically;
* market.json's bracket tables satisfy the Binance identity cum_n = cum_{n-1} + floor_n x (mmr_n -
  mmr_{n-1}), and BTCUSDT is exactly the table quoted in DOMAIN.md;
* the accounts cover every profile and carry the hostile / non-ASCII client names;
* the worked examples reproduce DOMAIN.md's numbers, by hand and through the engine;
* the default policy pack finds something for every rule, near-limit warnings included, while most
  positions stay clean.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
WORKED = SAMPLES / "worked_examples"
GENERATED = (
    "positions.csv",
    "accounts.csv",
    "market.json",
    "worked_examples/binance_positions.csv",
    "worked_examples/bybit_positions.csv",
    "worked_examples/accounts.csv",
)
HOSTILE = "<img src=x onerror=alert(1)>"

# DOMAIN.md, "Binance BTCUSDT brackets, 2024-05-30" (freqtrade binance_leverage_tiers.json):
# notional floor, max leverage, mmr, cum
BTC_BRACKETS = (
    (0, 125, "0.004", 0), (50_000, 100, "0.005", 50), (600_000, 75, "0.0065", 950),
    (3_000_000, 50, "0.01", 11_450), (12_000_000, 25, "0.02", 131_450), (70_000_000, 20, "0.025", 481_450),
    (100_000_000, 10, "0.05", 2_981_450), (230_000_000, 5, "0.1", 14_481_450),
    (480_000_000, 4, "0.125", 26_481_450), (600_000_000, 3, "0.15", 41_481_450),
    (800_000_000, 2, "0.25", 121_481_450), (1_200_000_000, 1, "0.5", 421_481_450),
)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _market() -> dict:
    # Decimal, so that the bracket identity is checked exactly, not within a float tolerance
    return json.loads((SAMPLES / "market.json").read_text(encoding="utf-8"), parse_float=Decimal)


def test_generator_reproduces_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "samples"
    subprocess.run([sys.executable, str(SAMPLES / "generate.py"), "--out", str(out)], check=True,
                   capture_output=True, cwd=tmp_path)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(GENERATED)
    for rel in GENERATED:
        assert (out / rel).read_bytes() == (SAMPLES / rel).read_bytes(), (
            f"{rel} differs from the generator's output: run `python samples/generate.py`")


def test_every_bracket_table_satisfies_the_cum_identity() -> None:
    brackets = _market()["brackets"]
    assert len(brackets) >= 25
    for symbol, tiers in brackets.items():
        assert [t["tier"] for t in tiers] == list(range(1, len(tiers) + 1)), symbol
        assert tiers[0]["minNotional"] == 0 and tiers[0]["maintenanceAmount"] == 0, symbol
        for prev, cur in zip(tiers, tiers[1:]):
            assert cur["minNotional"] == prev["maxNotional"], symbol  # contiguous
            assert cur["maintenanceMarginRate"] > prev["maintenanceMarginRate"], symbol
            assert cur["maxLeverage"] <= prev["maxLeverage"], symbol
            expected = Decimal(prev["maintenanceAmount"]) + Decimal(cur["minNotional"]) * (
                Decimal(cur["maintenanceMarginRate"]) - Decimal(prev["maintenanceMarginRate"])
            )
            assert Decimal(cur["maintenanceAmount"]) == expected, (symbol, cur["tier"])


def test_btc_brackets_are_the_binance_table_of_domain_md() -> None:
    tiers = _market()["brackets"]["BTCUSDT"]
    assert len(tiers) == 12
    got = tuple((t["minNotional"], t["maxLeverage"], str(t["maintenanceMarginRate"]), t["maintenanceAmount"])
                for t in tiers)
    assert got == BTC_BRACKETS
    assert tiers[-1]["maxNotional"] == 1_800_000_000


def test_market_volatility_is_annualised_and_some_traded_symbols_lack_it() -> None:
    market = _market()
    vols = market["volatility"]
    assert all(Decimal("0.1") <= v <= Decimal("1.8") for v in vols.values())
    traded = {r["symbol"] for r in _rows(SAMPLES / "positions.csv")}
    assert traded <= set(market["brackets"])
    unknown = traded - set(vols)
    assert 1 <= len(unknown) <= 2, unknown


def test_accounts_cover_every_profile_and_the_awkward_names() -> None:
    accounts = _rows(SAMPLES / "accounts.csv")
    profiles = Counter(a["risk_profile"] for a in accounts)
    assert all(profiles[p] >= 2 for p in ("conservative", "moderate", "aggressive")), profiles
    names = [a["client_name"] for a in accounts]
    assert HOSTILE in names
    assert any("'" in n and not n.isascii() for n in names)
    assert all(50_000 <= float(a["equity"]) <= 5_000_000 for a in accounts)
    assert {a["currency"] for a in accounts} == {"USDT"}


def test_positions_are_a_plausible_book() -> None:
    positions = _rows(SAMPLES / "positions.csv")
    accounts = {a["account_id"] for a in _rows(SAMPLES / "accounts.csv")}
    assert 280 <= len(positions) <= 330
    per_account = Counter(p["account_id"] for p in positions)
    assert set(per_account) == accounts
    assert all(25 <= n <= 60 for n in per_account.values()), per_account
    assert len({p["position_id"] for p in positions}) == len(positions)
    for p in positions:
        q, ep, mp = float(p["quantity"]), float(p["entry_price"]), float(p["mark_price"])
        assert q > 0 and ep > 0 and mp > 0
        assert abs(mp / ep - 1) < 0.10, p["position_id"]  # marks a few percent from entry
        if p["margin_mode"] == "isolated":  # at least the initial margin (topped up sometimes)
            assert float(p["isolated_margin"]) >= q * ep / float(p["leverage"]) - 0.01, p["position_id"]
        else:
            assert p["isolated_margin"] == ""
    # mostly empty: the engine takes these from market.json
    n = len(positions)
    assert sum(bool(p["maintenance_margin_rate"]) for p in positions) < 0.1 * n
    assert 0.05 * n <= sum(bool(p["liquidation_price"]) for p in positions) <= 0.15 * n
    assert sum(bool(p["volatility"]) for p in positions) < 0.05 * n


def _binance_lp(side: str, q: float, ep: float, m: float, mmr: float, cum: float) -> float:
    # DOMAIN.md: long (Q*EP - M - cum) / (Q*(1 - mmr)); short (Q*EP + M + cum) / (Q*(1 + mmr))
    if side == "long":
        return (q * ep - m - cum) / (q * (1 - mmr))
    return (q * ep + m + cum) / (q * (1 + mmr))


def _bybit_lp(side: str, q: float, ep: float, m: float, mmr: float, cum: float) -> float:
    # DOMAIN.md: long EP - (IM - MM)/Q, MM = Q*EP*mmr - deduction
    mm = q * ep * mmr - cum
    return ep - (m - mm) / q if side == "long" else ep + (m - mm) / q


# DOMAIN.md "Worked examples"; the sources round to 2 decimals, hence rel 1e-4
WORKED_LP = {
    "WX-A": 1114.78,  # Binance FAQ, ETHUSDT
    "WX-B": 18778.73,  # Binance FAQ, BTCUSDT
    "WX-C": 19700.0,  # Bybit help centre, Example 1
    "WX-D": 2500 * 0.8 / 0.995,  # 500 USDT at 5x: a 19.6% fall
}


def test_worked_examples_by_hand() -> None:
    for name, formula in (("binance_positions.csv", _binance_lp), ("bybit_positions.csv", _bybit_lp)):
        for r in _rows(WORKED / name):
            q, ep, m = float(r["quantity"]), float(r["entry_price"]), float(r["isolated_margin"])
            mmr, cum = float(r["maintenance_margin_rate"]), float(r["maintenance_amount"])
            lp = formula(r["side"], q, ep, m, mmr, cum)
            assert lp == pytest.approx(WORKED_LP[r["position_id"]], rel=1e-4), r["position_id"]
            assert r["mark_price"] == r["entry_price"]
    d = next(r for r in _rows(WORKED / "binance_positions.csv") if r["position_id"] == "WX-D")
    fall = 1 - WORKED_LP["WX-D"] / float(d["entry_price"])
    assert fall == pytest.approx(0.196, abs=5e-4)


def test_worked_examples_through_the_engine() -> None:
    from policy_engine import api
    from policy_engine.model import MetricSettings

    accounts = WORKED / "accounts.csv"
    binance = api.metrics(WORKED / "binance_positions.csv", accounts)
    bybit = api.metrics(WORKED / "bybit_positions.csv", accounts,
                        settings=MetricSettings(liquidation_model="bybit"))
    for frame in (binance, bybit):
        for pid, lp in zip(frame.get_column("position_id"), frame.get_column("liquidation_price")):
            assert lp == pytest.approx(WORKED_LP[pid], rel=1e-4), pid


# Every rule of the default pack, with the near-limit warning where the rule has a warn_at.
EXPECTED_FINDINGS = {
    ("max-allocation", "breach"), ("max-allocation", "near_limit"),
    ("max-exposure", "breach"),
    ("leverage-by-volatility", "breach"), ("leverage-by-volatility", "near_limit"),
    ("stop-loss/missing", "breach"), ("stop-loss/misplaced", "breach"),
    ("stop-loss/risk_per_trade", "breach"), ("stop-loss/risk_per_trade", "near_limit"),
    ("liquidation-buffer", "breach"), ("liquidation-buffer", "near_limit"),
    ("isolated-only-conservative", "breach"),
    ("gross-leverage-conservative", "breach"), ("gross-leverage-moderate", "breach"),
}


def test_the_default_pack_finds_every_rule_on_the_samples() -> None:
    from policy_engine import api

    result = api.check(ROOT / "policies", SAMPLES / "positions.csv", SAMPLES / "accounts.csv",
                       SAMPLES / "market.json")
    findings = result.findings.to_dicts()
    seen = {
        (f["rule_id"] + (f"/{f['check']}" if f["rule_id"] == "stop-loss" else ""), f["status"])
        for f in findings
    }
    assert EXPECTED_FINDINGS <= seen, EXPECTED_FINDINGS - seen
    rule_ids = {r.id for _, r in result.pack.rules}
    assert rule_ids <= {f["rule_id"] for f in findings}
    # a realistic picture, not a sea of red: 10-25% of the positions have any finding
    n = result.info.positions
    flagged = {f["position_id"] for f in findings if f["rule_id"] not in ("gross-leverage-conservative",
                                                                           "gross-leverage-moderate")}
    assert 0.10 * n <= len(flagged) <= 0.25 * n, len(flagged)
    gross = {(f["rule_id"], f["account_id"]) for f in findings if f["rule_id"].startswith("gross-leverage")}
    assert gross == {("gross-leverage-conservative", "ACC-1003"), ("gross-leverage-moderate", "ACC-1005")}
