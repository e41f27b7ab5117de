"""Arguments several commands share (inputs, fail-on), and the exit-code decision."""

from __future__ import annotations

import argparse
from typing import Any

SEVERITIES = ("info", "warning", "breach", "critical")


def add_input_arguments(p: argparse.ArgumentParser, policies: bool = True) -> None:
    if policies:
        p.add_argument("--policies", default="policies", metavar="PATH",
                       help="policy file or directory of policy files (default: policies)")
    p.add_argument("--positions", required=True, metavar="FILE",
                   help="positions snapshot: CSV, Parquet (file or directory), JSON or NDJSON")
    p.add_argument("--accounts", metavar="FILE", help="accounts: account_id, equity, risk_profile, ...")
    p.add_argument("--market", metavar="FILE", help="market data: per-symbol volatility and margin brackets (JSON/YAML)")
    p.add_argument("--column-map", metavar="FILE", help="YAML/JSON mapping of your column names to ours")


def add_fail_on(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fail-on", default="breach", choices=(*SEVERITIES, "never"),
                   help="exit 1 when a finding is at or above this severity (default: breach)")


def column_map(args: Any) -> dict[str, str] | None:
    if not getattr(args, "column_map", None):
        return None
    from policy_engine.data import load_column_map

    return load_column_map(args.column_map)


def exit_code(findings: Any, fail_on: str) -> int:
    """1 when any finding's severity is at or above ``fail_on``, else 0."""
    if fail_on == "never" or findings.height == 0:
        return 0
    threshold = SEVERITIES.index(fail_on) + 1
    return 1 if int(findings.get_column("severity_rank").max()) >= threshold else 0
