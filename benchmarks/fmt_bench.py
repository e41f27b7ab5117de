#!/usr/bin/env python3
"""Number formatting (policy_engine.rules.fmt): each function on random floats, previous vs current.

    python benchmarks/fmt_bench.py [--rows 1000000] [--runs 3]

The previous implementation is the oracle kept in tests/test_fmt.py. Values are +-10**U(-6, 9) with 1% nulls,
a column of an in-memory LazyFrame, formatted in one select; best of --runs, wall and CPU (user + system of
this process; Polars uses every core, so CPU can exceed wall), the two implementations interleaved.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policy_engine.rules import fmt  # noqa: E402
from tests import test_fmt as previous  # noqa: E402

FUNCTIONS: list[tuple[str, Callable[[pl.Expr], pl.Expr], Callable[[pl.Expr], pl.Expr]]] = [
    ("number", fmt.number, previous.prev_number),
    ("percent", fmt.percent, previous.prev_percent),
    ("times", fmt.times, previous.prev_times),
    ("price", fmt.price, previous.prev_price),
    ("quantity", fmt.quantity, previous.prev_quantity),
    ("money", fmt.money, previous.prev_money),
]


def frame(rows: int) -> pl.LazyFrame:
    rng = np.random.default_rng(7)
    values = np.where(rng.random(rows) < 0.5, -1.0, 1.0) * 10 ** rng.uniform(-6, 9, rows)
    x = pl.Series("x", values).scatter(rng.choice(rows, rows // 100, replace=False), None)
    return pl.LazyFrame({"x": x, "currency": pl.repeat("USDT", rows, eager=True)})


def best(lf: pl.LazyFrame, expr: pl.Expr, runs: int) -> tuple[float, float]:
    """(wall, CPU) seconds: the minimum of each over `runs` collections."""
    walls, cpus = [], []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        lf.select(expr.alias("out")).collect()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    lf = frame(args.rows)
    lf = lf.collect().lazy()  # materialise the input once, outside the timings
    print(f"{args.rows:,} rows, best of {args.runs}; Polars {pl.__version__}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| function | previous wall ms | previous CPU ms | current wall ms | current CPU ms | x (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, new, old in FUNCTIONS:
        x = pl.col("x")
        old_wall, old_cpu = best(lf, old(x), args.runs)
        new_wall, new_cpu = best(lf, new(x), args.runs)
        ms = [f"{t * 1e3:.0f}" for t in (old_wall, old_cpu, new_wall, new_cpu)]
        print(f"| {name} | {' | '.join(ms)} | {old_cpu / new_cpu:.1f} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
