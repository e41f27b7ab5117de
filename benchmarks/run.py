#!/usr/bin/env python3
"""Time the engine against the hand-written peers on the R1-R4 workload; write benchmarks/results.md.

    python benchmarks/run.py                      # 1e5 and 1e6, 3 repetitions
    python benchmarks/run.py 1e7 --reps 3         # 1e7 (the Python loop is skipped above --python-max)
    python benchmarks/run.py 1e6 --tasks polars engine-eval check

Every measurement runs in a fresh process; its peak RSS is that process's ru_maxrss (os.wait4), and
the timed run's own peak RSS (measure.py resets the high-water mark after the untimed setup: loading
and validating the inputs can peak higher than the work timed on them).
Repetitions are interleaved (each repetition runs every task once, in a rotated order), and the
table shows medians. Ratios are to the hand-written Polars query measured in the same run, with the
same input: Parquet in (``polars``) for tasks that read Parquet, frames already in memory
(``polars-mem``) for the engine's evaluation; each is run on both of Polars' engines (in-memory
and streaming) and the faster median is the reference. ``check`` is the whole command line, Parquet in and
JSON out, including interpreter start-up and imports; its stages come from POLICY_ENGINE_TIMINGS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks import generate  # noqa: E402
from benchmarks.measure import TASKS, _files, check_command  # noqa: E402

DEFAULT_TASKS = (
    "floor",
    "polars",
    "polars-streaming",
    "polars-mem",
    "polars-mem-streaming",
    "duckdb",
    "duckdb-mem",
    "python",
    "engine-verdicts",
    "engine-verdicts-streaming",
    "engine-plan",
    "engine-plan-streaming",
    "engine-eval",
    "engine-load",
    "check",
    "check-streaming",
)
IN_MEMORY = {
    "polars-mem", "polars-mem-streaming", "duckdb-mem", "engine-eval", "engine-plan",
    "engine-plan-streaming", "engine-verdicts", "engine-verdicts-streaming",
}  # fmt: skip
# The bar: the faster (median) of the hand-written query's two engines, with the same input.
REFERENCES = {True: ("polars-mem", "polars-mem-streaming"), False: ("polars", "polars-streaming")}
LABELS = {
    "floor": "floor: one Polars pass over the columns (Parquet)",
    "polars": "hand-written Polars query (Parquet in)",
    "polars-streaming": "hand-written Polars query (Parquet in), streaming engine",
    "polars-mem": "hand-written Polars query (frames in memory)",
    "polars-mem-streaming": "hand-written Polars query (frames in memory), streaming engine",
    "duckdb": "DuckDB SQL (Parquet in)",
    "duckdb-mem": "DuckDB SQL (tables in memory)",
    "python": "plain Python loop (Parquet in)",
    "engine-plan": "engine: compiled plan, breaches + observed/limit (in memory)",
    "engine-plan-streaming": "engine: compiled plan, breaches + observed/limit (in memory), streaming engine",
    "engine-verdicts": "engine: compiled plan, breaches only, the query's output (in memory)",
    "engine-verdicts-streaming": "engine: compiled plan, breaches only, the query's output (in memory), streaming engine",
    "engine-eval": "engine: evaluate_inputs, full findings (in memory)",
    "engine-load": "engine: load + validate Parquet inputs",
    "check": "engine: `policy-engine check` Parquet -> JSON (whole command)",
    "check-streaming": "engine: `policy-engine check --streaming` Parquet -> Parquet (whole command)",
}


def run_once(task: str, data: Path, scratch: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if task.startswith("check"):
        positions, accounts = _files(data)
        streaming = task == "check-streaming"
        out = scratch / ("findings.parquet" if streaming else "findings.json")
        timings = scratch / "timings.json"
        env["POLICY_ENGINE_TIMINGS"] = str(timings)
        cmd = check_command(positions, accounts, out, "--fail-on", "never", *(["--streaming"] if streaming else []))
    else:
        cmd = [sys.executable, "-m", "benchmarks.measure", task, str(data)]
    out_path, err_path = scratch / "stdout", scratch / "stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{task} on {data} failed ({code}): {err_path.read_text().strip()[-2000:]}")
    rss_mib = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    if task.startswith("check"):
        stage_times = json.loads(timings.read_text()) if timings.exists() else {}
        return {
            "seconds": wall,
            "cpu": cpu,
            "rss": rss_mib,
            "run_rss": rss_mib,  # the whole command is the measurement: its peak is the run's
            **{f"stage:{k}": v for k, v in stage_times.items()},
        }
    result = json.loads(out_path.read_text().strip().splitlines()[-1])
    run_rss = result.get("run_peak_mib")
    return {
        "seconds": result["seconds"],
        "cpu": result["cpu"],
        # the process's peak: resetting the run's high-water mark reset ru_maxrss too
        "rss": max(rss_mib, result.get("setup_peak_mib") or 0.0),
        "run_rss": float("nan") if run_rss is None else run_rss,
        "rows": result["rows"],
    }


def machine() -> str:
    import polars

    cores = os.cpu_count()
    mem = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.rstrip()
    try:
        import duckdb

        duck = duckdb.__version__
    except ImportError:
        duck = "not installed"
    return (
        f"{cores} cores (nproc), Python {platform.python_version()}, Polars {polars.__version__}, "
        f"DuckDB {duck}, {platform.platform()}\n\n```\n$ free -g\n{mem}\n```"
    )


def table(results: dict[tuple[int, str], list[dict[str, float]]], sizes: list[int], tasks: list[str]) -> str:
    lines = [
        (
            "| positions | measurement | median s (min-max) | CPU s | x Polars query | peak RSS MiB "
            "| x Polars RSS | timed run's peak RSS MiB | x Polars |"
        ),
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:

        def med(task: str, key: str, size: int = size) -> float:
            runs = results.get((size, task), [])
            return statistics.median(r[key] for r in runs) if runs else float("nan")

        for task in tasks:
            runs = results.get((size, task))
            if not runs:
                continue
            refs = [t for t in REFERENCES[task in IN_MEMORY] if results.get((size, t))]
            ref = min(refs, key=lambda t: med(t, "seconds")) if refs else "polars"
            secs = [r["seconds"] for r in runs]
            ratio = med(task, "seconds") / med(ref, "seconds")
            rss_ratio = med(task, "rss") / med(ref, "rss")
            run_ratio = med(task, "run_rss") / med(ref, "run_rss")
            lines.append(
                f"| {size:.0e} | {LABELS.get(task, task)} | {statistics.median(secs):.3f} "
                f"({min(secs):.3f}-{max(secs):.3f})"
                f" | {med(task, 'cpu'):.2f} | {ratio:.2f} | {med(task, 'rss'):,.0f} | {rss_ratio:.2f}"
                f" | {med(task, 'run_rss'):,.0f} | {run_ratio:.2f} |"
            )
    return "\n".join(lines)


def stages(results: dict[tuple[int, str], list[dict[str, float]]], sizes: list[int]) -> str:
    out = []
    for size in sizes:
        for task in ("check", "check-streaming"):
            runs = results.get((size, task))
            if not runs:
                continue
            keys = [k for k in runs[0] if k.startswith("stage:")]
            parts = ", ".join(f"{k[6:]} {statistics.median(r.get(k, 0.0) for r in runs):.2f} s" for k in keys)
            out.append(f"- {size:.0e}, `{task}`: {parts}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=generate.size_arg, default=[100_000, 1_000_000])
    ap.add_argument(
        "--tasks", nargs="+", default=list(DEFAULT_TASKS), choices=[*TASKS, "check", "check-streaming"]
    )
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--python-max", type=generate.size_arg, default=1_000_000, help="largest size for the Python loop"
    )
    ap.add_argument(
        "--parts", type=int, default=1, help="read benchmarks/data/n<size>-p<parts> (generate.py --parts)"
    )
    ap.add_argument("--out", type=Path, default=HERE / "results.md")
    ap.add_argument("--append", action="store_true", help="add to --out instead of replacing it")
    args = ap.parse_args(argv)
    for size in args.sizes:
        if not (generate.data_dir(size, args.parts) / "accounts.parquet").exists():
            generate.generate(size, generate.data_dir(size, args.parts), args.parts)
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    load = [os.getloadavg()]
    with tempfile.TemporaryDirectory(dir=generate.DATA) as tmp:
        for rep in range(args.reps):
            for size in args.sizes:
                tasks = [t for t in args.tasks if t != "python" or size <= args.python_max]
                k = rep % len(tasks)
                for task in tasks[k:] + tasks[:k]:  # rotated: no task always runs first or last
                    r = run_once(task, generate.data_dir(size, args.parts), Path(tmp))
                    results.setdefault((size, task), []).append(r)
                    print(
                        f"rep {rep + 1} {size:.0e} {task:16s} {r['seconds']:8.3f} s {r['rss']:9,.0f} MiB",
                        file=sys.stderr,
                    )
            load.append(os.getloadavg())
    text = (
        f"# Benchmark results\n\nMachine: {machine()}\n\nLoad average (1 min) during the run: "
        f"{min(l[0] for l in load):.2f}-{max(l[0] for l in load):.2f}. {args.reps} repetitions, interleaved; "
        f"medians.\n\n{table(results, args.sizes, args.tasks)}\n\nStages of the whole command (median):\n\n"
        f"{stages(results, args.sizes)}\n"
    )
    if args.append and args.out.exists():
        text = (
            args.out.read_text(encoding="utf-8")
            + "\n"
            + text.replace("# Benchmark results", "## More results", 1)
        )
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
