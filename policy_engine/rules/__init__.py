"""The registry of rule kinds: one explicit tuple, no import-time registration.

Adding a kind = one module in this package, one line in ``_KINDS``, one YAML case file in
tests/rules/cases/.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from policy_engine.rules import expression, leverage_tiers, liquidation_buffer, max_allocation, stop_loss
from policy_engine.rules.kind import BuildContext, Check, RuleKind

_KINDS: tuple[RuleKind, ...] = (
    max_allocation.KIND,
    leverage_tiers.KIND,
    stop_loss.KIND,
    liquidation_buffer.KIND,
    expression.KIND,
)

RULE_KINDS: Mapping[str, RuleKind] = MappingProxyType({k.name: k for k in _KINDS})

__all__ = ["RULE_KINDS", "BuildContext", "Check", "RuleKind"]
