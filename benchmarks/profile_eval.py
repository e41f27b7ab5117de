#!/usr/bin/env python3
"""Where the engine's evaluation spends its time, part by part (best of N, CPU and wall seconds).

    python benchmarks/profile_eval.py 1e6 [--reps 3]

Parts: the compiled plan (every check's flags, and the breaching rows with observed value and
limit: what the hand-written query computes), each rule's message and remediation on its findings,
the finding ids, and the ordering.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import generate  # noqa: E402
from benchmarks.measure import PACK, compiled_plan  # noqa: E402
from benchmarks.peers import polars_query  # noqa: E402
from policy_engine import api, evaluate  # noqa: E402
from policy_engine.compile import compile_pack  # noqa: E402
from policy_engine.data import load_inputs  # noqa: E402
from policy_engine.policy import load_pack  # noqa: E402


def best(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    runs = []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.process_time() - c, time.perf_counter() - t))
    return min(runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size", type=generate.size_arg, nargs="?", default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    data = generate.data_dir(args.size)
    if not (data / "accounts.parquet").exists():
        generate.generate(args.size, data)
    pack = load_pack(PACK)
    inputs = load_inputs(data / "positions.parquet", data / "accounts.parquet")
    raw_p, raw_a = pl.read_parquet(data / "positions.parquet"), pl.read_parquet(data / "accounts.parquet")
    compiled = compile_pack(pack)
    base = api.base_frame(inputs, pack.settings, keep_order=False)

    def plan(checks: tuple) -> pl.LazyFrame:  # type: ignore[type-arg]
        return compiled_plan(base, checks)

    rows: list[tuple[str, tuple[float, float]]] = []
    rows.append(
        (
            "hand-written Polars query (in memory)",
            best(
                lambda: polars_query.query(raw_p.lazy(), raw_a.lazy()).collect(engine="in-memory"), args.reps
            ),
        )
    )
    rows.append(
        ("engine: compiled plan", best(lambda: plan(compiled).collect(engine="in-memory"), args.reps))
    )
    flags = evaluate._flag_frame(base, compiled).collect(engine="in-memory").lazy()
    context = [c for c in evaluate.CONTEXT_COLUMNS if c in base.collect_schema()]
    for i, c in enumerate(compiled):
        frame = evaluate._finding_frame(flags, c, i, context)
        rows.append(
            (
                f"  {c.rule.id}: message + remediation",
                best(
                    lambda f=frame: f.select("message", "remediation").collect(engine="in-memory"), args.reps
                ),
            )
        )
    parts = evaluate._ordered_parts(flags, compiled, context)
    findings = pl.concat(parts).collect(engine="in-memory")
    no_text = [part.drop("message", "remediation") for part in parts]
    rows.append(
        (
            "  findings without messages (in order, with ids)",
            best(lambda: pl.concat(no_text).collect(engine="in-memory"), args.reps),
        )
    )
    rows.append(("  finding ids (sha256)", best(lambda: evaluate._finding_ids(findings), args.reps)))
    rows.append(
        ("engine: evaluate_inputs (all of it)", best(lambda: api.evaluate_inputs(pack, inputs), args.reps))
    )
    print(f"{args.size:,} positions, {findings.height:,} findings; best of {args.reps}\n")
    print("| part | CPU s | wall s |\n|---|---:|---:|")
    for name, (cpu, wall) in rows:
        print(f"| {name} | {cpu:.3f} | {wall:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
