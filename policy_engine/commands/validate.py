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
    from policy_engine.policy import load_pack, validate_paths

    issues = validate_paths(args.path)
    if issues:
        raise PolicyError(issues)
    for path in args.path:
        pack = load_pack(path)
        print(f"{path}: ok: {len(pack.policies)} policies, {len(pack.rules)} rules")
    return 0
