"""Compile a validated policy pack into checks: Polars expressions, nothing evaluated yet."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from policy_engine.model import Policy, PolicyPack, Rule
from policy_engine.rules import RULE_KINDS, BuildContext, Check


@dataclass(frozen=True, slots=True)
class CompiledCheck:
    policy: Policy
    rule: Rule
    check: Check
    applies: pl.Expr  # the rule's `where` and the check's own coverage, nulls as False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.policy.id, self.rule.id, self.check.name)


def compile_pack(pack: PolicyPack) -> tuple[CompiledCheck, ...]:
    """Every check of every rule of every policy, in pack order."""
    from policy_engine.expr import compile_condition

    out: list[CompiledCheck] = []
    for policy, rule in pack.rules:
        kind = RULE_KINDS[rule.kind]
        ctx = BuildContext(policy=policy, settings=pack.settings, condition=compile_condition)
        where = compile_condition(rule.where) if rule.where else pl.lit(True)
        for check in kind.build(rule, ctx):
            # anchored to a required column so a literal condition still counts one per position
            applies = (pl.col("account_id").is_not_null() & where & check.applies).fill_null(False)
            out.append(CompiledCheck(policy, rule, check, applies))
    return tuple(out)


def referenced_columns(compiled: tuple[CompiledCheck, ...]) -> frozenset[str]:
    """Columns the compiled checks read (to decide, e.g., whether account aggregates are needed)."""
    names: set[str] = set()
    for c in compiled:
        for e in (c.applies, c.check.observed, c.check.limit, c.check.breach, c.check.message, c.check.remediation):
            names.update(e.meta.root_names())
        if c.check.near is not None:
            names.update(c.check.near.meta.root_names())
    return frozenset(names)
