"""`policy-engine validate`: check policy files without evaluating anything."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "validate"
HELP = "validate policy files: syntax, duplicate keys, unknown keys, kinds, params, expressions"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="+", metavar="PATH", help="policy file(s) or directories")


def run(args: Any) -> int:
    from policy_engine.errors import PolicyError
    from policy_engine.policy import load_pack

    issues = []
    summaries = []
    for path in args.path:
        try:
            pack = load_pack(path)
            summaries.append(f"{path}: ok: {len(pack.policies)} policies, {len(pack.rules)} rules")
        except PolicyError as exc:
            issues.extend(exc.issues)
    if issues:
        raise PolicyError(issues)
    print("\n".join(summaries))
    return 0
