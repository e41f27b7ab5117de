"""Shared inputs of the report tests (no tests here): the tiny hostile book, the samples, a fixed clock."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from policy_engine import api

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "report"
SAMPLES = ROOT / "samples"
GOLDEN = ROOT / "tests" / "golden" / "report_sample.html"
EXAMPLE = ROOT / "reports" / "example.html"
NOW = dt.datetime(2025, 1, 17, 9, 30, tzinfo=dt.UTC)
SAMPLE_AS_OF = "2025-01-17T09:00:00Z"
# the tiny book's hostile payloads: each sets window.__xss if it ever runs
HOSTILE_CLIENT = '<img src=x onerror="window.__xss=1">'
HOSTILE_ADVISOR = "<script>window.__xss=2</script>"
HOSTILE_SYMBOL = "<svg onload=window.__xss=3>"
SAMPLE_HOSTILE = "<img src=x onerror=alert(1)>"


def tiny_result(**extra: object) -> api.RunResult:
    result = api.check(ROOT / "policies", TINY / "positions.csv", TINY / "accounts.csv", TINY / "market.json",
                       keep_positions=True, now=NOW)
    result.extra.update(extra)
    return result


def sample_result() -> api.RunResult:
    """The sample book with relative input paths (as the README's command records them)."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return api.check("policies", "samples/positions.csv", "samples/accounts.csv", "samples/market.json",
                         keep_positions=True, as_of=SAMPLE_AS_OF, now=NOW)
    finally:
        os.chdir(cwd)


def write_large_book(directory: Path, accounts: int = 200, per_account: int = 100) -> tuple[Path, Path, Path]:
    """A synthetic book where every position breaches five checks: 20,000 positions -> 100,000+ findings.

    Each position: notional 1,000,000+ at 50x on 100,000 of moderate equity, no stop:
    allocation 20% > 5%, exposure > 50%, 50x > the tier cap, no stop-loss, liquidation ~2% from the mark.
    """
    import json

    import polars as pl

    symbols = [f"SYN{k:02d}USDT" for k in range(20)]
    n = accounts * per_account
    acc_ids = [f"ACC-{i // per_account:04d}" for i in range(n)]
    pl.DataFrame({
        "position_id": [f"P{i:06d}" for i in range(n)],
        "account_id": acc_ids,
        "symbol": [symbols[i % len(symbols)] for i in range(n)],
        "side": ["long" if i % 2 else "short" for i in range(n)],
        "quantity": [10_000.0 + i % 997 for i in range(n)],
        "entry_price": [100.0] * n,
        "mark_price": [100.0 + (i % 7) / 10 for i in range(n)],
        "leverage": [50.0] * n,
        "margin_mode": ["isolated"] * n,
    }).write_csv(directory / "positions.csv")
    pl.DataFrame({
        "account_id": [f"ACC-{a:04d}" for a in range(accounts)],
        "client_name": [f"Client {a:04d}" if a % 50 else HOSTILE_CLIENT for a in range(accounts)],
        "risk_profile": ["moderate"] * accounts,
        "equity": [100_000.0] * accounts,
        "advisor": ["Synthetic Advisor"] * accounts,
        "currency": ["USDT"] * accounts,
    }).write_csv(directory / "accounts.csv")
    (directory / "market.json").write_text(json.dumps({"volatility": {s: 0.6 + k / 50 for k, s in enumerate(symbols)}}))
    return directory / "positions.csv", directory / "accounts.csv", directory / "market.json"


_LARGE: dict[str, object] = {}


def large_report(directory: Path) -> tuple[str, float, int]:
    """(html, seconds to render, findings) of the large book, computed once per test session."""
    import time

    from policy_engine.report import render_report

    if not _LARGE:
        positions, accounts, market = write_large_book(directory)
        result = api.check(ROOT / "policies", positions, accounts, market, keep_positions=True, now=NOW)
        start = time.perf_counter()
        html = render_report(result, NOW)
        _LARGE.update(html=html, seconds=time.perf_counter() - start, findings=result.findings.height)
    return str(_LARGE["html"]), float(_LARGE["seconds"]), int(_LARGE["findings"])  # type: ignore[arg-type]
