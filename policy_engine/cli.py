"""Command line: argument parsing and exit codes only; the work is in api and the stages.

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage, policy or data
error (an error always wins: a gate fails closed). Each command is a module in
policy_engine/commands with ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
the tuple below is the only place they are listed. Modules import Polars only when they run.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType

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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from policy_engine.errors import PolicyEngineError

    try:
        return int(args.run(args))
    except PolicyEngineError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # fail closed: an unexpected error must never look like a pass
        if os.environ.get("POLICY_ENGINE_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (set POLICY_ENGINE_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
