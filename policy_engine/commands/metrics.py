"""`policy-engine metrics`: write every derived metric per position, to audit each number."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from policy_engine.commands.common import add_input_arguments, column_map

NAME = "metrics"
HELP = "write every derived metric per position (CSV or Parquet by extension)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_arguments(p, policies=False)
    p.add_argument("--policies", metavar="PATH",
                   help="take metric settings (default mmr, liquidation model) from this policy pack")
    p.add_argument("--liquidation-model", choices=("binance", "bybit"),
                   help="liquidation price formula for positions without a venue price (default: binance)")
    p.add_argument("--output", required=True, metavar="FILE", help="output file: .csv or .parquet")


def run(args: Any) -> int:
    import dataclasses

    from policy_engine import api
    from policy_engine.errors import UsageError
    from policy_engine.model import MetricSettings

    suffix = Path(args.output).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UsageError(f"--output must end in .csv or .parquet, got '{args.output}'")
    settings = MetricSettings()
    if args.policies:
        from policy_engine.policy import load_pack

        settings = load_pack(args.policies).settings
    if args.liquidation_model:
        settings = dataclasses.replace(settings, liquidation_model=args.liquidation_model)
    df = api.metrics(args.positions, args.accounts, args.market, settings, column_map(args))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.write_csv(args.output)
    else:
        df.write_parquet(args.output)
    print(f"wrote {df.height:,} positions x {df.width} columns to {args.output}")
    return 0
