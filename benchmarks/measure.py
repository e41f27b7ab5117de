"""One timed measurement, run by benchmarks/run.py in a fresh process (so that its peak RSS is its own).

    python -m benchmarks.measure TASK DATA_DIR

Prints one JSON line: {"task", "seconds", "cpu", "rows", "setup_peak_mib", "run_peak_mib"}. Untimed
setup (loading the data into memory for the in-memory tasks) happens before the clock starts; the
process's peak RSS, read by the parent with os.wait4, includes it. So that a setup's own peak
(validating the inputs peaks higher than the engine's plan over them) is not taken for the timed work's,
``run_peak_mib`` is the peak RSS of the timed run alone: the kernel's high-water mark (VmHWM) is reset
to the current RSS just before it (Linux, /proc/self/clear_refs), so it still counts the data held in
memory. The reset also resets the ``ru_maxrss`` the parent reads, so ``setup_peak_mib`` (the mark before
the reset) is reported too.

Tasks (see README.md):
  floor          one Polars pass over the same Parquet columns, a trivial aggregate
  polars         the hand-written Polars query, Parquet in
  polars-mem     the same query on frames already in memory (the raw Parquet columns)
  polars-streaming, polars-mem-streaming
                 the same two, collected with Polars' streaming engine (the default engine of
                 Polars 2) instead of the in-memory one: the faster of each pair is the bar
  duckdb         the DuckDB SQL, Parquet in (result materialised in DuckDB)
  duckdb-mem     the same SQL over the files loaded into DuckDB's in-memory tables first (untimed)
  python         the plain Python loop, Parquet in
  engine-eval    api.evaluate_inputs on validated inputs in memory (findings: messages, ids, order)
  engine-plan    the engine's compiled plan alone on the same inputs: every check's flags and the breaching
                 (rule, position) rows with observed value and limit, no messages, ids or sorting
  engine-plan-streaming
                 the same plan collected with the streaming engine
  engine-verdicts, engine-verdicts-streaming
                 the same plan without the observed value and limit: the hand-written query's
                 output exactly, (rule, position) per breach; like for like with it
  engine-load    api's load and validation of the Parquet inputs (load_inputs)
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Callable

import polars as pl

HERE = Path(__file__).resolve().parent
PACK = HERE / "policies" / "reference.yaml"


def check_command(
    positions: str | Path, accounts: str | Path, output: str | Path, *extra: str, policies: str | Path = PACK
) -> list[str]:
    """The ``policy-engine check`` command line the benchmarks and their tests run (quiet)."""
    return [
        sys.executable, "-m", "policy_engine", "check", "--policies", str(policies),
        "--positions", str(positions), "--accounts", str(accounts), "--output", str(output), "--quiet", *extra,
    ]  # fmt: skip


def _files(data: Path) -> tuple[Path, Path]:
    positions = data / "positions.parquet"
    if not positions.exists():
        positions = data / "positions"
    return positions, data / "accounts.parquet"


def floor(data: Path) -> Callable[[], int]:
    from benchmarks.peers.polars_query import COLUMNS

    positions, accounts = _files(data)

    def run() -> int:
        lf = pl.scan_parquet(positions).select(COLUMNS)
        strings = [c for c, t in lf.collect_schema().items() if t == pl.String]
        agg = lf.select(
            pl.len().alias("n"),
            *(pl.col(c).str.len_bytes().sum() for c in strings),
            *(pl.col(c).sum() for c in COLUMNS if c not in strings),
        )
        acc = pl.scan_parquet(accounts).select(
            pl.col("equity").sum(), pl.col("risk_profile").str.len_bytes().sum()
        )
        out = pl.collect_all([agg, acc], engine="in-memory")
        return int(out[0].item(0, "n"))

    return run


def polars(data: Path) -> Callable[[], int]:
    from benchmarks.peers import polars_query

    positions, accounts = _files(data)
    return lambda: polars_query.run(positions, accounts)


def polars_mem(data: Path, engine: str = "in-memory") -> Callable[[], int]:
    from benchmarks.peers import polars_query

    positions, accounts = _files(data)
    p, a = pl.read_parquet(positions), pl.read_parquet(accounts)
    return lambda: polars_query.query(p.lazy(), a.lazy()).collect(engine=engine).height  # type: ignore[arg-type]


def polars_streaming(data: Path) -> Callable[[], int]:
    from benchmarks.peers import polars_query

    positions, accounts = _files(data)
    return lambda: polars_query.run(positions, accounts, engine="streaming")


def polars_mem_streaming(data: Path) -> Callable[[], int]:
    return polars_mem(data, engine="streaming")


def duckdb(data: Path) -> Callable[[], int]:
    from benchmarks.peers import duckdb_sql

    positions, accounts = _files(data)
    return lambda: duckdb_sql.run(positions, accounts)


def duckdb_mem(data: Path) -> Callable[[], int]:
    from benchmarks.peers import duckdb_sql

    con = duckdb_sql.load(*_files(data))
    return lambda: duckdb_sql.run_loaded(con)


def python(data: Path) -> Callable[[], int]:
    from benchmarks.peers import python_loop

    positions, accounts = _files(data)
    return lambda: python_loop.run(positions, accounts)


def _engine_inputs(data: Path):  # type: ignore[no-untyped-def]
    from policy_engine.data import load_inputs
    from policy_engine.policy import load_pack

    positions, accounts = _files(data)
    return load_pack(PACK), load_inputs(positions, accounts)


def engine_eval(data: Path) -> Callable[[], int]:
    from policy_engine import api

    pack, inputs = _engine_inputs(data)
    return lambda: api.evaluate_inputs(pack, inputs).findings.height


def engine_plan(data: Path, engine: str = "in-memory", values: bool = True) -> Callable[[], int]:
    from policy_engine import api
    from policy_engine.compile import compile_pack

    pack, inputs = _engine_inputs(data)

    def run() -> int:
        base = api.base_frame(inputs, pack.settings, keep_order=False)
        plan = compiled_plan(base, compile_pack(pack), values)
        return plan.collect(engine=engine).height  # type: ignore[arg-type]

    return run


def compiled_plan(
    base: pl.LazyFrame, compiled: tuple, values: bool = True  # type: ignore[type-arg]
) -> pl.LazyFrame:
    """The work the hand-written query does, out of the engine's compiled checks, in the shape of
    the engine's evaluation: every check's flags, the positions some check breached, and from them
    each check's breaching (rule_id, position_id) rows; with ``values``, also each breach's
    observed value and limit (the numbers a finding carries, which the query does not compute)."""
    from policy_engine import evaluate

    flags = evaluate._flag_frame(base, compiled).filter(evaluate.hit(compiled, near=False))
    parts = []
    for i, c in enumerate(compiled):
        rows, numbers = flags.filter(pl.col(evaluate._flag(i, "breached"))), []
        if values:
            rows = evaluate._with_values(rows, c)
            numbers = [evaluate.OBSERVED.alias("observed"), evaluate.LIMIT.alias("limit")]
        parts.append(rows.select(pl.lit(c.rule.id).alias("rule_id"), "position_id", *numbers))
    return pl.concat(parts)


def engine_plan_streaming(data: Path) -> Callable[[], int]:
    return engine_plan(data, engine="streaming")


def engine_verdicts(data: Path) -> Callable[[], int]:
    return engine_plan(data, values=False)


def engine_verdicts_streaming(data: Path) -> Callable[[], int]:
    return engine_plan(data, engine="streaming", values=False)


def engine_load(data: Path) -> Callable[[], int]:
    from policy_engine.data import load_inputs

    positions, accounts = _files(data)
    return lambda: load_inputs(positions, accounts).positions.height


TASKS: dict[str, Callable[[Path], Callable[[], int]]] = {
    "floor": floor,
    "polars": polars,
    "polars-mem": polars_mem,
    "polars-streaming": polars_streaming,
    "polars-mem-streaming": polars_mem_streaming,
    "duckdb": duckdb,
    "duckdb-mem": duckdb_mem,
    "python": python,
    "engine-eval": engine_eval,
    "engine-plan": engine_plan,
    "engine-plan-streaming": engine_plan_streaming,
    "engine-verdicts": engine_verdicts,
    "engine-verdicts-streaming": engine_verdicts_streaming,
    "engine-load": engine_load,
}


def _reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where the kernel cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_mib() -> float | None:
    """This process's peak RSS since the last reset (VmHWM), in MiB; None where there is none."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kib is None else int(kib) / 1024


def main(argv: list[str]) -> int:
    task, data = argv[0], Path(argv[1])
    run = TASKS[task](data)
    setup_peak = _peak_mib()
    reset = _reset_peak()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    run_peak = _peak_mib() if reset else None
    print(json.dumps({"task": task, "seconds": seconds, "cpu": cpu, "rows": rows,
                      "setup_peak_mib": setup_peak, "run_peak_mib": run_peak}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
