#!/usr/bin/env python3
"""Generate the R1-R4 benchmark book deterministically (seeded numpy), as Parquet.

    python benchmarks/generate.py 1e5 1e6            # benchmarks/data/n100000/{positions,accounts}.parquet
    python benchmarks/generate.py 1e8 --parts 10     # positions/ as a directory of 10 part files

The mix follows ../shared/benchmarks/REFERENCE_RULES.md: about 50 positions per account, 500 symbols
with Zipf-skewed popularity, volatility 0.2-2.0 per symbol (rounded to 0.01, so the band edges 0.5,
0.8 and 1.2 occur) and about 1% null per position, leverage 1-100x weighted low, about 45% isolated,
about 20% missing stops, a few percent misplaced stops (some exactly at the mark, some exactly at
the liquidation price), and a handful of allocations exactly at their limit (to exercise the
relative tolerance of 1e-9 with which the engine compares). Every position is alive: the mark is on
the safe side of its liquidation price (a position past it would have been liquidated; there the
engine's signed distance and the reference's |mark - LP| / mark would differ).

The same (seed, size, parts) always gives the same rows; every chunk of rows has its own seed (see
``positions``), so parts can be generated one at a time in bounded memory.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SEED = 20240530
N_SYMBOLS = 500
PER_ACCOUNT = 50
CHUNK = 2_000_000
PROFILES = np.array(["conservative", "moderate", "aggressive"])
ALLOC_LIMIT = np.array([0.02, 0.05, 0.10])
RISK_LIMIT = np.array([0.01, 0.02, 0.03])
LEVERAGES = np.array([1, 2, 3, 5, 10, 15, 20, 25, 50, 75, 100], dtype=np.float64)
LEV_WEIGHTS = np.array([30, 16, 14, 12, 10, 5, 5, 3, 2, 2, 1], dtype=np.float64)


def size_arg(text: str) -> int:
    return int(float(text))


def symbols(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Names, reference prices, annualised volatility and popularity of the symbols."""
    rng = np.random.default_rng(seed)
    names = np.array([f"S{i:03d}USDT" for i in range(N_SYMBOLS)])
    price = np.exp(rng.uniform(np.log(0.01), np.log(60_000), N_SYMBOLS)).round(6)
    vol = rng.uniform(0.2, 2.0, N_SYMBOLS).round(2)
    popularity = 1.0 / np.arange(1, N_SYMBOLS + 1) ** 1.1
    return names, price, vol, popularity / popularity.sum()


def accounts(n_accounts: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed + 10_000_019)
    return pl.DataFrame(
        {
            "account_id": np.arange(n_accounts, dtype=np.int64),
            "equity": np.exp(rng.normal(np.log(100_000), 1.0, n_accounts)).round(2),
            "risk_profile": PROFILES[rng.choice(3, n_accounts, p=[0.3, 0.45, 0.25])],
        }
    )


