"""Meta-tests over the rule-kind registry: every kind is complete and consistent."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from policy_engine.rules import RULE_KINDS
from tests.conftest import write_policy

RULES_DIR = Path(__file__).resolve().parents[2] / "policy_engine" / "rules"
HELPER_MODULES = {"__init__", "kind", "limits", "fmt", "fmt_compact", "common"}


def test_every_kind_module_is_registered_under_its_module_name() -> None:
    modules = {p.stem for p in RULES_DIR.glob("*.py")} - HELPER_MODULES
    assert modules == set(RULE_KINDS)
    for name, kind in RULE_KINDS.items():
        assert kind.name == name
        assert importlib.import_module(f"policy_engine.rules.{name}").KIND is kind


def test_params_schemas_are_valid_json_schemas() -> None:
    for kind in RULE_KINDS.values():
        Draft202012Validator.check_schema(kind.params_schema)
        assert kind.params_schema.get("additionalProperties") is False, kind.name


def test_every_kind_has_a_summary_and_a_case_file() -> None:
    cases = Path(__file__).parent / "cases"
    for kind in RULE_KINDS.values():
        assert kind.summary.endswith("."), kind.name
        assert (cases / f"{kind.name}.yaml").exists(), kind.name


def test_every_example_is_a_valid_rule_of_its_kind(tmp_path: Path) -> None:
    from policy_engine.policy import load_pack

    for kind in RULE_KINDS.values():
        rule = yaml.safe_load(kind.example)
        assert rule["kind"] == kind.name
        write_policy(tmp_path / f"{kind.name}.yaml", {"profiles": ["conservative", "moderate", "aggressive"], "rules": [rule]})
        pack = load_pack(tmp_path / f"{kind.name}.yaml")
        assert pack.rules[0][1].kind == kind.name


def test_expression_params_are_declared_in_the_params_schema() -> None:
    for kind in RULE_KINDS.values():
        props = kind.params_schema.get("properties", {})
        for name in (*kind.expression_params, *kind.value_params):
            assert props[name]["type"] == "string", (kind.name, name)
