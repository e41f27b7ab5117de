"""Policy packs: YAML files -> validated, frozen ``model.PolicyPack`` (the load and validate stages).

* ``load_pack(path)``: the pack, or ``PolicyError`` listing *every* problem in it;
* ``validate_paths(paths)``: the problems only, for ``policy-engine validate``;
* ``policy_schema()``: the JSON Schema of a policy file (shipped as
  policy_engine/schema/policy.schema.json).

The file format is described in docs/policy-language.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from policy_engine.errors import Issue, PolicyError
from policy_engine.model import PolicyPack
from policy_engine.policy.envelope import policy_schema
from policy_engine.policy.pack import load
from policy_engine.rules import RULE_KINDS


def load_pack(path: str | Path) -> PolicyPack:
    """Load and validate the policy file or directory at ``path``; raise ``PolicyError`` if invalid."""
    pack, issues = load(path, RULE_KINDS)
    if pack is None:
        raise PolicyError(issues)
    return pack


def validate_paths(paths: str | Path | Iterable[str | Path]) -> list[Issue]:
    """Every problem in the pack at each path (each path is its own pack); empty when all are valid."""
    roots = [paths] if isinstance(paths, (str, Path)) else list(paths)
    issues = [issue for root in roots for issue in load(root, RULE_KINDS)[1]]
    return sorted(issues, key=Issue.sort_key)


__all__ = ["load_pack", "policy_schema", "validate_paths"]
