"""The JSON Schema of policy files: generated from the registry, shipped, and never drifting.

If ``test_shipped_schema_is_the_generated_one`` fails after a kind was added or changed,
regenerate on purpose: python -m policy_engine.policy.schema > policy_engine/schema/policy.schema.json
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

import policy_engine.policy as policy_api
from policy_engine.policy import load_pack, policy_schema
from policy_engine.policy.envelope import SHIPPED_SCHEMA
from policy_engine.policy.schema import render
from policy_engine.rules import RULE_KINDS

POLICIES = Path(__file__).parent / "policies"
ROOT = Path(__file__).parent.parent


def shipped() -> dict[str, Any]:
    return json.loads(SHIPPED_SCHEMA.read_text(encoding="utf-8"))


def test_shipped_schema_is_the_generated_one() -> None:
    assert SHIPPED_SCHEMA == ROOT / "policy_engine" / "schema" / "policy.schema.json"
    assert shipped() == policy_schema()
    assert SHIPPED_SCHEMA.read_text(encoding="utf-8") == render()


def test_the_module_prints_the_shipped_schema() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "policy_engine.policy.schema"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    assert out.stdout == SHIPPED_SCHEMA.read_text(encoding="utf-8")
    assert out.stderr == ""


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = shipped()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_names_every_registered_kind_with_its_params() -> None:
    rule = shipped()["properties"]["rules"]["items"]
    assert rule["properties"]["kind"]["enum"] == sorted(RULE_KINDS)
    assert rule["properties"]["severity"]["enum"] == ["info", "warning", "breach", "critical"]
    clauses = {
        c["if"]["properties"]["kind"]["const"]: c["then"]["properties"]["params"] for c in rule["allOf"]
    }
    assert clauses == {name: json.loads(json.dumps(k.params_schema)) for name, k in RULE_KINDS.items()}


def _additional_properties_closed(schema: Any, path: str = "#") -> list[str]:
    """Object schemas of the envelope that leave additionalProperties open."""
    if not isinstance(schema, dict):
        return []
    open_ = [path] if schema.get("type") == "object" and "additionalProperties" not in schema else []
    for key, sub in schema.get("properties", {}).items():
        if key != "params":  # params belong to each kind
            open_ += _additional_properties_closed(sub, f"{path}/{key}")
    open_ += _additional_properties_closed(schema.get("items"), f"{path}[]")
    return open_


def test_the_envelope_allows_no_unknown_keys_anywhere() -> None:
    assert _additional_properties_closed(shipped()) == []


def _documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


@pytest.mark.parametrize("path", sorted((POLICIES / "valid").rglob("*.yaml")), ids=lambda p: p.name)
def test_valid_policies_validate_against_the_shipped_schema(path: Path) -> None:
    validator = Draft202012Validator(shipped())
    for doc in _documents(path):
        assert [e.message for e in validator.iter_errors(doc)] == []


def test_the_shipped_schema_checks_params_per_kind() -> None:
    validator = Draft202012Validator(shipped())
    doc = _documents(POLICIES / "valid" / "core-risk.yaml")[0]
    doc["rules"][0]["params"]["limit"] = "5%"  # max_allocation
    doc["rules"][1]["params"] = {"limit": 0.05}  # a max_allocation param on a leverage_tiers rule
    doc["rules"][2]["kind"] = "expresion"
    errors = {tuple(e.absolute_path) for e in validator.iter_errors(doc)}
    assert errors == {("rules", 0, "params", "limit"), ("rules", 1, "params"), ("rules", 2, "kind")}


@pytest.mark.parametrize("name", sorted(RULE_KINDS))
def test_every_kind_example_is_a_valid_rule(tmp_path: Path, name: str) -> None:
    example = RULE_KINDS[name].example
    assert example, f"kind {name} has no example"
    (tmp_path / "p.yaml").write_text(_as_list_item(example))
    pack = load_pack(tmp_path / "p.yaml")
    assert [r.kind for r in pack.policies[0].rules] == [name]


def _as_list_item(example: str) -> str:
    lines = example.rstrip("\n").splitlines()
    item = ["  - " + lines[0], *("    " + line for line in lines[1:])]
    return 'id: p\nversion: "1"\ndescription: d\nowner: o\nrules:\n' + "\n".join(item) + "\n"


def test_fixture_modeline_points_at_the_shipped_schema() -> None:
    first = (POLICIES / "valid" / "core-risk.yaml").read_text().splitlines()[0]
    target = first.split("$schema=", 1)[1]
    assert ((POLICIES / "valid") / target).resolve() == SHIPPED_SCHEMA


def test_public_api_is_sorted_and_complete() -> None:
    assert policy_api.__all__ == sorted(policy_api.__all__)
    assert set(policy_api.__all__) == {"load_pack", "policy_schema", "validate_paths"}
    assert all(callable(getattr(policy_api, name)) for name in policy_api.__all__)
