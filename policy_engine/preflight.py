"""Checks that need both the policy pack and the data, run before anything is evaluated.

* every account's risk profile has a limit in every profile-dependent limit (or a ``default``):
  otherwise a position would be compared with nothing and pass silently;
* every column an expression references exists in the snapshot or among the derived metrics.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import polars as pl

from policy_engine.columns import KNOWN_COLUMNS
from policy_engine.errors import Issue
from policy_engine.model import PolicyPack, Rule
from policy_engine.rules import RULE_KINDS
from policy_engine.rules.limits import covers_profile


def _limit_values(params: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in params.items():
        if isinstance(value, Mapping) or isinstance(value, (int, float)):
            yield key, value


def _rule_label(policy_id: str, rule: Rule) -> str:
    return f"policy {policy_id} / rule {rule.id}"


def profile_issues(pack: PolicyPack, accounts: pl.DataFrame | None, source: str) -> list[Issue]:
    if accounts is None or "risk_profile" not in accounts.columns:
        profiles: list[str | None] = [None]
        counts = {None: 0}
    else:
        vc = accounts.group_by("risk_profile").len()
        counts = dict(zip(vc.get_column("risk_profile").to_list(), vc.get_column("len").to_list()))
        profiles = sorted(counts, key=lambda p: (p is None, p or ""))
    issues: list[Issue] = []
    for policy, rule in pack.rules:
        for key, value in _limit_values(rule.params):
            if not isinstance(value, Mapping):
                continue
            for profile in profiles:
                if not covers_profile(value, profile):
                    who = "no risk_profile" if profile is None else f"risk_profile '{profile}'"
                    issues.append(Issue(
                        source=source, where=_rule_label(policy.id, rule),
                        message=f"{counts.get(profile, 0)} account(s) with {who} have no limit in params.{key}; "
                        f"name the profile or add a `default` (rule file {rule.source.file if rule.source else '?'})",
                    ))
    return issues


def column_issues(pack: PolicyPack, columns: list[str], source: str) -> list[Issue]:
    from policy_engine.expr import columns_of, parse

    available = set(columns) | KNOWN_COLUMNS
    issues: list[Issue] = []
    for policy, rule in pack.rules:
        texts = [rule.where] if rule.where else []
        kind = RULE_KINDS[rule.kind]
        texts += [rule.params[p] for p in (*kind.expression_params, *kind.value_params) if p in rule.params]
        for text in texts:
            missing = sorted(columns_of(parse(text)) - available)
            for name in missing:
                issues.append(Issue(
                    source=source, where=_rule_label(policy.id, rule),
                    message=f"column '{name}' used in `{text}` is not in the positions file",
                ))
    return issues
