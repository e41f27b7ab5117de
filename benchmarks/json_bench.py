#!/usr/bin/env python3
"""Benchmark the JSON findings array: the old writer (``DataFrame.write_json`` a slice of 250,000
rows at a time) against policy_engine.output.json_array (``struct.json_encode`` + ``write_csv``).

    python benchmarks/json_bench.py [--rows 1000000] [--runs 3] [--history] [--findings FILE.parquet]

Builds synthetic findings with the real public columns (FINDING_COLUMNS; ``--history`` adds the
columns of a run compared with the previous one), messages of 150-250 characters with a quote,
non-ASCII symbols, a few null positions and non-finite values; ``--findings`` takes a run's findings
instead (``api.check(...).findings.write_parquet(FILE)``). Each writer writes the array into a file
and into a sink that drops the bytes (the encoding alone), each run in a fresh process (the frame
read from a Parquet copy) so its peak memory is its own. Prints the best of the runs: wall and CPU
(user + system) seconds, MB/s of wall time, and the peak RSS above the frame. Not a test: the
figures are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policy_engine.evaluate import FINDING_COLUMNS
from policy_engine.output import json_array
from policy_engine.output.document import public_findings

OLD_SLICE = 250_000


def _pick(options: list[str | None], i: pl.Expr, step: int) -> pl.Expr:
    """One of ``options`` per row, cycling with ``step``."""
    return pl.lit(pl.Series(options, dtype=pl.String)).gather(i * step % len(options))


def findings(rows: int, history: bool) -> pl.DataFrame:
    """Findings shaped like a run's: ids, rule, symbol, severity, long messages, observed and limit."""
    i = pl.int_range(rows, dtype=pl.Int64)
    observed = (i * 7919 % 100_003).cast(pl.Float64) / 997 + 0.001
    frame = pl.select(
        (i * 2654435761 % (1 << 62)).cast(pl.String).str.zfill(16).alias("finding_id"),
        pl.lit("core-risk").alias("policy_id"),
        pl.lit("2.3.0").alias("policy_version"),
        _pick(["R1-leverage", "R2-concentration", "R3-stop-loss", "R4-liquidation"], i, 7).alias("rule_id"),
        _pick(["max_leverage", "weight", "stop_distance"], i, 5).alias("check"),
        _pick(["leverage_tiers", "max_allocation", "stop_loss"], i, 3).alias("kind"),
        _pick(["critical", "breach", "warning"], i, 11).alias("severity"),
        _pick(["breach", "near_limit"], i, 13).alias("status"),
        pl.format("ACC-{}", (i // 20).cast(pl.String).str.zfill(7)).alias("account_id"),
        pl.when(i % 50 == 0)
        .then(None)
        .otherwise(pl.format("P-{}", i.cast(pl.String).str.zfill(9)))
        .alias("position_id"),
        _pick(["BTCUSDT", "ETHUSDT", "SOLUSDT", "1000PEPEUSDT", "ÜBERUSDT"], i, 17).alias("symbol"),
        _pick(["leverage", "allocation", "risk"], i, 19).alias("metric"),
        pl.when(i % 1000 == 7).then(float("inf")).otherwise(observed).alias("observed"),
        ((i % 50) / 2 + 1.5).alias("limit"),
        (i % 6).alias("__tail"),
    )
    frame = frame.with_columns(
        pl.format(
            'Position {} in account {} on {}: the {} of {} at the mark price is above the "{}" limit {} set by rule {} of '
            "the core-risk policy{}",
            pl.col("position_id").fill_null("-"),
            "account_id",
            "symbol",
            "metric",
            pl.col("observed").round(4),
            "severity",
            "limit",
            "rule_id",
            pl.lit("; review it").repeat_by("__tail").list.join(""),
        ).alias("message"),
        pl.format(
            "Reduce {} below {} or add margin in {}; the runbook's section 4.2 describes the procedure",
            "metric",
            "limit",
            "account_id",
        ).alias("remediation"),
    )
    if history:
        frame = frame.with_columns(
            _pick(["new", "persisting"], i, 3).alias("change"),
            _pick(["new", "persisting"], i, 5).alias("history_change"),
            pl.lit("2024-05-01T00:00:00Z").alias("first_seen"),
            (i % 30).alias("age_days"),
            _pick(["chronic", "acute", None], i, 7).alias("breach_type"),
        )
    frame = frame.drop("__tail")
    return frame.select(*FINDING_COLUMNS, *(c for c in frame.columns if c not in FINDING_COLUMNS))


def old_writer(frame: pl.DataFrame, out: BinaryIO) -> None:
    """The writer before json_array: write_json of a slice at a time, brackets cut off."""
    if frame.height == 0:
        out.write(b"[]")
        return
    out.write(b"[")
    for offset in range(0, frame.height, OLD_SLICE):
        buf = io.BytesIO()
        frame.slice(offset, OLD_SLICE).write_json(buf)
        if offset:
            out.write(b",")
        with buf.getbuffer() as view:
            out.write(view[1:-1])
    out.write(b"]")


WRITERS: dict[str, Callable[[pl.DataFrame, BinaryIO], None]] = {
    "old: write_json by slice": old_writer,
    "new: json_array.write_array": json_array.write_array,
}


class _Digest:
    """A sink that keeps only the sha256 and the length of what is written."""

    def __init__(self) -> None:
        self.hash, self.size = hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


class _Drop(_Digest):
    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def _status_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process, KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _one(writer: str, dest: str, folder: str) -> tuple[float, float, int, int]:
    """One run in a fresh process: wall s, CPU s, bytes written, peak RSS above the frame (KiB)."""
    frame = pl.read_parquet(Path(folder) / "findings.parquet")
    Path("/proc/self/clear_refs").write_text("5")  # the peak from here on: not reading the Parquet
    frame_rss = _status_kib("VmRSS")
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if dest == "file":
        path = Path(folder) / "findings.json"
        with open(path, "wb") as fh:
            WRITERS[writer](frame, fh)
        size = path.stat().st_size
    else:
        sink = _Drop()
        WRITERS[writer](frame, cast(BinaryIO, sink))  # all the writers call is write()
        size = sink.size
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    return wall, cpu, size, _status_kib("VmHWM") - frame_rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--findings", type=Path, help="a findings table (Parquet) instead of synthetic ones")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--history", action="store_true", help="add the --history columns")
    args = ap.parse_args()
    if args.findings:  # e.g. a run's findings: the public columns, as the document writes them
        frame = public_findings(pl.read_parquet(args.findings))
    else:
        frame = findings(args.rows, args.history)
    digests = {}
    for name, write in WRITERS.items():
        sink = _Digest()
        write(frame, cast(BinaryIO, sink))
        digests[name] = sink.hash.hexdigest()
    same = len(set(digests.values())) == 1
    print(
        f"{frame.height:,} findings, {frame.width} columns, {os.cpu_count()} cores, Polars {pl.__version__}"
    )
    print(f"load average {os.getloadavg()[0]:.2f}; old and new output identical: {'yes' if same else 'NO'}")
    # spawned, not forked: Polars' thread pool does not survive a fork
    ctx = multiprocessing.get_context("spawn")
    results: dict[tuple[str, str], list[tuple[float, float, int, int]]] = {}
    with tempfile.TemporaryDirectory() as folder, ctx.Pool(1, maxtasksperchild=1) as pool:
        frame.write_parquet(Path(folder) / "findings.parquet")
        del frame
        for _ in range(args.runs):  # interleaved, so a busy spell on the machine hits both writers
            for dest in ("file", "drop"):
                for writer in WRITERS:
                    results.setdefault((writer, dest), []).append(pool.apply(_one, (writer, dest, folder)))
    print(f"best of {args.runs}; 'drop' discards the bytes (encoding only); RSS: peak above the frame")
    print(f"{'writer':30} {'into':5} {'wall s':>7} {'CPU s':>7} {'MB':>8} {'MB/s':>7} {'RSS MiB':>8}")
    for (writer, dest), runs in results.items():
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        size, rss = runs[0][2], max(r[3] for r in runs)
        print(
            f"{writer:30} {dest:5} {wall:7.2f} {cpu:7.2f} {size / 1e6:8.1f} {size / 1e6 / wall:7.0f} {rss / 1024:8.0f}"
        )
    for dest in ("file", "drop"):
        old, new = (min(r[0] for r in results[(w, dest)]) for w in WRITERS)
        old_cpu, new_cpu = (min(r[1] for r in results[(w, dest)]) for w in WRITERS)
        print(f"into {dest}: new is {old / new:.1f}x faster (wall), {old_cpu / new_cpu:.1f}x less CPU")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
