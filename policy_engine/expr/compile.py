"""Syntax tree -> Polars expression, built by hand from pl.col, pl.lit and Polars operators.

Nothing here parses text: the only input is a tree that parse() produced (or a test built), and
the only names that reach Polars are column names (as pl.col) and the whitelisted functions below.

Semantics, where Polars and SQL could differ:
* null follows SQL three-valued logic: comparisons with null give null, ``null and false`` is
  false, ``null or true`` is true. Callers decide what a null verdict means.
* ``/`` is true division (7 / 2 = 3.5, also for integer columns); ``%`` takes the sign of the
  divisor, as in Python (-7 % 2 = 1); integer ``% 0`` is null.
* ``x IN (a, b)`` is ``x = a OR x = b``, so an int column matches 2.0 and a null x gives null.
* least/greatest skip nulls (null only when every argument is null), as in PostgreSQL.
* round() rounds half away from zero (round(2.5) = 3), as SQL does, not to even.
* coalesce() is a chain of fill_null (see _coalesce for the Polars bug it avoids).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import polars as pl

from policy_engine.expr.check import describe, infer
from policy_engine.expr.errors import ExprError
from policy_engine.expr.nodes import (
    Between,
    Binary,
    Call,
    Column,
    InList,
    IsNull,
    Literal,
    Node,
    Unary,
    walk,
)
from policy_engine.expr.parser import parse

_BINARY: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,  # Polars' / is already true division
    "%": lambda a, b: a % b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "and": lambda a, b: a & b,  # Kleene logic on booleans, as SQL
    "or": lambda a, b: a | b,
}


# Built in _build instead: round(), whose second argument is a literal number of decimals (Polars
# rounds every row alike; check.py enforces it), and coalesce() (see _coalesce).
_CALLS: dict[str, Callable[[Sequence[pl.Expr]], pl.Expr]] = {
    "abs": lambda a: a[0].abs(),
    "sqrt": lambda a: a[0].sqrt(),
    "ln": lambda a: a[0].log(),
    "log10": lambda a: a[0].log10(),
    "exp": lambda a: a[0].exp(),
    "floor": lambda a: a[0].floor(),
    "ceil": lambda a: a[0].ceil(),
    "least": lambda a: pl.min_horizontal(*a),
    "greatest": lambda a: pl.max_horizontal(*a),
    "lower": lambda a: a[0].str.to_lowercase(),
    "upper": lambda a: a[0].str.to_uppercase(),
    "length": lambda a: a[0].str.len_chars(),
}


def to_polars(node: Node) -> pl.Expr:
    """The Polars expression computing ``node`` for every row.

    A sub-expression that reads no column (``sqrt(7 / 365)``, ``-abs(2)``) is computed here, once,
    and enters the plan as one plain literal: no work per row, a problem with a constant shows up
    now as an ExprError rather than in the middle of a run, and fewer expression shapes meet the
    Polars 2.1.0 broadcasting bug described in _coalesce.
    """
    if not isinstance(node, Literal) and _is_constant(node):
        return _constant(node)
    return _build(node, to_polars)


def _is_constant(node: Node) -> bool:
    return not any(isinstance(n, Column) for n, _ in walk(node))


def _plain(node: Node) -> pl.Expr:
    """Like to_polars, without computing constants (used to compute them)."""
    return _build(node, _plain)


def _constant(node: Node) -> pl.Expr:
    value, dtype = _constant_value(node)
    return pl.lit(value) if value is not None else pl.lit(None, dtype=dtype)


def _constant_value(node: Node) -> tuple[object, pl.DataType]:
    # Only literals and whitelisted functions reach here: evaluating them reads no data and no file.
    try:
        result = pl.select(_plain(node).alias("value")).to_series()
    except pl.exceptions.PolarsError as error:
        raise ExprError("cannot compute this constant", node.pos, str(error).splitlines()[0]) from error
    return result.item(), result.dtype


def _coalesce(args: tuple[Node, ...], sub: Callable[[Node], pl.Expr]) -> pl.Expr:
    """The first non-null argument, as a chain of fill_null that starts with a column expression.

    Not pl.coalesce: in Polars 2.1.0 both ``pl.coalesce(col, lit)`` over an all-null column and
    ``lit.fill_null(col)`` give a 1-row result that a comparison with a literal does not broadcast,
    so `sqrt(7 / 365) < coalesce(volatility, 1.2)` fails ("length 1 doesn't match the DataFrame
    height") when volatility is missing everywhere. ``col.fill_null(...)`` keeps one value per row.
    So: constants that are null are dropped, a constant ends the chain (nothing after it can be
    reached), and a leading constant is the answer for every row.
    """
    links: list[pl.Expr] = []
    for arg in args:
        if not _is_constant(arg):
            links.append(sub(arg))
            continue
        value, _ = _constant_value(arg)
        if value is not None:
            links.append(pl.lit(value))
            break
    if not links:  # every argument is a null constant
        return pl.lit(None)
    return functools.reduce(pl.Expr.fill_null, links)


def _build(node: Node, sub: Callable[[Node], pl.Expr]) -> pl.Expr:
    """The Polars expression of ``node``, building its sub-trees with ``sub``."""
    match node:
        case Literal(value=value):
            return pl.lit(value)
        case Column(name=name):
            return pl.col(name)
        case Unary(op="not", operand=operand):
            return ~sub(operand)
        case Unary(operand=operand):
            return -sub(operand)
        case Binary(op=op, left=left, right=right):
            return _BINARY[op](sub(left), sub(right))
        case Between(operand=operand, low=low, high=high, negated=negated):
            # Two comparisons joined by AND give exactly SQL's null behaviour (is_between may not).
            tested = sub(operand)
            inside = (tested >= sub(low)) & (tested <= sub(high))
            return ~inside if negated else inside
        case InList(operand=operand, values=values, negated=negated):
            # is_in() refuses an Int64 column against float values since Polars 2.0; an OR of
            # equalities compares like `=` does and keeps SQL's null semantics.
            tested = sub(operand)
            found = pl.any_horizontal(*(tested == pl.lit(v.value) for v in values))
            return ~found if negated else found
        case IsNull(operand=operand, negated=negated):
            inner = sub(operand)
            return inner.is_not_null() if negated else inner.is_null()
        case Call(name="round", args=(value,)):
            return sub(value).round(0, mode="half_away_from_zero")
        case Call(name="round", args=(value, Literal(value=int() as decimals))):
            return sub(value).round(decimals, mode="half_away_from_zero")
        case Call(name="coalesce", args=args):
            return _coalesce(args, sub)
        case Call(name=name, args=args) if name in _CALLS:
            return _CALLS[name]([sub(arg) for arg in args])
    raise TypeError(f"not an expression node: {node!r}")


def parse_condition(text: str) -> Node:
    """parse(), plus the check that the expression is true/false (a bare column may be boolean)."""
    node = parse(text)
    kind = infer(node)
    if kind not in ("bool", "any"):
        raise ExprError(
            f"a condition must be true/false, but this expression gives {describe(kind)}",
            node.pos,
            "compare it, e.g. `leverage > 1`",
        )
    return node


def parse_value(text: str) -> Node:
    """parse(), plus the check that the expression gives a number or text, not true/false."""
    node = parse(text)
    kind = infer(node)
    if kind in ("bool", "null"):
        raise ExprError(
            f"a value must be a number or text, but this expression gives {describe(kind)}",
            node.pos,
            "e.g. `abs(mark_price - entry_price) / entry_price`",
        )
    return node


def compile_condition(text: str) -> pl.Expr:
    """A true/false expression (a rule's ``where``, an expression rule's condition) as Polars."""
    return to_polars(parse_condition(text))


def compile_value(text: str) -> pl.Expr:
    """A number or text expression (e.g. the observed value an expression rule reports) as Polars."""
    return to_polars(parse_value(text))
