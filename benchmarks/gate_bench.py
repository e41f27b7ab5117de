#!/usr/bin/env python3
"""Benchmark the pre-trade gate: a 5,000-position book, 50 trades, the whole command timed.

    python benchmarks/gate_bench.py [--positions 5000] [--trades 50] [--runs 5] [--keep DIR]

Generates a synthetic book (100 accounts x 50 positions over the sample market's symbols, with the
sample market data: volatility and Binance-style brackets) and a trade list mixing every case
(increase, reduce, close, flip, open), then times ``python -m policy_engine gate ...`` with
subprocess, interpreter start-up included, and prints the median of the runs. Not a test: the
target (< 1 s on 2 cores) is recorded in docs/gate.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("conservative", "moderate", "aggressive")
VENUES = ("binance", "bybit", "okx")


def generate(out: Path, n_positions: int, n_trades: int, seed: int = 7) -> dict[str, Path]:
    rng = random.Random(seed)
    market = json.loads((ROOT / "samples" / "market.json").read_text())
    marks = {}
    with (ROOT / "samples" / "positions.csv").open() as fh:
        for row in csv.DictReader(fh):
            marks.setdefault(row["symbol"], float(row["mark_price"]))
    symbols = sorted(marks)
    per_account = 50
    accounts = [f"B-{i:04d}" for i in range(max(1, n_positions // per_account))]
    equity = {
        acc: (rng.choice([250_000, 1_000_000, 5_000_000]), PROFILES[i % 3]) for i, acc in enumerate(accounts)
    }
    with (out / "accounts.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["account_id", "equity", "risk_profile", "client_name"])
        for i, acc in enumerate(accounts):
            w.writerow([acc, equity[acc][0], equity[acc][1], f"Client {i}"])
    rows = []
    for i in range(n_positions):
        acc = accounts[i % len(accounts)]
        sym = symbols[(i // len(accounts)) % len(symbols)]
        venue = VENUES[(i // (len(accounts) * len(symbols))) % len(VENUES)]
        mark = marks[sym]
        eq, profile = equity[acc]
        # a mostly compliant book, as a real one is: leverage within the profile's cap for the symbol's
        # volatility tier, small allocations, a stop 2% away on nine positions in ten
        vol = market["volatility"].get(sym, 2.0)
        tier = 0 if vol < 0.5 else 1 if vol < 0.8 else 2 if vol < 1.2 else 3
        cap = {"conservative": (5, 2.5, 1.5, 1), "moderate": (10, 5, 3, 2), "aggressive": (20, 10, 5, 3)}[
            profile
        ][tier]
        lev = max(1, min(rng.choice([1, 2, 3]), int(cap * 0.8)))
        side = rng.choice(["long", "short"])
        qty = round(eq * rng.uniform(0.002, 0.012) / mark, 6)
        entry = round(mark * rng.uniform(0.99, 1.01), 8)
        stop = round(mark * (0.98 if side == "long" else 1.02), 8) if rng.random() < 0.9 else ""
        rows.append(
            [
                f"P{i:05d}",
                acc,
                sym,
                side,
                qty,
                entry,
                mark,
                lev,
                "isolated",
                round(qty * entry / lev, 2),
                stop,
                venue,
            ]
        )
    with (out / "positions.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "position_id",
                "account_id",
                "symbol",
                "side",
                "quantity",
                "entry_price",
                "mark_price",
                "leverage",
                "margin_mode",
                "isolated_margin",
                "stop_loss_price",
                "venue",
            ]
        )
        w.writerows(rows)
    trades = []
    for k, r in enumerate(rng.sample(rows, n_trades)):
        pid, acc, sym, side, qty = r[0], r[1], r[2], r[3], r[4]
        case = k % 5
        same, other = ("buy", "sell") if side == "long" else ("sell", "buy")
        if case == 0:
            trades.append([f"T{k}", acc, sym, same, round(qty * 0.5, 6), "", pid, "", ""])
        elif case == 1:
            trades.append([f"T{k}", acc, sym, other, round(qty * 0.4, 6), "", pid, "", ""])
        elif case == 2:
            trades.append([f"T{k}", acc, sym, other, qty, "", pid, "", ""])
        elif case == 3:
            trades.append([f"T{k}", acc, sym, other, round(qty * 1.5, 6), "", pid, "", ""])
        else:
            trades.append(
                [f"T{k}", acc, sym, rng.choice(["buy", "sell"]), round(qty * 0.3, 6), "", "", 2, "kraken"]
            )
    with (out / "trades.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "trade_id",
                "account_id",
                "symbol",
                "side",
                "quantity",
                "price",
                "position_id",
                "leverage",
                "venue",
            ]
        )
        w.writerows(trades)
    (out / "market.json").write_text(json.dumps(market))
    return {
        name: out / f"{name}.{'json' if name == 'market' else 'csv'}"
        for name in ("positions", "accounts", "market", "trades")
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=5000)
    ap.add_argument("--trades", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="write the generated files here and keep them")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp)
        out.mkdir(parents=True, exist_ok=True)
        files = generate(out, args.positions, args.trades)
        cmd = [
            sys.executable,
            "-m",
            "policy_engine",
            "gate",
            "--policies",
            str(ROOT / "policies"),
            "--positions",
            str(files["positions"]),
            "--accounts",
            str(files["accounts"]),
            "--market",
            str(files["market"]),
            str(files["trades"]),
            "--quiet",
        ]
        times, cpu, codes = [], [], set()
        for _ in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            codes.add(proc.returncode)
            if proc.returncode == 2:
                print(proc.stderr, file=sys.stderr)
                return 2
        print(
            f"gate: {args.positions:,} positions, {args.trades} trades, {args.runs} runs: "
            f"median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}); "
            f"CPU (user+sys) median {statistics.median(cpu):.3f} s; exit codes {sorted(codes)}; "
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
