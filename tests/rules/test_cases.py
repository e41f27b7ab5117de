"""One runner for every rule kind's YAML case file: policy + positions -> expected findings.

Each case lists exactly the findings it expects (rule, check, position, status), with hand-computed
observed/limit values where the arithmetic is the point (comments in the case files show it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine import api
from tests.conftest import write_csv, write_policy

CASES_DIR = Path(__file__).parent / "cases"


def _cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            params.append(pytest.param(doc, case, id=f"{path.stem}::{case['name']}"))
    return params


def _close(actual: float | None, expected: float | None) -> bool:
    if expected is None:
        return actual is None
    return actual is not None and math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize(("doc", "case"), _cases())
def test_case(doc: dict[str, Any], case: dict[str, Any], tmp_path: Path) -> None:
    policy = {**doc.get("policy", {}), **case.get("policy", {})}
    write_policy(tmp_path / "policy.yaml", policy)
    positions = [{**doc.get("position_defaults", {}), **p} for p in case["positions"]]
    write_csv(tmp_path / "positions.csv", positions)
    accounts = case.get("accounts", doc.get("accounts"))
    write_csv(tmp_path / "accounts.csv", accounts)
    result = api.check(tmp_path / "policy.yaml", tmp_path / "positions.csv", tmp_path / "accounts.csv")
    found = result.findings.to_dicts()
    got = sorted((f["rule_id"], f["check"], f["position_id"] or "", f["status"]) for f in found)
    want = sorted((e["rule_id"], e["check"], e.get("position_id") or "", e.get("status", "breach")) for e in case["expect"])
    assert got == want, "\n".join(f["message"] for f in found)
    by_key = {(f["rule_id"], f["check"], f["position_id"] or ""): f for f in found}
    for e in case["expect"]:
        f = by_key[(e["rule_id"], e["check"], e.get("position_id") or "")]
        if "observed" in e:
            assert _close(f["observed"], e["observed"]), (f["observed"], e["observed"])
        if "limit" in e:
            assert _close(f["limit"], e["limit"]), (f["limit"], e["limit"])
        if "severity" in e:
            assert f["severity"] == e["severity"]
        for text in e.get("message_contains", []):
            assert text in f["message"], f["message"]
        for text in e.get("remediation_contains", []):
            assert text in f["remediation"], f["remediation"]
