"""`policy-engine schema`: print the JSON Schema of policy files (for editors)."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "schema"
HELP = "print the JSON Schema of policy files (use it in a yaml-language-server modeline)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: Any) -> int:
    import json

    from policy_engine.policy import policy_schema

    print(json.dumps(policy_schema(), indent=2, sort_keys=True))
    return 0
