"""R1-R4 as a plain Python loop over the rows: what a script without a dataframe library does.

The rows come from Parquet through Polars (column lists zipped into tuples); everything else is
ordinary Python floats, with the same relative tolerance of 1e-9 on limit comparisons as the engine.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

REL_TOL = 1e-9
ALLOCATION = {"conservative": 0.02, "moderate": 0.05, "aggressive": 0.10}
RISK = {"conservative": 0.01, "moderate": 0.02, "aggressive": 0.03}
SQRT_DAY = math.sqrt(1 / 365)
COLUMNS = (
    "account_id",
    "position_id",
    "side",
    "quantity",
    "entry_price",
    "mark_price",
    "leverage",
    "margin_mode",
    "isolated_margin",
    "maintenance_margin_rate",
    "maintenance_amount",
    "stop_loss_price",
    "volatility",
)


def _above(x: float, limit: float) -> bool:
    return x - limit > abs(limit) * REL_TOL


def _tier_max(vol: float | None, conservative: bool) -> float:
    if vol is None or vol >= 1.2:
        cap = 2.0
    elif vol < 0.5:
        cap = 10.0
    elif vol < 0.8:
        cap = 5.0
    else:
        cap = 3.0
    return cap * 0.5 if conservative else cap


def evaluate(rows, accounts: dict) -> list[tuple[str, object]]:  # type: ignore[no-untyped-def]
    out: list[tuple[str, object]] = []
    for acc, pid, side, q, ep, mp, lev, mode, iso, mmr, cum, stop, vol in rows:
        equity, profile = accounts[acc]
        long = side == "long"
        margin = iso if iso is not None else q * ep / lev
        cum = 0.0 if cum is None else cum
        lp = (q * ep - margin - cum) / (q * (1 - mmr)) if long else (q * ep + margin + cum) / (q * (1 + mmr))
        if _above(margin / equity, ALLOCATION[profile]):
            out.append(("R1-max-allocation", pid))
        if _above(lev, _tier_max(vol, profile == "conservative")):
            out.append(("R2-leverage-tier", pid))
        if stop is None:
            if lev > 1:
                out.append(("R3-stop-missing", pid))
        else:
            misplaced = (stop >= mp or (lp > 0 and stop <= lp)) if long else (stop <= mp or stop >= lp)
            if misplaced:
                out.append(("R3-stop-misplaced", pid))
            if _above(q * abs(mp - stop) / equity, RISK[profile]):
                out.append(("R3-risk-per-trade", pid))
        if mode == "isolated" and vol is not None and not (long and lp <= 0):
            buffer = 3.0 * (vol * SQRT_DAY)
            if buffer - abs(mp - lp) / mp > abs(buffer) * REL_TOL:
                out.append(("R4-liquidation-buffer", pid))
    return out


def _load(positions: str | Path, accounts: str | Path):  # type: ignore[no-untyped-def]
    acc = pl.read_parquet(accounts, columns=["account_id", "equity", "risk_profile"])
    table = dict(
        zip(
            acc.get_column("account_id").to_list(),
            zip(acc.get_column("equity").to_list(), acc.get_column("risk_profile").to_list()),
        )
    )
    pos = pl.read_parquet(positions, columns=list(COLUMNS))
    return zip(*(pos.get_column(c).to_list() for c in COLUMNS)), table


def breaches(positions: str | Path, accounts: str | Path) -> set[tuple[str, str]]:
    rows, table = _load(positions, accounts)
    return {(rule, str(pid)) for rule, pid in evaluate(rows, table)}


def run(positions: str | Path, accounts: str | Path) -> int:
    rows, table = _load(positions, accounts)
    return len(evaluate(rows, table))
