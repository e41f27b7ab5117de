#!/usr/bin/env python3
"""Generate the bundled sample data, deterministically (stdlib only: random.Random, csv, json).

    python samples/generate.py              # writes next to this file (samples/)
    python samples/generate.py --out DIR    # writes into DIR instead

Writes positions.csv, accounts.csv, market.json and worked_examples/*.csv. The same seed always gives
byte-identical files (tests/test_samples.py checks this), so never edit the outputs by hand: change
this script and run it again.

The book: 8 client accounts (conservative / moderate / aggressive), about 300 USDT-margined perpetual
positions on binance / bybit / okx. Most positions are generated *clean*: every one is checked
against the default policy pack (policies/core-risk.yaml, policies/account-limits.yaml) with the
formulas of DOMAIN.md and re-drawn until it passes every rule with room to spare. The findings come
from two sources only:

* a stop-loss left off about one leveraged position in five (drawn by the RNG, flagged ``no_stop``);
* the planted positions in ``PLANTS`` below, each written to trip one named rule (and said so).

``_evaluate`` mirrors the engine's rules (policy_engine/rules/*.py, policy_engine/metrics.py) so
that the generator can assert that each plant fires what it claims and that nothing else does; the
engine itself is the independent check (tests/test_samples.py runs the default pack on the samples).
Which position plants what: the comments in ``PLANTS``, and the table in samples/README.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
from decimal import Decimal
from pathlib import Path

SEED = 20250117
HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------------
# Market: symbols, prices, volatility, leverage brackets
# ---------------------------------------------------------------------------------------------

# symbol: (reference mark price, annualised volatility or None, sector, bracket table)
# Volatility None = the symbol is traded but market.json has no volatility for it: the engine's
# unknown-volatility handling (strictest leverage tier, liquidation buffer cannot be verified).
SYMBOLS: dict[str, tuple[float, float | None, str, str]] = {
    "BTCUSDT": (97150.0, 0.45, "layer1", "btc"),
    "ETHUSDT": (3412.5, 0.62, "layer1", "eth"),
    "BNBUSDT": (691.3, 0.48, "exchange", "major"),
    "TRXUSDT": (0.2541, 0.44, "layer1", "major"),
    "PAXGUSDT": (2648.7, 0.16, "gold", "mid"),  # tokenised gold: the calmest contract on the list
    "XRPUSDT": (2.318, 0.78, "payments", "major"),
    "LTCUSDT": (104.62, 0.70, "payments", "major"),
    "BCHUSDT": (441.8, 0.72, "payments", "major"),
    "TONUSDT": (5.412, 0.74, "layer1", "major"),
    "ETCUSDT": (27.14, 0.76, "layer1", "mid"),
    "SOLUSDT": (181.45, 0.85, "layer1", "major"),
    "ADAUSDT": (0.9512, 0.82, "layer1", "major"),
    "AVAXUSDT": (38.27, 0.92, "layer1", "major"),
    "DOTUSDT": (7.184, 0.88, "layer1", "major"),
    "LINKUSDT": (22.06, 0.86, "oracle", "major"),
    "ATOMUSDT": (6.512, 0.84, "layer1", "mid"),
    "NEARUSDT": (5.108, 0.98, "layer1", "mid"),
    "APTUSDT": (9.214, 1.05, "layer1", "mid"),
    "SUIUSDT": (4.187, 1.15, "layer1", "mid"),
    "ARBUSDT": (0.7834, 1.00, "layer2", "mid"),
    "OPUSDT": (1.912, 1.02, "layer2", "mid"),
    "UNIUSDT": (13.47, 0.95, "defi", "mid"),
    "AAVEUSDT": (331.2, 0.90, "defi", "mid"),
    "INJUSDT": (24.38, 1.10, "defi", "mid"),
    "FILUSDT": (5.031, 0.96, "storage", "mid"),
    "DOGEUSDT": (0.3214, 1.00, "meme", "major"),
    "SHIBUSDT": (0.00002137, 1.10, "meme", "meme"),
    "PEPEUSDT": (0.00001208, 1.60, "meme", "meme"),
    "WIFUSDT": (1.874, 1.80, "meme", "meme"),
    "BONKUSDT": (0.00002846, 1.50, "meme", "meme"),
    "FLOKIUSDT": (0.0001512, 1.40, "meme", "meme"),
    "HYPEUSDT": (24.12, None, "exchange", "meme"),  # newly listed: no volatility history yet
    "ENAUSDT": (0.8517, None, "defi", "meme"),  # no volatility in the market file either
}
UNKNOWN_VOL = tuple(s for s, v in SYMBOLS.items() if v[1] is None)

# Bracket tables: (minNotional, maxLeverage, maintenanceMarginRate); the next floor is maxNotional,
# the last tier's cap is given separately. maintenanceAmount (Binance "cum") is computed from the
# identity cum_n = cum_{n-1} + floor_n * (mmr_n - mmr_{n-1}), in exact decimal arithmetic.
BRACKETS: dict[str, tuple[tuple[tuple[str, int, str], ...], str]] = {
    # Binance BTCUSDT, 2024-05-30 (freqtrade binance_leverage_tiers.json), as quoted in DOMAIN.md
    "btc": ((
        ("0", 125, "0.004"), ("50000", 100, "0.005"), ("600000", 75, "0.0065"), ("3000000", 50, "0.01"),
        ("12000000", 25, "0.02"), ("70000000", 20, "0.025"), ("100000000", 10, "0.05"),
        ("230000000", 5, "0.1"), ("480000000", 4, "0.125"), ("600000000", 3, "0.15"),
        ("800000000", 2, "0.25"), ("1200000000", 1, "0.5"),
    ), "1800000000"),
    "eth": ((
        ("0", 125, "0.004"), ("50000", 100, "0.005"), ("600000", 75, "0.0065"), ("3000000", 50, "0.01"),
        ("12000000", 25, "0.02"), ("50000000", 20, "0.025"), ("100000000", 10, "0.05"),
        ("200000000", 5, "0.1"), ("500000000", 2, "0.25"),
    ), "800000000"),
    "major": ((
        ("0", 75, "0.005"), ("10000", 50, "0.0065"), ("50000", 40, "0.01"), ("250000", 20, "0.02"),
        ("1000000", 10, "0.05"), ("5000000", 5, "0.1"), ("20000000", 4, "0.125"), ("50000000", 2, "0.25"),
    ), "100000000"),
    "mid": ((
        ("0", 50, "0.01"), ("5000", 25, "0.015"), ("25000", 20, "0.02"), ("100000", 10, "0.05"),
        ("500000", 5, "0.1"), ("2000000", 4, "0.125"), ("5000000", 2, "0.25"),
    ), "20000000"),
    "meme": ((
        ("0", 25, "0.02"), ("5000", 20, "0.025"), ("25000", 10, "0.05"), ("100000", 5, "0.1"),
        ("250000", 4, "0.125"), ("1000000", 2, "0.25"),
    ), "5000000"),
}


def bracket_table(name: str) -> list[dict]:
    """ccxt leverage-tier objects for one table, cum from the identity (exact decimals)."""
    rows, cap = BRACKETS[name]
    out: list[dict] = []
    cum, prev_mmr = Decimal(0), None
    for i, (floor, max_lev, mmr) in enumerate(rows):
        floor_d, mmr_d = Decimal(floor), Decimal(mmr)
        if prev_mmr is not None:
            cum += floor_d * (mmr_d - prev_mmr)
        prev_mmr = mmr_d
        upper = Decimal(rows[i + 1][0]) if i + 1 < len(rows) else Decimal(cap)
        out.append({
            "tier": i + 1,
            "minNotional": _num(floor_d),
            "maxNotional": _num(upper),
            "maintenanceMarginRate": float(mmr_d),
            "maxLeverage": max_lev,
            "maintenanceAmount": _num(cum),
        })
    return out


def _num(d: Decimal) -> int | float:
    """An exact integer stays an int in JSON; everything else a float."""
    return int(d) if d == d.to_integral_value() else float(d)


# ---------------------------------------------------------------------------------------------
# The policy pack's limits, transcribed (policies/core-risk.yaml, policies/account-limits.yaml)
# ---------------------------------------------------------------------------------------------

TIERS = (("low", 0.5), ("medium", 0.8), ("high", 1.2), ("extreme", None))
LEV_CAP = {
    "low": {"conservative": 5, "moderate": 10, "aggressive": 20},
    "medium": {"conservative": 2.5, "moderate": 5, "aggressive": 10},
    "high": {"conservative": 1.5, "moderate": 3, "aggressive": 5},
    "extreme": {"conservative": 1, "moderate": 2, "aggressive": 3},
}
ALLOC = {"conservative": 0.02, "moderate": 0.05, "aggressive": 0.10}  # margin / equity, isolated only
EXPOSURE = {"conservative": 0.25, "moderate": 0.50, "aggressive": 1.00}  # notional / equity
MAX_RISK = {"conservative": 0.01, "moderate": 0.02, "aggressive": 0.03}  # loss at stop / equity
BUFFER_K = {"conservative": 4, "moderate": 3, "aggressive": 3}  # sigmas over one day, isolated only
GROSS = {"conservative": 2, "moderate": 5}  # account_leverage
WARN = 0.8  # warn_at of max-allocation, stop-loss, liquidation-buffer
WARN_LEV = 0.9  # warn_at of leverage-by-volatility
DAYS = 365

# Clean positions keep this much further from every limit than the near-limit band (so that a
# rounding or a slightly different reading of a formula cannot turn a clean position into a finding).
SAFETY = 0.92

# ---------------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------------

# account_id, client_name, risk_profile, equity, advisor, number of positions, margin range of the
# drawn positions (share of equity per position)
ACCOUNTS = (
    ("ACC-1001", "Margaret Whitfield Trust", "conservative", 2_400_000, "Anna Lindqvist", 35, (0.003, 0.012)),
    ("ACC-1002", "Zoë O'Neil & Søn", "conservative", 850_000, "Ravi Patel", 30, (0.003, 0.012)),
    # Hollis runs a fully deployed book: its drawn positions each within their own limits, three
    # planted cross positions on top, and the account over 2x gross
    ("ACC-1003", "Hollis Family Office", "conservative", 5_000_000, "Anna Lindqvist", 60, (0.0125, 0.0147)),
    ("ACC-1004", "<img src=x onerror=alert(1)>", "moderate", 1_200_000, "Marc Dubois", 42, (0.005, 0.03)),
    # Okafor & Reyes: a fully deployed moderate book, every drawn position within its limits, over 5x gross
    ("ACC-1005", "Okafor & Reyes Partners", "moderate", 300_000, "Ravi Patel", 50, (0.03, 0.0368)),
    ("ACC-1006", "Bergström Kapital AB", "moderate", 640_000, "Marc Dubois", 40, (0.005, 0.03)),
    ("ACC-1007", "Kestrel Quant Ltd", "aggressive", 180_000, "Anna Lindqvist", 28, (0.01, 0.06)),
    ("ACC-1008", "Tomás Nakamura", "aggressive", 75_000, "Ravi Patel", 33, (0.01, 0.06)),
)
# Accounts whose gross leverage must end up over the profile's limit (the gross-leverage plants):
# they draw positions until the book is 6% over the limit (at most their number of positions).
GROSS_BREACH = {"ACC-1003", "ACC-1005"}

VENUES = ("binance", "bybit", "okx")

# ---------------------------------------------------------------------------------------------
# Planted findings. Each plant is one position; ``expect`` lists the findings it must produce
# (rule id, or rule id/check for stop-loss; ":near" for a near-limit warning). Fields:
#   margin: margin as a share of equity (isolated: the isolated margin before any top-up; cross:
#           the initial margin); lev: leverage; topup: extra isolated margin, a fraction of it;
#   move: how far the mark (the symbol's, per venue) has moved in the position's favour since entry
#         (0.02: 2% in favour; negative: against); default a small random move;
#   stop: stop distance from the mark as a fraction (> 0 protective side, < 0 the wrong side), or
#         None for no stop; stop_beyond_liq: put the stop this fraction past the liquidation price;
#   mode: isolated (default) | cross; venue_lp: write the venue's liquidation price; vol: a
#         per-position volatility override.
# ---------------------------------------------------------------------------------------------

PLANTS: tuple[dict, ...] = (
    # --- max-allocation (margin / equity of an isolated position) ---------------------------
    # conservative: 3.1% of equity as margin on one ETH long (limit 2%)
    dict(acct="ACC-1001", symbol="ETHUSDT", venue="binance", side="long", lev=2, margin=0.031, stop=0.06,
         strategy="discretionary", expect={"max-allocation"}),
    # conservative, near: 1.8% (band 1.6% .. 2%)
    dict(acct="ACC-1002", symbol="BTCUSDT", venue="okx", side="long", lev=3, margin=0.018, stop=0.05,
         strategy="trend", expect={"max-allocation:near"}),
    # moderate: 6.5% (limit 5%)
    dict(acct="ACC-1005", symbol="BNBUSDT", venue="binance", side="long", lev=3, margin=0.065, stop=0.04,
         strategy="discretionary", expect={"max-allocation"}),
    # moderate, near: a 3.4% margin topped up by 30% to 4.42% (band 4% .. 5%)
    dict(acct="ACC-1006", symbol="XRPUSDT", venue="bybit", side="short", lev=3, margin=0.034, topup=0.30,
         stop=0.05, strategy="carry", expect={"max-allocation:near"}),
    # aggressive: 12% of equity in one SOL long (limit 10%)
    dict(acct="ACC-1008", symbol="SOLUSDT", venue="bybit", side="long", lev=3, margin=0.12, stop=0.03,
         strategy="trend", expect={"max-allocation"}),

    # --- max-exposure (notional / equity; only cross positions can get there: the margin limit
    #     caps isolated ones first) ---------------------------------------------------------
    # moderate: a cross BTC long at 6x with 60% of equity in notional (limit 50%)
    dict(acct="ACC-1004", symbol="BTCUSDT", venue="okx", side="long", lev=6, margin=0.10, mode="cross",
         stop=0.02, strategy="trend", expect={"max-exposure"}),
    # aggressive: a cross ETH short at 5x, 125% of equity (limit 100%)
    dict(acct="ACC-1008", symbol="ETHUSDT", venue="okx", side="short", lev=5, margin=0.25, mode="cross",
         stop=0.018, strategy="discretionary", expect={"max-exposure"}),

    # --- leverage-by-volatility ---------------------------------------------------------------
    # conservative: SOL (high tier, cap 1.5x) at 3x
    dict(acct="ACC-1001", symbol="SOLUSDT", venue="bybit", side="long", lev=3, margin=0.008, stop=0.07,
         strategy="trend", expect={"leverage-by-volatility"}),
    # conservative, near: ETH (medium, cap 2.5x) at exactly 2.5x is within the cap but in the band
    dict(acct="ACC-1002", symbol="ETHUSDT", venue="binance", side="short", lev=2.5, margin=0.008, stop=0.05,
         strategy="discretionary", expect={"leverage-by-volatility:near"}),
    # moderate: PEPE (extreme, cap 2x) at 5x; at 5x its liquidation is also inside 3 daily sigmas
    dict(acct="ACC-1006", symbol="PEPEUSDT", venue="binance", side="long", lev=5, margin=0.006, stop=0.10,
         strategy="discretionary", expect={"leverage-by-volatility", "liquidation-buffer"}),
    # moderate, near: SOL (high, cap 3x) at 3x
    dict(acct="ACC-1004", symbol="SOLUSDT", venue="binance", side="short", lev=3, margin=0.012, stop=0.06,
         strategy="trend", expect={"leverage-by-volatility:near"}),
    # aggressive: WIF (extreme, cap 3x) at 8x; liquidation 11% away against 3 sigma = 28%
    dict(acct="ACC-1008", symbol="WIFUSDT", venue="binance", side="long", lev=8, margin=0.015, stop=0.08,
         strategy="discretionary", expect={"leverage-by-volatility", "liquidation-buffer"}),
    # unknown volatility (HYPE has none in market.json): the strictest tier caps a moderate account
    # at 2x, so 3x is a breach; the liquidation buffer cannot be verified, a breach too
    dict(acct="ACC-1004", symbol="HYPEUSDT", venue="bybit", side="long", lev=3, margin=0.01, stop=0.12,
         strategy="discretionary", expect={"leverage-by-volatility", "liquidation-buffer"}),

    # --- stop-loss ---------------------------------------------------------------------------
    # missing: besides the RNG's ~20%, a conservative 4x BTC long without a stop
    dict(acct="ACC-1003", symbol="BTCUSDT", venue="bybit", side="long", lev=4, margin=0.012, stop=None,
         strategy="trend", expect={"stop-loss/missing"}),
    # misplaced, wrong side: a long whose stop (2% above the mark) was left behind as price fell
    dict(acct="ACC-1002", symbol="LINKUSDT", venue="binance", side="long", lev=1, margin=0.01, move=-0.05,
         stop=-0.02, strategy="trend", expect={"stop-loss/misplaced"}),
    # misplaced, wrong side: a short with its stop below the mark
    dict(acct="ACC-1006", symbol="LTCUSDT", venue="okx", side="short", lev=3, margin=0.012, move=0.03,
         stop=-0.015, strategy="carry", expect={"stop-loss/misplaced"}),
    # misplaced, beyond liquidation: aggressive 10x BTC long, stop 1.5% below the liquidation price
    dict(acct="ACC-1007", symbol="BTCUSDT", venue="binance", side="long", lev=10, margin=0.02, move=0.01,
         stop_beyond_liq=0.015, strategy="trend", expect={"stop-loss/misplaced"}),
    # misplaced, beyond liquidation (the venue's liquidation price is in the file): moderate ETH short
    dict(acct="ACC-1004", symbol="ETHUSDT", venue="binance", side="short", lev=4, margin=0.012, venue_lp=True,
         stop_beyond_liq=0.01, strategy="basis", expect={"stop-loss/misplaced"}),
    # risk per trade: a conservative BTC long whose stop 20% away would lose 1.2% of equity (limit 1%)
    dict(acct="ACC-1001", symbol="BTCUSDT", venue="okx", side="long", lev=4, margin=0.015, stop=0.20,
         strategy="discretionary", expect={"stop-loss/risk_per_trade"}),
    # risk per trade, near: a conservative short losing 0.9% of equity at its stop (band 0.8% .. 1%)
    dict(acct="ACC-1003", symbol="BNBUSDT", venue="okx", side="short", lev=4, margin=0.0125, stop=0.18,
         strategy="carry", expect={"stop-loss/risk_per_trade:near"}),
    # risk per trade: a moderate ETH long with a 16% stop on 14% of equity -> 2.2% (limit 2%)
    dict(acct="ACC-1004", symbol="ETHUSDT", venue="bybit", side="long", lev=4, margin=0.035, stop=0.16,
         strategy="discretionary", expect={"stop-loss/risk_per_trade"}),
    # risk per trade: aggressive cross BNB long, 90% of equity, stop 4% away -> 3.6% (limit 3%)
    dict(acct="ACC-1007", symbol="BNBUSDT", venue="bybit", side="long", lev=6, margin=0.15, mode="cross",
         stop=0.04, strategy="trend", expect={"stop-loss/risk_per_trade"}),
    # risk per trade, near: aggressive AVAX short losing 2.7% at the stop (band 2.4% .. 3%)
    dict(acct="ACC-1008", symbol="AVAXUSDT", venue="okx", side="short", lev=3, margin=0.06, stop=0.15,
         strategy="discretionary", expect={"stop-loss/risk_per_trade:near"}),

    # --- liquidation-buffer --------------------------------------------------------------------
    # aggressive 15x BTC long: within the 20x cap of the low tier, but liquidation 5.9% away is inside
    # 3 daily sigmas (7.1%): the policy's leverage cap is looser than its buffer
    dict(acct="ACC-1007", symbol="BTCUSDT", venue="bybit", side="long", lev=15, margin=0.03, move=-0.004,
         stop=0.025, strategy="trend", expect={"liquidation-buffer"}),
    # moderate 9x BTC long, mark 2.5% under entry: liquidation 8.4% away, near (band 7.1% .. 8.8%)
    dict(acct="ACC-1006", symbol="BTCUSDT", venue="okx", side="long", lev=9, margin=0.02, move=-0.025,
         stop=0.03, strategy="trend", expect={"liquidation-buffer:near"}),
    # aggressive 8x ETH short, venue-reported liquidation price, mark 3% above entry: inside 3 sigma
    dict(acct="ACC-1008", symbol="ETHUSDT", venue="binance", side="short", lev=8, margin=0.02, move=-0.03,
         venue_lp=True, stop=0.025, strategy="discretionary", expect={"liquidation-buffer"}),
    # conservative 4x TRX long with a volatility override of 0.95 from the desk: the override
    # moves it from the low tier (cap 5x) to high (cap 1.5x), and with the mark 1.5% under entry its
    # liquidation 23.6% away is in the near band of 4 sigma = 19.9% (up to 24.9%)
    dict(acct="ACC-1001", symbol="TRXUSDT", venue="binance", side="long", lev=4, margin=0.006, vol=0.95,
         move=-0.015, stop=0.05, strategy="carry",
         expect={"leverage-by-volatility", "liquidation-buffer:near"}),
    # unknown volatility (ENA): an aggressive 2x long is within the strictest cap (3x) but its
    # liquidation buffer cannot be verified
    dict(acct="ACC-1007", symbol="ENAUSDT", venue="okx", side="long", lev=2, margin=0.02, stop=0.08,
         strategy="discretionary", expect={"liquidation-buffer"}),
    # unknown volatility with a per-position override (HYPE at 1.3): clean, shows the override
    dict(acct="ACC-1007", symbol="HYPEUSDT", venue="binance", side="short", lev=2, margin=0.025, vol=1.30,
         stop=0.06, strategy="discretionary", expect=set()),

    # --- isolated-only-conservative -------------------------------------------------------------
    dict(acct="ACC-1002", symbol="SOLUSDT", venue="okx", side="long", lev=1, margin=0.04, mode="cross",
         stop=0.08, strategy="carry", expect={"isolated-only-conservative"}),
    # Hollis Family Office keeps three large positions on cross margin (a legacy sub-account): besides
    # three isolated-only findings, they take the account's gross exposure over 2x
    dict(acct="ACC-1003", symbol="BTCUSDT", venue="okx", side="long", lev=2, margin=0.122, mode="cross",
         stop=0.03, strategy="basis", expect={"isolated-only-conservative"}),
    dict(acct="ACC-1003", symbol="ETHUSDT", venue="okx", side="long", lev=2, margin=0.12, mode="cross",
         stop=0.025, strategy="basis", expect={"isolated-only-conservative"}),
    dict(acct="ACC-1003", symbol="XRPUSDT", venue="okx", side="short", lev=2, margin=0.118, mode="cross",
         stop=0.03, strategy="carry", expect={"isolated-only-conservative"}),
)


# ---------------------------------------------------------------------------------------------
# Formulas (DOMAIN.md), as the engine applies them (policy_engine/metrics.py)
# ---------------------------------------------------------------------------------------------

def binance_lp(side: str, q: float, ep: float, margin: float, mmr: float, cum: float) -> float:
    if side == "long":
        return (q * ep - margin - cum) / (q * (1 - mmr))
    return (q * ep + margin + cum) / (q * (1 + mmr))


def bybit_lp(side: str, q: float, ep: float, margin: float, mmr: float, cum: float) -> float:
    mm = q * ep * mmr - cum
    return ep - (margin - mm) / q if side == "long" else ep + (margin - mm) / q


def pick_bracket(table: list[dict], side: str, q: float, ep: float, margin: float) -> tuple[float, float]:
    """Binance picks (mmr, cum) from the bracket of the notional AT the liquidation price."""
    for k, b in enumerate(table):
        lp = binance_lp(side, q, ep, margin, b["maintenanceMarginRate"], b["maintenanceAmount"])
        at = q * lp
        if (at >= b["minNotional"] or k == 0) and at < b["maxNotional"]:
            return b["maintenanceMarginRate"], float(b["maintenanceAmount"])
    return 0.005, 0.0  # the engine's default


def tier_of(vol: float | None) -> str | None:
    if vol is None:
        return None
    for name, below in TIERS:
        if below is None or vol < below:
            return name
    raise AssertionError


def lev_cap(vol: float | None, profile: str) -> float:
    tier = tier_of(vol)
    if tier is None:  # unknown volatility: the strictest tier
        return min(LEV_CAP[t][profile] for t, _ in TIERS)
    return LEV_CAP[tier][profile]


# ---------------------------------------------------------------------------------------------
# Number formatting: plain decimals (no exponent), rounded to a sensible tick
# ---------------------------------------------------------------------------------------------

def sig_round(x: float, digits: int) -> float:
    if x == 0:
        return 0.0
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


def fmt(x: float | int | None) -> str:
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    text = format(Decimal(repr(x)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def price_round(x: float) -> float:
    return sig_round(x, 6)


def qty_round(x: float) -> float:
    return sig_round(x, 4)


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------

class Rng:
    """The few draws we need, on random.Random.random() only (stable across Python versions)."""

    def __init__(self, seed: int) -> None:
        self._r = random.Random(seed)

    def u(self, a: float, b: float) -> float:
        return a + (b - a) * self._r.random()

    def chance(self, p: float) -> bool:
        return self._r.random() < p

    def pick(self, items):  # type: ignore[no-untyped-def]
        items = list(items)
        return items[min(int(self._r.random() * len(items)), len(items) - 1)]

    def weighted(self, pairs):  # type: ignore[no-untyped-def]
        total = sum(w for _, w in pairs)
        x = self._r.random() * total
        for item, w in pairs:
            x -= w
            if x < 0:
                return item
        return pairs[-1][0]


def marks(rng: Rng) -> dict[tuple[str, str], float]:
    """One mark price per symbol and venue (the venues' index prices differ by a few basis points)."""
    out = {}
    for sym, (ref, *_rest) in SYMBOLS.items():
        for v in VENUES:
            out[(sym, v)] = price_round(ref * (1 + rng.u(-0.0004, 0.0004)))
    return out


def build_position(spec: dict, account: dict, mark: float, tables: dict) -> dict:
    """A position from a spec (plant or drawn): sizes, margin, liquidation and stop prices."""
    sym = spec["symbol"]
    _ref, mkt_vol, sector, table_name = SYMBOLS[sym]
    equity = account["equity"]
    side = spec["side"]
    lev = spec["lev"]
    mode = spec.get("mode", "isolated")
    move = spec.get("move", 0.0)
    # move > 0 is in the position's favour: a long's mark above its entry, a short's below
    ep = price_round(mark / (1 + move) if side == "long" else mark / (1 - move))
    q = qty_round(spec["margin"] * equity * lev / ep)
    initial = q * ep / lev
    isolated = None
    if mode == "isolated":
        isolated = round(initial * (1 + spec.get("topup", 0.0)), 2)
    margin = isolated if isolated is not None else initial
    table = tables[table_name]
    mmr, cum = pick_bracket(table, side, q, ep, margin)
    lp = binance_lp(side, q, ep, margin, mmr, cum)
    lp_value = lp if lp > 0 else None
    venue_lp = price_round(lp) if (spec.get("venue_lp") and lp_value is not None) else None
    lp_used = venue_lp if venue_lp is not None else lp_value

    stop = None
    if spec.get("stop_beyond_liq") is not None:
        assert lp_used is not None
        f = spec["stop_beyond_liq"]
        stop = price_round(lp_used * (1 - f) if side == "long" else lp_used * (1 + f))
    elif spec.get("stop") is not None:
        d = spec["stop"]
        stop = price_round(mark * (1 - d) if side == "long" else mark * (1 + d))
    tp = None
    if spec.get("tp") is not None:
        t = spec["tp"]
        tp = price_round(mark * (1 + t) if side == "long" else mark * (1 - t))

    return {
        "position_id": "",
        "account_id": account["account_id"],
        "symbol": sym,
        "side": side,
        "quantity": q,
        "entry_price": ep,
        "mark_price": mark,
        "leverage": lev,
        "margin_mode": mode,
        "isolated_margin": isolated,
        "maintenance_margin_rate": mmr if spec.get("fill_mmr") else None,
        "maintenance_amount": cum if spec.get("fill_mmr") else None,
        "liquidation_price": venue_lp,
        "stop_loss_price": stop,
        "take_profit_price": tp,
        "volatility": spec.get("vol"),
        "venue": spec["venue"],
        "asset_class": "crypto",
        "sector": sector,
        "strategy": spec["strategy"],
        # not written; for _evaluate
        "_margin": margin,
        "_lp": lp_used,
        "_vol": spec.get("vol") if spec.get("vol") is not None else mkt_vol,
    }


def _evaluate(p: dict, account: dict) -> set[str]:
    """The findings of the default pack on one position (mirrors policy_engine/rules/*.py).

    Returns "rule" for a breach, "rule:near" for a near-limit warning ("stop-loss/<check>" for the
    stop-loss rule's three checks); a clean position gives the empty set. Account-wide rules (gross
    leverage) are checked in generate().
    """
    out: set[str] = set()
    profile, equity = account["risk_profile"], account["equity"]
    q, mp, side, lev = p["quantity"], p["mark_price"], p["side"], p["leverage"]
    margin, lp, vol, stop = p["_margin"], p["_lp"], p["_vol"], p["stop_loss_price"]
    isolated = p["margin_mode"] == "isolated"

    def at_most(rule: str, observed: float, limit: float, warn: float | None) -> None:
        if observed > limit:
            out.add(rule)
        elif warn is not None and observed > limit * warn:
            out.add(rule + ":near")

    if isolated:
        at_most("max-allocation", margin / equity, ALLOC[profile], WARN)
    at_most("max-exposure", q * mp / equity, EXPOSURE[profile], None)
    at_most("leverage-by-volatility", lev, lev_cap(vol, profile), WARN_LEV)
    if lev > 1 and stop is None:
        out.add("stop-loss/missing")
    if stop is not None:
        wrong = stop >= mp if side == "long" else stop <= mp
        beyond = lp is not None and (stop <= lp if side == "long" else stop >= lp)
        if wrong or beyond:
            out.add("stop-loss/misplaced")
        at_most("stop-loss/risk_per_trade", q * abs(mp - stop) / equity, MAX_RISK[profile], WARN)
    if isolated and lp is not None:
        if vol is None:
            out.add("liquidation-buffer")
        else:
            d = (mp - lp) / mp if side == "long" else (lp - mp) / mp
            need = BUFFER_K[profile] * vol * math.sqrt(1 / DAYS)
            if d < need:
                out.add("liquidation-buffer")
            elif d < need / WARN:
                out.add("liquidation-buffer:near")
    if profile == "conservative" and not isolated:
        out.add("isolated-only-conservative")
    return out


def _comfortably_clean(p: dict, account: dict, max_lev: int) -> bool:
    """Clean with a safety margin: every observed value at most SAFETY x the near-limit threshold."""
    profile, equity = account["risk_profile"], account["equity"]
    q, mp, side, lev = p["quantity"], p["mark_price"], p["side"], p["leverage"]
    margin, lp, vol, stop = p["_margin"], p["_lp"], p["_vol"], p["stop_loss_price"]
    s = SAFETY
    if p["leverage"] > max_lev:
        return False
    if p["margin_mode"] == "isolated" and margin / equity > ALLOC[profile] * WARN * s:
        return False
    if q * mp / equity > EXPOSURE[profile] * s:
        return False
    if vol is None or (lev > 1 and lev > lev_cap(vol, profile) * WARN_LEV * s):
        return False
    if lev == 1 and lev_cap(vol, profile) * WARN_LEV < 1:
        return False
    if stop is not None:
        if (stop >= mp) if side == "long" else (stop <= mp):
            return False
        if lp is not None:
            # the stop fires well before liquidation: at most 60% of the way there
            if abs(mp - stop) > 0.6 * abs(mp - lp):
                return False
        if q * abs(mp - stop) / equity > MAX_RISK[profile] * WARN * s:
            return False
    if p["margin_mode"] == "isolated" and lp is not None:
        d = (mp - lp) / mp if side == "long" else (lp - mp) / mp
        if d * s < BUFFER_K[profile] * vol * math.sqrt(1 / DAYS) / WARN:
            return False
    return True


# Leverage choices for drawn positions, per profile and tier (integers, as venues set them).
LEV_CHOICES = {
    "conservative": {"low": (1, 2, 2, 3, 3, 4), "medium": (1, 2, 2), "high": (1,), "extreme": ()},
    "moderate": {"low": (2, 3, 3, 4, 5, 5, 6, 8), "medium": (1, 2, 3, 3, 4), "high": (1, 2, 2),
                 "extreme": (1,)},
    "aggressive": {"low": (3, 5, 5, 6, 8), "medium": (3, 4, 5, 6), "high": (2, 3, 3, 4),
                   "extreme": (1, 2, 2)},
}
# Symbol weights per profile tier: conservative books stay in the large caps.
TIER_WEIGHT = {
    "conservative": {"low": 5, "medium": 4, "high": 1.2, "extreme": 0},
    "moderate": {"low": 4, "medium": 4, "high": 2.5, "extreme": 0.6},
    "aggressive": {"low": 3, "medium": 3, "high": 3, "extreme": 1.5},
}
# The fully deployed books (GROSS_BREACH) lean on the calm large caps, where leverage is allowed.
HEAVY_TIER_WEIGHT = {"low": 6, "medium": 5, "high": 0.5, "extreme": 0}
STRATEGIES = {
    "conservative": (("trend", 3), ("carry", 3), ("basis", 3), ("discretionary", 1)),
    "moderate": (("trend", 4), ("carry", 2), ("basis", 2), ("discretionary", 2)),
    "aggressive": (("trend", 4), ("carry", 1), ("basis", 1), ("discretionary", 4)),
}
NO_STOP_RATE = 0.22  # share of drawn leveraged positions left without a stop-loss
FUSE = 5000


def draw_position(rng: Rng, account: dict, lo_hi: tuple[float, float], used: set, marks_: dict,
                  tables: dict) -> dict:
    profile = account["risk_profile"]
    heavy = account["account_id"] in GROSS_BREACH
    for _ in range(FUSE):
        weights = HEAVY_TIER_WEIGHT if heavy else TIER_WEIGHT[profile]
        candidates = [
            (s, weights[tier_of(v[1])])
            for s, v in SYMBOLS.items() if v[1] is not None and weights[tier_of(v[1])] > 0
        ]
        sym = rng.weighted(candidates)
        venue = rng.weighted((("binance", 5), ("bybit", 3), ("okx", 2)))
        if (sym, venue) in used:
            continue
        tier = tier_of(SYMBOLS[sym][1])
        choices = LEV_CHOICES[profile][tier]
        lev = max(choices) if heavy and rng.chance(0.85) else rng.pick(choices)
        side = "long" if rng.chance(0.64) else "short"
        mode = "isolated"
        if profile != "conservative" and rng.chance(0.08):
            mode = "cross"
        margin = rng.u(*lo_hi)
        if lev == 1 and not heavy:  # an unlevered position ties up its whole notional: keep it small
            margin = rng.u(lo_hi[0], (lo_hi[0] + lo_hi[1]) / 2)
        strategy = rng.weighted(STRATEGIES[profile])
        sigma_d = SYMBOLS[sym][1] / math.sqrt(DAYS)
        spec = {
            "symbol": sym, "venue": venue, "side": side, "lev": lev, "margin": margin, "mode": mode,
            "move": rng.u(-0.045, 0.06), "strategy": strategy,
            "topup": rng.u(0.1, 0.5) if mode == "isolated" and rng.chance(0.12) else 0.0,
            "stop": sigma_d * rng.u(1.2, 3.5),
            "fill_mmr": rng.chance(0.03),
            "venue_lp": venue == "binance" and mode == "isolated" and rng.chance(0.33),
        }
        if spec["topup"] and margin * (1 + spec["topup"]) > lo_hi[1]:
            spec["topup"] = 0.0
        if lev == 1 and rng.chance(0.5):
            spec["stop"] = None
        elif lev > 1 and rng.chance(NO_STOP_RATE):
            spec["stop"] = None
            spec["no_stop"] = True
        spec["tp"] = None if (spec["stop"] is None or rng.chance(0.3)) else spec["stop"] * rng.u(1.5, 3.0)
        if rng.chance(0.015):
            spec["vol"] = round(SYMBOLS[sym][1] * rng.u(0.85, 1.1), 2)  # the desk's own estimate
        pos = build_position(spec, account, marks_[(sym, venue)], tables)
        pos["_spec"] = spec
        max_lev = _bracket_max_lev(tables[SYMBOLS[sym][3]], pos["quantity"] * pos["entry_price"])
        if not _comfortably_clean(pos, account, max_lev):
            continue
        used.add((sym, venue))
        return pos
    raise RuntimeError(f"could not draw a clean position for {account['account_id']}")


def _bracket_max_lev(table: list[dict], notional: float) -> int:
    for b in table:
        if b["minNotional"] <= notional < b["maxNotional"]:
            return b["maxLeverage"]
    return 1


def generate() -> dict[str, str]:
    """Every output file's text, by relative path."""
    rng = Rng(SEED)
    tables = {name: bracket_table(name) for name in BRACKETS}
    marks_ = marks(rng)
    accounts = [
        {"account_id": a, "client_name": n, "risk_profile": rp, "equity": eq, "advisor": adv,
         "currency": "USDT", "_n": n_pos, "_margin": rng_}
        for a, n, rp, eq, adv, n_pos, rng_ in ACCOUNTS
    ]
    by_id = {a["account_id"]: a for a in accounts}

    positions: list[dict] = []
    for acct in accounts:
        plants = [p for p in PLANTS if p["acct"] == acct["account_id"]]
        used = {(p["symbol"], p["venue"]) for p in plants}
        book: list[dict] = []
        for spec in plants:
            spec = dict(spec)
            spec.setdefault("tp", None)
            spec.setdefault("move", round(rng.u(-0.012, 0.018), 4))  # entry a little off the mark
            if spec.get("stop") is not None and spec["stop"] > 0:
                spec["tp"] = 2 * spec["stop"]
            pos = build_position(spec, acct, marks_[(spec["symbol"], spec["venue"])], tables)
            pos["_spec"] = spec
            got = _evaluate(pos, acct)
            if got != spec["expect"]:
                raise AssertionError(f"plant {spec} gives {sorted(got)}, expected {sorted(spec['expect'])}")
            book.append(pos)
        target = GROSS[acct["risk_profile"]] * 1.06 if acct["account_id"] in GROSS_BREACH else None
        while len(book) < acct["_n"]:
            book.append(draw_position(rng, acct, acct["_margin"], used, marks_, tables))
            # a fully deployed book stops growing once it is clearly over its gross limit
            gross = sum(p["quantity"] * p["mark_price"] for p in book)
            if target is not None and gross > target * acct["equity"]:
                break
        book.sort(key=lambda p: (p["venue"], p["symbol"]))
        num = int(acct["account_id"].split("-")[1])
        for i, pos in enumerate(book, start=1):
            pos["position_id"] = f"P{num}-{i:02d}"
        positions.extend(book)

    # the account-level plants: gross leverage over the limit exactly where intended
    for acct in accounts:
        gross = sum(p["quantity"] * p["mark_price"]
                    for p in positions if p["account_id"] == acct["account_id"])
        lev = gross / acct["equity"]
        limit = GROSS.get(acct["risk_profile"])
        if limit is None:
            continue
        if acct["account_id"] in GROSS_BREACH:
            assert lev > limit * 1.02, (acct["account_id"], lev)
        else:
            assert lev < limit * 0.9, (acct["account_id"], lev)

    files = {
        "positions.csv": _csv(POSITION_FIELDS, positions),
        "accounts.csv": _csv(ACCOUNT_FIELDS, accounts),
        "market.json": _market_json(tables),
    }
    files.update(worked_examples())
    _check_drawn(positions, by_id)
    return files


def _check_drawn(positions: list[dict], by_id: dict) -> None:
    """Drawn positions produce no finding but a missing stop (and then only that one)."""
    for p in positions:
        spec = p["_spec"]
        if "expect" in spec:
            continue
        got = _evaluate(p, by_id[p["account_id"]])
        want = {"stop-loss/missing"} if spec.get("no_stop") else set()
        assert got == want, (p["position_id"], got, want)


POSITION_FIELDS = (
    "position_id", "account_id", "symbol", "side", "quantity", "entry_price", "mark_price", "leverage",
    "margin_mode", "isolated_margin", "maintenance_margin_rate", "maintenance_amount", "liquidation_price",
    "stop_loss_price", "take_profit_price", "volatility", "venue", "asset_class", "sector", "strategy",
)
ACCOUNT_FIELDS = ("account_id", "client_name", "risk_profile", "equity", "advisor", "currency")


def _csv(fields: tuple[str, ...], rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for r in rows:
        w.writerow([fmt(r[f]) if not isinstance(r[f], str) else r[f] for f in fields])
    return buf.getvalue()


def _market_json(tables: dict) -> str:
    doc = {
        "volatility": {s: v[1] for s, v in SYMBOLS.items() if v[1] is not None},
        "brackets": {s: tables[v[3]] for s, v in SYMBOLS.items()},
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Worked examples (DOMAIN.md "Worked examples"): mark = entry, the rates given on each row
# ---------------------------------------------------------------------------------------------

def worked_examples() -> dict[str, str]:
    common = {"mark_price": None, "take_profit_price": None, "stop_loss_price": None,
              "liquidation_price": None, "volatility": None, "asset_class": "crypto",
              "margin_mode": "isolated"}
    binance = [
        # (a) Binance FAQ: ETHUSDT long 3,683.979 @ 1,456.84, M 1,535,443.01, mmr 10%, cum 135,365 -> 1,114.78
        dict(common, position_id="WX-A", account_id="WX-FAQ", symbol="ETHUSDT", side="long",
             quantity=3683.979, entry_price=1456.84, leverage=None, isolated_margin=1535443.01,
             maintenance_margin_rate=0.1, maintenance_amount=135365, venue="binance", sector="layer1",
             strategy="discretionary"),
        # (b) same FAQ: BTCUSDT long 109.488 @ 32,481.98, M 1,535,443.01, mmr 2.5%, cum 16,300 -> 18,778.73
        dict(common, position_id="WX-B", account_id="WX-FAQ", symbol="BTCUSDT", side="long", quantity=109.488,
             entry_price=32481.98, leverage=None, isolated_margin=1535443.01, maintenance_margin_rate=0.025,
             maintenance_amount=16300, venue="binance", sector="layer1", strategy="discretionary"),
        # (d) $500 isolated at 5x (2,500 notional), mmr 0.5%: LP = EP * 0.8 / 0.995, a 19.598% fall
        dict(common, position_id="WX-D", account_id="WX-500", symbol="ETHUSDT", side="long", quantity=1,
             entry_price=2500, leverage=5, isolated_margin=500, maintenance_margin_rate=0.005,
             maintenance_amount=0, venue="binance", sector="layer1", strategy="discretionary"),
    ]
    bybit = [
        # (c) Bybit help centre, Example 1: long 1 BTC @ 20,000, 50x, mmr 0.5% -> 19,700 (Bybit model)
        dict(common, position_id="WX-C", account_id="WX-BYBIT", symbol="BTCUSDT", side="long", quantity=1,
             entry_price=20000, leverage=50, isolated_margin=400, maintenance_margin_rate=0.005,
             maintenance_amount=0, venue="bybit", sector="layer1", strategy="discretionary"),
    ]
    for rows in (binance, bybit):
        for r in rows:
            r["mark_price"] = r["entry_price"]
    accounts = [
        {"account_id": "WX-FAQ", "client_name": "Binance FAQ example", "risk_profile": "aggressive",
         "equity": 10_000_000, "advisor": "", "currency": "USDT"},
        {"account_id": "WX-500", "client_name": "500 USDT at 5x example", "risk_profile": "aggressive",
         "equity": 10_000, "advisor": "", "currency": "USDT"},
        {"account_id": "WX-BYBIT", "client_name": "Bybit help centre example 1", "risk_profile": "aggressive",
         "equity": 10_000, "advisor": "", "currency": "USDT"},
    ]
    return {
        "worked_examples/binance_positions.csv": _csv(POSITION_FIELDS, binance),
        "worked_examples/bybit_positions.csv": _csv(POSITION_FIELDS, bybit),
        "worked_examples/accounts.csv": _csv(ACCOUNT_FIELDS, accounts),
    }


def write(out: Path) -> list[Path]:
    written = []
    for rel, text in generate().items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: samples/)")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
