#!/usr/bin/env python3
"""Start-up: `policy-engine --help` and a check of a 100-position book, wall time of the whole process.

    python benchmarks/startup.py [--runs 10]

(hyperfine is not assumed; this is a plain timing loop over fresh processes, median and min-max.)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import generate  # noqa: E402
from benchmarks.measure import check_command  # noqa: E402


def timed(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, capture_output=True, cwd=ROOT)  # warm the file cache once
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, cwd=ROOT)
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args(argv)
    exe = [sys.executable, "-m", "policy_engine"]
    with tempfile.TemporaryDirectory() as tmp:
        book = generate.generate(100, Path(tmp) / "book")
        check = check_command(book / "positions.parquet", book / "accounts.parquet", Path(tmp) / "f.json")
        rows = [
            ("policy-engine --help", timed([*exe, "--help"], args.runs)),
            ("policy-engine check, 100 positions (Parquet -> JSON)", timed(check, args.runs)),
        ]
    print("| command | median s | min-max s |\n|---|---:|---:|")
    for name, times in rows:
        print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f}-{max(times):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
