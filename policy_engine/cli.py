"""Command line: argument parsing and exit codes only; the work is in api and the stages.

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage, policy or data
error (an error always wins: a gate fails closed). Each command is a module in
policy_engine/commands with ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
the tuple below is the only place they are listed. Modules import Polars only when they run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType, ModuleType

from policy_engine import __version__
from policy_engine.commands import check, gate, history, metrics, schema, validate

COMMANDS: tuple[ModuleType, ...] = (check, metrics, validate, schema, history, gate)

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="policy-engine",
        description="Evaluate declarative YAML risk policies against position snapshots.",
        epilog="Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it; 2 bad input or usage.",
    )
    parser.add_argument("--version", action="version", version=f"policy-engine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM: a scheduler's timeout (Airflow, cron wrappers, CI) or a shutdown."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Raised in the main thread (once Polars hands control back), so everything unwinds as on
    # Ctrl-C: a history run is marked 'failed' instead of staying 'running', a half-written output
    # file is removed, and the exit code is an error's. A second SIGTERM is ignored, so it cannot
    # interrupt that clean-up.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(f"terminated by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A SIGTERM that an invoking process chose to ignore stays ignored; main() may run inside
    # another program (tests) or outside the main thread, so the previous handler is given back.
    handles_signals = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
    )
    previous = signal.signal(signal.SIGTERM, _terminate) if handles_signals else None
    try:
        return _run(args)
    except KeyboardInterrupt:  # a signal while an error was being reported: still an error, never 0 or 1
        return EXIT_ERROR
    finally:
        if handles_signals:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _run(args: argparse.Namespace) -> int:
    from policy_engine.errors import PolicyEngineError

    try:
        return int(args.run(args))
    except PolicyEngineError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        print("terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # fail closed: an unexpected error must never look like a pass
        if os.environ.get("POLICY_ENGINE_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (set POLICY_ENGINE_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return EXIT_ERROR

if __name__ == "__main__":
    raise SystemExit(main())