def binance_lp(
    long: np.ndarray, q: np.ndarray, ep: np.ndarray, m: np.ndarray, mmr: np.ndarray, cum: np.ndarray
) -> np.ndarray:
    """The engine's formula, in the engine's order of operations (bit-identical results)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(long, (q * ep - m - cum) / (q * (1 - mmr)), (q * ep + m + cum) / (q * (1 + mmr)))


def positions(
    start: int, n: int, n_accounts: int, equity: np.ndarray, profile: np.ndarray, seed: int
) -> pl.DataFrame:
    """Rows start .. start + n of the book, drawn from their own seed: seed + 1 + start // CHUNK for
    chunks on the CHUNK grid (a single file), (seed, start) for the others (chunks of part files)."""
    rng = np.random.default_rng(seed + 1 + start // CHUNK if start % CHUNK == 0 else [seed, start])
    names, ref_price, sym_vol, popularity = symbols(seed)
    sym = rng.choice(N_SYMBOLS, n, p=popularity)
    acc = rng.integers(0, n_accounts, n)
    eq, prof = equity[acc], profile[acc]
    long = rng.random(n) < 0.6
    lev = LEVERAGES[rng.choice(len(LEVERAGES), n, p=LEV_WEIGHTS / LEV_WEIGHTS.sum())]
    isolated = rng.random(n) < 0.45
    vol = sym_vol[sym].copy()
    vol[rng.random(n) < 0.01] = np.nan
    # most traders respect the volatility tier's cap (some sit exactly at it); about 1 in 7 do not
    cap = np.select([vol < 0.5, vol < 0.8, vol < 1.2], [10.0, 5.0, 3.0], 2.0) * np.where(prof == 0, 0.5, 1.0)
    lev = np.where(rng.random(n) < 0.85, np.minimum(lev, cap), lev)
    ep = (ref_price[sym] * np.exp(rng.normal(0, 0.03, n))).round(6)
    ep = np.maximum(ep, 1e-6)
    # margin / equity lognormal around 2%: R1 breaches on roughly one position in ten
    alloc = np.exp(rng.normal(np.log(0.012), 0.8, n))
    q = (alloc * eq * lev / ep).round(6)
    q = np.maximum(q, 1e-6)
    im = q * ep / lev
    iso_m = np.where(isolated, im * rng.uniform(1.0, 1.1, n), np.nan).round(2)
    iso_m[isolated & (rng.random(n) < 0.1)] = np.nan  # isolated without a reported margin
    tie = isolated & (rng.random(n) < 0.002)  # allocation exactly at the limit, on paper
    iso_m[tie] = (ALLOC_LIMIT[prof[tie]] * eq[tie]).round(4)  # exact on paper: equity has cents
    mmr = np.minimum(rng.choice([0.004, 0.005, 0.01, 0.025], n), 0.4 / lev)
    cum = np.where(rng.random(n) < 0.3, (q * ep * rng.uniform(0, 0.002, n)).round(2), 0.0)
    cum[rng.random(n) < 0.05] = np.nan  # unknown cum: 0
    margin = np.where(np.isnan(iso_m), q * ep / lev, iso_m)
    lp = binance_lp(long, q, ep, margin, mmr, np.nan_to_num(cum))
    move = np.exp(rng.normal(0, np.nan_to_num(vol, nan=1.0) * np.sqrt(30 / 365), n))
    mp = (ep * move).round(6)
    dead = np.where(long, mp <= lp, mp >= lp)  # keep every position alive: mark half way to LP
    mp[dead] = ((ep[dead] + lp[dead]) / 2).round(6)
    dead = np.where(long, mp <= lp, mp >= lp)
    mp[dead] = ep[dead]
    mp = np.maximum(mp, 1e-6)
    # stops: a protective fraction of the way from mark to liquidation (or 2-30% when none)
    room = np.where(lp > 0, np.abs(mp - lp) / mp, 1.0)
    frac = np.minimum(rng.uniform(0.1, 0.95, n) * room, 0.3)
    stop = np.where(long, mp * (1 - frac), mp * (1 + frac)).round(6)
    kind = rng.random(n)
    wrong = kind < 0.015  # wrong side of the mark
    stop[wrong] = np.where(long, mp * 1.02, mp * 0.98)[wrong].round(6)
    at_mark = (kind >= 0.015) & (kind < 0.02)
    stop[at_mark] = mp[at_mark]
    beyond = (kind >= 0.02) & (kind < 0.035) & (lp > 0)  # at or beyond liquidation
    stop[beyond] = np.where(long, lp * 0.99, lp * 1.01)[beyond].round(6)
    exact = (kind >= 0.035) & (kind < 0.04) & (lp > 0)
    stop[exact] = lp[exact]
    stop[rng.random(n) < 0.2] = np.nan
    stop[stop <= 0] = np.nan
    return pl.DataFrame(
        {
            "account_id": acc.astype(np.int64),
            "position_id": np.arange(start, start + n, dtype=np.int64),
            "symbol": names[sym],
            "side": np.where(long, "long", "short"),
            "quantity": q,
            "entry_price": ep,
            "mark_price": mp,
            "leverage": lev,
            "margin_mode": np.where(isolated, "isolated", "cross"),
            "isolated_margin": iso_m,
            "maintenance_margin_rate": mmr,
            "maintenance_amount": cum,
            "stop_loss_price": stop,
            "volatility": vol,
        },
        nan_to_null=True,
    )


def generate(size: int, out: Path, parts: int = 1, seed: int = SEED, chunk: int = CHUNK) -> Path:
    """Write out/accounts.parquet and out/positions.parquet (or out/positions/part-*.parquet)."""
    out.mkdir(parents=True, exist_ok=True)
    n_accounts = max(1, size // PER_ACCOUNT)
    acc = accounts(n_accounts, seed)
    acc.write_parquet(out / "accounts.parquet")
    equity = acc.get_column("equity").to_numpy()
    profile = acc.get_column("risk_profile").replace_strict(list(PROFILES), [0, 1, 2]).to_numpy()
    per_part = -(-size // parts)
    frames: list[pl.DataFrame] = []
    target = out / "positions.parquet" if parts == 1 else out / "positions"
    if parts > 1:
        target.mkdir(exist_ok=True)
    for part in range(parts):
        lo, hi = part * per_part, min(size, (part + 1) * per_part)
        chunks = [
            positions(s, min(chunk, hi - s), n_accounts, equity, profile, seed) for s in range(lo, hi, chunk)
        ]
        frame = pl.concat(chunks) if chunks else positions(0, 0, n_accounts, equity, profile, seed)
        if parts == 1:
            frames.append(frame)
        else:
            frame.write_parquet(target / f"part-{part:04d}.parquet")
    if parts == 1:
        pl.concat(frames).write_parquet(target)
    return out


def data_dir(size: int, parts: int = 1) -> Path:
    return DATA / (f"n{size}" if parts == 1 else f"n{size}-p{parts}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=size_arg, default=[100_000, 1_000_000])
    ap.add_argument("--parts", type=int, default=1, help="write positions as a directory of this many files")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, help="output directory (default: benchmarks/data/n<size>)")
    ap.add_argument("--force", action="store_true", help="regenerate even when the files exist")
    args = ap.parse_args(argv)
    for size in args.sizes:
        out = args.out or data_dir(size, args.parts)
        if (out / "accounts.parquet").exists() and not args.force:
            print(f"{out}: exists (--force to regenerate)", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        generate(size, out, args.parts, args.seed)
        print(f"{out}: {size:,} positions in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
