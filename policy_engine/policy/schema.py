"""Print the policy JSON Schema, to regenerate the shipped copy on purpose:

    python -m policy_engine.policy.schema > policy_engine/schema/policy.schema.json

tests/test_policy_schema.py fails when the shipped file and ``policy_schema()`` differ, e.g.
after a rule kind was added or its params schema changed.
"""

from __future__ import annotations

import json
import sys

from policy_engine.policy.envelope import policy_schema


def render() -> str:
    """The schema as the shipped file holds it: indented JSON and a final newline."""
    return json.dumps(policy_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
