"""The benchmark's workload means the same thing everywhere: on 1e4 generated positions, the engine
(`policy-engine check` on benchmarks/policies/reference.yaml) and every hand-written peer report the
identical set of (rule id, position id) breaches.

The peers implement ../shared/benchmarks/REFERENCE_RULES.md literally; the generator plants the edge
cases that decide it (stops exactly at the mark and at the liquidation price, volatility on the band
edges, leverage exactly at its cap, allocations equal to their limit on paper), and the test checks
that they are there, so that agreement is not agreement on easy data.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from benchmarks import generate
from benchmarks.measure import PACK, check_command
from benchmarks.peers import duckdb_sql, polars_query, python_loop
from policy_engine.policy import load_pack

ROOT = Path(__file__).resolve().parent.parent
SIZE = 10_000


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate.generate(SIZE, tmp_path_factory.mktemp("book"))


def engine_breaches(book: Path, tmp: Path, *extra: str) -> set[tuple[str, str]]:
    out = tmp / "findings.json"
    cmd = check_command(book / "positions.parquet", book / "accounts.parquet", out, *extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr  # breaches found
    findings = json.loads(out.read_text())["findings"]
    assert all(f["status"] == "breach" for f in findings)  # the pack has no warn_at
    return {(f["rule_id"], f["position_id"]) for f in findings}


@pytest.fixture(scope="module")
def engine(book: Path, tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    return engine_breaches(book, tmp_path_factory.mktemp("engine"))


def test_every_rule_breaches_on_a_realistic_share(engine: set[tuple[str, str]]) -> None:
    counts = Counter(rule for rule, _ in engine)
    assert set(counts) == set(polars_query.RULE_IDS)
    for rule, n in counts.items():
        assert 0.01 * SIZE <= n <= 0.2 * SIZE, (rule, n)
    assert len({pid for _, pid in engine}) == len({pid for _, pid in engine})  # one per (rule, position)


def test_the_book_holds_the_edge_cases(book: Path) -> None:
    p = pl.read_parquet(book / "positions.parquet").join(
        pl.read_parquet(book / "accounts.parquet"), on="account_id"
    )
    assert p.filter(pl.col("stop_loss_price") == pl.col("mark_price")).height > 0
    assert p.filter(pl.col("volatility").is_in([0.5, 0.8, 1.2])).height > 0
    assert p.filter(pl.col("volatility").is_null()).height > 0
    assert p.filter((pl.col("leverage") == 1) & pl.col("stop_loss_price").is_null()).height > 0
    assert p.filter(pl.col("margin_mode") == "cross").height > 0.4 * SIZE
    limit = pl.col("risk_profile").replace_strict(
        ["conservative", "moderate", "aggressive"], [0.02, 0.05, 0.10]
    )
    on_limit = p.filter((pl.col("isolated_margin") / pl.col("equity") - limit).abs() <= limit * 1e-9)
    assert on_limit.height > 0  # equal on paper (cents): no breach, whatever the last bit of margin / equity
    cap = pl.when(pl.col("volatility") < 0.5).then(10.0).when(pl.col("volatility") < 0.8).then(5.0)
    cap = cap.when(pl.col("volatility") < 1.2).then(3.0).otherwise(2.0)
    cap = cap * pl.when(pl.col("risk_profile") == "conservative").then(0.5).otherwise(1.0)
    assert p.filter(pl.col("leverage") == cap).height > 0  # at the tier's cap: no breach


@pytest.mark.parametrize("peer", [polars_query, python_loop], ids=["polars", "python"])
def test_peers_agree_with_the_engine(peer: Any, book: Path, engine: set[tuple[str, str]]) -> None:
    found = peer.breaches(book / "positions.parquet", book / "accounts.parquet")
    assert found == engine, (sorted(found - engine)[:5], sorted(engine - found)[:5])


def test_duckdb_agrees_with_the_engine(book: Path, engine: set[tuple[str, str]]) -> None:
    pytest.importorskip("duckdb", reason="duckdb is a benchmark extra: pip install .[bench]")
    found = duckdb_sql.breaches(book / "positions.parquet", book / "accounts.parquet")
    assert found == engine, (sorted(found - engine)[:5], sorted(engine - found)[:5])


def test_duckdb_over_its_in_memory_tables_agrees_with_the_engine(
    book: Path, engine: set[tuple[str, str]]
) -> None:
    pytest.importorskip("duckdb", reason="duckdb is a benchmark extra: pip install .[bench]")
    con = duckdb_sql.load(book / "positions.parquet", book / "accounts.parquet")
    found = duckdb_sql.loaded_breaches(con)
    assert found == engine, (sorted(found - engine)[:5], sorted(engine - found)[:5])
    # the timed variant counts the same rows, and twice on one connection (repetitions share it)
    assert duckdb_sql.run_loaded(con) == duckdb_sql.run_loaded(con) == len(engine)


@pytest.mark.parametrize("values", [True, False], ids=["with-values", "verdicts"])
@pytest.mark.parametrize("engine_name", ["in-memory", "streaming"])
def test_the_timed_compiled_plan_finds_the_checks_breaches(
    book: Path, engine: set[tuple[str, str]], engine_name: str, values: bool
) -> None:
    # benchmarks/measure.py times compiled_plan as "the work the hand-written query does": it must
    # find exactly the check command's breaches, with the observed value of each
    from benchmarks.measure import compiled_plan
    from policy_engine import api
    from policy_engine.compile import compile_pack
    from policy_engine.data import load_inputs

    pack = load_pack(PACK)
    inputs = load_inputs(book / "positions.parquet", book / "accounts.parquet")
    base = api.base_frame(inputs, pack.settings, keep_order=False)
    rows = compiled_plan(base, compile_pack(pack), values).collect(engine=engine_name)  # type: ignore[call-overload]
    found = set(rows.select("rule_id", "position_id").iter_rows())
    assert len(found) == rows.height and found == engine
    if values:
        assert rows.get_column("observed").null_count() == 0
    else:  # the hand-written query's output exactly
        assert rows.columns == ["rule_id", "position_id"]


# The rule ids of ../shared/benchmarks/REFERENCE_RULES.md ("Rules, their ids, ..."), spelt as it spells
# them. Written out here rather than parsed from that file: a clean clone (CI) does not have ../shared.
REFERENCE_RULE_IDS = (
    "R1-max-allocation",
    "R2-leverage-tier",
    "R3-stop-missing",
    "R3-stop-misplaced",
    "R3-risk-per-trade",
    "R4-liquidation-buffer",
)


def test_rule_ids_are_the_reference_ids() -> None:
    (policy,) = load_pack(PACK).policies
    assert tuple(r.id for r in policy.rules) == REFERENCE_RULE_IDS
    assert polars_query.RULE_IDS == REFERENCE_RULE_IDS
