"""R1-R4 in DuckDB SQL (duckdb is a benchmark-only extra: pip install .[bench]), over the Parquet files
or over the same files loaded into DuckDB's own in-memory tables first (``load``), the like-for-like
peer of the engine's rows that evaluate inputs already in memory.

Same reading of REFERENCE_RULES.md as the Polars peer, including the relative tolerance of 1e-9 on
the limit comparisons and exact stop-versus-mark / stop-versus-LP comparisons. Every literal is a
DOUBLE (a bare 0.02 would be a DECIMAL in DuckDB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# {positions} and {accounts}: read_parquet of the files, or the tables ``load`` made.
_TEMPLATE = """
WITH p AS (
  SELECT p.position_id, p.side = 'long' AS long, p.quantity AS q, p.entry_price AS ep, p.mark_price AS mp,
         p.leverage AS lev, p.margin_mode, p.stop_loss_price AS stop, p.volatility AS vol,
         p.maintenance_margin_rate AS mmr, coalesce(p.maintenance_amount, 0::DOUBLE) AS cum,
         coalesce(p.isolated_margin, p.quantity * p.entry_price / p.leverage) AS margin,
         a.equity AS eq, a.risk_profile = 'conservative' AS cons, a.risk_profile = 'moderate' AS mod
  FROM {positions} p LEFT JOIN {accounts} a USING (account_id)
), d AS (
  SELECT *,
    CASE WHEN long THEN (q * ep - margin - cum) / (q * (1::DOUBLE - mmr))
         ELSE (q * ep + margin + cum) / (q * (1::DOUBLE + mmr)) END AS lp,
    CASE WHEN cons THEN 0.02::DOUBLE WHEN mod THEN 0.05::DOUBLE ELSE 0.10::DOUBLE END AS alloc_limit,
    CASE WHEN cons THEN 0.01::DOUBLE WHEN mod THEN 0.02::DOUBLE ELSE 0.03::DOUBLE END AS risk_limit,
    (CASE WHEN vol < 0.5 THEN 10::DOUBLE WHEN vol < 0.8 THEN 5::DOUBLE WHEN vol < 1.2 THEN 3::DOUBLE
          ELSE 2::DOUBLE END) * (CASE WHEN cons THEN 0.5::DOUBLE ELSE 1::DOUBLE END) AS tier_max,
    3::DOUBLE * (vol * sqrt(1::DOUBLE / 365::DOUBLE)) AS buffer
  FROM p
)
SELECT 'R1-max-allocation' AS rule_id, position_id FROM d
  WHERE margin / eq - alloc_limit > abs(alloc_limit) * 1e-9
UNION ALL SELECT 'R2-leverage-tier', position_id FROM d
  WHERE lev - tier_max > abs(tier_max) * 1e-9
UNION ALL SELECT 'R3-stop-missing', position_id FROM d
  WHERE lev > 1 AND stop IS NULL
UNION ALL SELECT 'R3-stop-misplaced', position_id FROM d
  WHERE CASE WHEN long THEN stop >= mp OR (lp > 0 AND stop <= lp) ELSE stop <= mp OR stop >= lp END
UNION ALL SELECT 'R3-risk-per-trade', position_id FROM d
  WHERE q * abs(mp - stop) / eq - risk_limit > abs(risk_limit) * 1e-9
UNION ALL SELECT 'R4-liquidation-buffer', position_id FROM d
  WHERE margin_mode = 'isolated' AND NOT (long AND lp <= 0)
    AND buffer - abs(mp - lp) / mp > abs(buffer) * 1e-9
"""
SQL = _TEMPLATE.format(positions="read_parquet($positions)", accounts="read_parquet($accounts)")
SQL_TABLES = _TEMPLATE.format(positions="positions", accounts="accounts")


def _connect(threads: int | None = None) -> Any:
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _params(positions: str | Path, accounts: str | Path) -> dict[str, str]:
    return {"positions": str(positions), "accounts": str(accounts)}


def _pairs(rows: list[tuple[str, Any]]) -> set[tuple[str, str]]:
    return {(rule, str(pid)) for rule, pid in rows}


def _materialised(con: Any, sql: str, params: dict[str, str] | None = None) -> int:
    """Evaluate into a DuckDB table (materialised like the Polars peer's frame, without a per-row
    transfer to Python); its row count. The table is dropped after it is counted, so that the next
    repetition on the same connection starts alike."""
    con.execute("CREATE TEMP TABLE result AS " + sql, params)
    n = int(con.execute("SELECT count(*) FROM result").fetchone()[0])
    con.execute("DROP TABLE result")
    return n


def breaches(positions: str | Path, accounts: str | Path) -> set[tuple[str, str]]:
    return _pairs(_connect().execute(SQL, _params(positions, accounts)).fetchall())


def load(positions: str | Path, accounts: str | Path) -> Any:
    """A connection holding both files as DuckDB tables ``positions`` and ``accounts`` (its own
    columnar storage, in memory): DuckDB's best case, the counterpart of Polars frames in memory."""
    con = _connect()
    for table, path in _params(positions, accounts).items():
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet($path)", {"path": path})
    return con


def loaded_breaches(con: Any) -> set[tuple[str, str]]:
    """``breaches`` over the tables ``load`` made."""
    return _pairs(con.execute(SQL_TABLES).fetchall())


def run_loaded(con: Any) -> int:
    """``run`` over the tables ``load`` made."""
    return _materialised(con, SQL_TABLES)


def run(positions: str | Path, accounts: str | Path) -> int:
    """R1-R4 over the Parquet files, into a DuckDB table; its row count."""
    return _materialised(_connect(), SQL, _params(positions, accounts))
