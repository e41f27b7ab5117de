"""`policy-engine check`: evaluate a policy pack against a snapshot."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from policy_engine.commands.common import add_fail_on, add_input_arguments, column_map, exit_code
from policy_engine.commands.history import add_run_options, run_tracked

NAME = "check"
HELP = "evaluate a policy pack against a positions snapshot and report every finding"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_arguments(p)
    p.add_argument("--format", choices=("json", "csv", "parquet"),
                   help="machine output format (default: from --output's extension, else json)")
    p.add_argument("--output", metavar="FILE", help="write the findings here ('-' for stdout)")
    p.add_argument("--report", metavar="FILE.html", help="write the HTML compliance report here")
    p.add_argument("--as-of", metavar="TIME", help="as-of time of the snapshot (default: its as_of column)")
    p.add_argument("--quiet", "-q", action="store_true", help="print no summary")
    p.add_argument("--allow-empty", action="store_true",
                   help="accept a positions file without rows (otherwise an error: a broken export must not pass)")
    p.add_argument("--streaming", action="store_true",
                   help="for books larger than memory: validate Parquet (file or directory) in a streaming "
                        "pass, then evaluate a chunk at a time, writing the findings (--output .parquet or "
                        ".csv) as they are produced; ordered within a chunk only")
    add_fail_on(p)
    add_run_options(p)


def run(args: Any) -> int:
    if args.streaming:
        from policy_engine.streaming import run_command

        return run_command(args)
    from policy_engine import api
    from policy_engine.output import summary

    result = run_tracked(args, NAME, lambda: api.check(
        args.policies, args.positions, args.accounts, args.market, column_map(args),
        keep_positions=bool(args.report), as_of=args.as_of, allow_empty=args.allow_empty,
    ), deliver=lambda r: _write_outputs(args, r))
    if not args.quiet:
        out = sys.stderr if args.output == "-" else sys.stdout
        out.write(summary.render(result))
        written = [p for p in (args.output, args.report) if p and p != "-"]
        for path in written:
            out.write(f"wrote {path}\n")
    return exit_code(result.findings, args.fail_on)


def _write_outputs(args: Any, result: Any) -> None:
    """The machine output and the report; a path that cannot be written is a usage error (exit 2)."""
    from policy_engine.errors import Issue, UsageError
    from policy_engine.output import document

    failed: list[Issue] = []
    if args.output:
        try:
            document.write(result, args.output, args.format)
        except (OSError, ValueError) as exc:
            failed.append(Issue(args.output, f"cannot write --output: {exc}"))
    if args.report:
        from policy_engine.report import write_report

        try:
            write_report(result, args.report)
        except OSError as exc:
            failed.append(Issue(args.report, f"cannot write --report: {exc}"))
    if failed:
        raise UsageError(failed)
