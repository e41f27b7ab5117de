"""`policy-engine gate`: check a proposed trade list against the book before the trades are sent.

Exit codes: 0 no blocking finding; 1 a new or worsened finding at or above --fail-on (with --strict:
any post-trade finding at or above it); 2 any error, including an output that cannot be written
(fail closed). Every requested output is attempted before an error is reported.

--waivers, --waiver-warning-days and --history are check's (commands/history.py ``run_tracked``):
evaluate -> apply the waivers -> record the run, in that order, so the semantics cannot drift apart.
A waived finding does not block; a bad waiver file is exit 2 before anything is evaluated or written.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import Any, Callable

from policy_engine.commands.common import add_fail_on, add_input_arguments, column_map
from policy_engine.commands.history import add_run_options, run_tracked

NAME = "gate"
HELP = "pre-trade gate: evaluate the book before and after a trade list; block what the trades cause"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input_arguments(p)
    p.add_argument(
        "trade_files",
        nargs="*",
        metavar="TRADES",
        help="trade list(s): CSV, JSON, NDJSON or Parquet (several are applied as one list, in order)",
    )
    p.add_argument(
        "--trades",
        action="append",
        default=[],
        metavar="FILE",
        help="a trade list (repeatable; same as giving it positionally)",
    )
    add_fail_on(p)
    p.add_argument(
        "--strict",
        action="store_true",
        help="pre-existing findings block too (any post-trade finding at or above --fail-on)",
    )
    p.add_argument("--sarif", metavar="FILE", help="write SARIF 2.1.0 (GitHub code scanning)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML (GitLab, Jenkins)")
    p.add_argument(
        "--markdown", metavar="FILE", help='write a Markdown summary (e.g. "$GITHUB_STEP_SUMMARY")'
    )
    p.add_argument("--github", action="store_true", help="print GitHub Actions annotations on stdout")
    p.add_argument(
        "--format",
        choices=("json", "csv", "parquet"),
        help="machine output format (default: from --output's extension, else json)",
    )
    p.add_argument(
        "--output", metavar="FILE", help="write the findings with their change here ('-' for stdout)"
    )
    p.add_argument("--report", metavar="FILE.html", help="write the HTML report here")
    p.add_argument("--as-of", metavar="TIME", help="as-of time of the snapshot (default: its as_of column)")
    p.add_argument("--quiet", "-q", action="store_true", help="print no summary")
    add_run_options(p)


def run(args: Any) -> int:
    from policy_engine.errors import Issue, UsageError
    from policy_engine.gate import document, github, junit, markdown, sarif, text
    from policy_engine.gate.run import GateResult, run_gate, settle

    trades = [*args.trades, *args.trade_files]
    if args.github and args.output == "-":
        raise UsageError("--github and --output - both write to stdout: write the output to a file")
    holder: dict[str, GateResult] = {}

    def evaluate() -> Any:
        holder["gate"] = run_gate(
            args.policies,
            args.positions,
            args.accounts,
            args.market,
            trades,
            column_map(args),
            fail_on=args.fail_on,
            strict=args.strict,
            keep_positions=bool(args.report),
            as_of=args.as_of,
        )
        return holder["gate"].result

    written: list[str] = []
    settled: dict[str, GateResult] = {}

    def deliver(result: Any) -> None:
        # inside the run's history transaction: an output that cannot be written fails the run
        gate = settled["gate"] = settle(holder["gate"], result)
        outputs: list[tuple[str, str | None, Callable[[str], object]]] = [
            ("--sarif", args.sarif, lambda p: sarif.write(gate, p)),
            ("--junit", args.junit, lambda p: junit.write(gate, p)),
            ("--markdown", args.markdown, lambda p: markdown.write(gate, p)),
            ("--output", args.output, lambda p: document.write(gate, p, args.format)),
            ("--report", args.report, lambda p: _report(gate.result, p)),
        ]
        failed: list[Issue] = []
        for option, path, write in outputs:
            if not path:
                continue
            try:
                if path != "-":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                write(path)
                written.append(path)
            except (OSError, ValueError, ImportError) as exc:
                failed.append(Issue(path, f"cannot write {option}: {exc}"))
        if failed:  # the other outputs are written; the run is not complete, and the exit code is 2
            raise UsageError(failed)

    # waivers are read first (a bad file: exit 2, nothing written); outputs, then the run is recorded
    run_tracked(args, NAME, evaluate, deliver=deliver)
    gate = settled["gate"]
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.github:
        sys.stdout.write(github.render(gate))
    if not args.quiet:
        summary = text.render(gate) + "".join(f"wrote {p}\n" for p in written if p != "-")
        if args.github:  # data (symbols, client names) must not be read as workflow commands
            token = secrets.token_hex(16)
            summary = f"::stop-commands::{token}\n{summary}::{token}::\n"
        out.write(summary)
    return gate.exit_code


def _report(result: Any, path: str) -> None:
    from policy_engine.report import write_report

    write_report(result, path)
