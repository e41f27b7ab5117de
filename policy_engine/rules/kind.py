"""The contract every rule kind fulfils.

A kind is one module exporting ``KIND: RuleKind``: its name, the JSON Schema of its params, and a
pure ``build`` function from a validated rule to Polars expressions. A kind never calls
``collect()``, reads files or knows about reports: the evaluate stage puts every check of every
rule into one lazy plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import polars as pl

from policy_engine.model import MetricSettings, Policy, Rule

# The evaluate stage materialises each check's observed value and limit as these columns before
# anything else is computed; breach, near, message and remediation refer to them instead of
# repeating the (possibly large: tier x profile) limit expression in every place it is used.
OBSERVED = pl.col("__observed")
LIMIT = pl.col("__limit")


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict a rule produces per position (a rule may produce several, e.g. stop_loss).

    ``observed`` and ``limit`` are materialised first as the columns ``OBSERVED`` and ``LIMIT``;
    the other expressions should use those columns. ``applies``: the position is covered by this check (the rule's ``where`` is added by the
    compile stage). ``breach``: the hard limit is crossed. ``near``: inside the near-limit band
    (only consulted when not in breach). A null ``breach`` is no breach: kinds decide explicitly
    where a missing value must fail instead. ``message`` and ``remediation`` are string
    expressions with the numbers in them.
    """

    name: str
    metric: str
    applies: pl.Expr
    observed: pl.Expr
    limit: pl.Expr
    breach: pl.Expr
    message: pl.Expr
    remediation: pl.Expr
    near: pl.Expr | None = None
    description: str = ""  # what this check verifies, in plain language (report, SARIF help)
    scope: str = "position"  # "account": one finding per account (the first breaching position's values)


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What a kind may know besides its own rule: the enclosing policy and pack settings."""

    policy: Policy
    settings: MetricSettings
    condition: Callable[[str], pl.Expr]  # compiles an expression-language condition


@dataclass(frozen=True, slots=True)
class RuleKind:
    name: str
    summary: str  # one sentence: what the kind checks
    params_schema: Mapping[str, Any]
    build: Callable[[Rule, BuildContext], tuple[Check, ...]]
    example: str = ""  # a YAML rule, validated by the registry meta-tests
    # params holding expression-language text, parsed, type-checked and column-checked by validation:
    # conditions (true/false) and values (numbers or text)
    expression_params: tuple[str, ...] = ()
    value_params: tuple[str, ...] = ()
    # semantic checks beyond the schema: (path inside params, message) for each problem
    semantic_check: Callable[[Mapping[str, Any], Policy], list[tuple[tuple[str | int, ...], str]]] | None = None
