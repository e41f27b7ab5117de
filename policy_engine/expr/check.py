"""Static type check of a syntax tree: catches `leverage + 'x'` or `a and 3` before any data is read.

The check is deliberately light. A kind is "bool", "num", "str" or "null" when the tree says so
(literals, operators, functions) and "any" for column references, whose types only the data knows:
"any" fits everywhere, so a check never rejects an expression that could be right.
"""

from __future__ import annotations

from typing import Literal as _Literal
from typing import TypeAlias

from policy_engine.expr.errors import ExprError
from policy_engine.expr.nodes import (
    ARITHMETIC,
    BOOLEAN,
    FUNCTIONS,
    Between,
    Binary,
    Call,
    Column,
    InList,
    IsNull,
    Literal,
    Node,
    Unary,
)

Kind: TypeAlias = _Literal["bool", "num", "str", "null", "any"]

_NAMES: dict[str, str] = {
    "bool": "true/false",
    "num": "a number",
    "str": "text",
    "null": "null",
    "any": "a column",
}
_MAX_DECIMALS = 15  # beyond this a float has no more decimal digits to round
# FunctionSpec.args -> the argument kinds it accepts, and how to say so.
_ACCEPTS: dict[str, tuple[tuple[Kind, ...], str]] = {
    "num": (("num", "any"), "numbers"),
    "str": (("str", "any"), "text"),
    "ordered": (("num", "str", "any"), "numbers or text"),
    "same": (("bool", "num", "str", "null", "any"), "values"),
}


def describe(kind: Kind) -> str:
    """How a kind reads in a message: "a number", "text", ..."""
    return _NAMES[kind]


def literal_kind(value: object) -> Kind:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return "bool"
    return "str" if isinstance(value, str) else "num"


def infer(node: Node) -> Kind:
    """The kind of value ``node`` produces; raises ExprError where operand kinds cannot work.

    Each node's children are inferred exactly once, so the check is linear in the size of the tree.
    """
    match node:
        case Literal(value=value):
            return literal_kind(value)
        case Column():
            return "any"
        case Unary(op="not", operand=operand):
            _need_bool(operand, infer(operand), "NOT")
            return "bool"
        case Unary(operand=operand):
            _need_number(operand, infer(operand), "'-'")
            return "num"
        case Binary(op=op, left=left, right=right) if op in BOOLEAN:
            _need_bool(left, infer(left), op.upper())
            _need_bool(right, infer(right), op.upper())
            return "bool"
        case Binary(op=op, left=left, right=right) if op in ARITHMETIC:
            _need_number(left, infer(left), f"'{op}'")
            _need_number(right, infer(right), f"'{op}'")
            return "num"
        case Binary(left=left, right=right):
            _comparable(infer(left), right, infer(right))
            return "bool"
        case Between(operand=operand, low=low, high=high):
            kind = infer(operand)
            _comparable(kind, low, infer(low))
            _comparable(kind, high, infer(high))
            return "bool"
        case InList(operand=operand, values=values):
            kind = infer(operand)
            first = literal_kind(values[0].value)
            for item in values[1:]:
                if (other := literal_kind(item.value)) != first:
                    mixed = f"IN list mixes {describe(first)} and {describe(other)}"
                    raise ExprError(mixed, item.pos, "use values of one kind")
            _comparable(kind, values[0], first)
            return "bool"
        case IsNull(operand=operand):
            infer(operand)
            return "bool"
        case Call():
            return _call(node)
    raise TypeError(f"not an expression node: {node!r}")


def _no_null(node: Node, kind: Kind) -> None:
    # A null literal as an operand makes the result null on every row (and Polars cannot even
    # negate a null-typed value): always a mistake, and one with a well-known fix.
    if kind == "null":
        hint = "test for a missing value with `x IS NULL`; give a default with coalesce(x, 0)"
        raise ExprError("null here would make the result null for every row", node.pos, hint)


def _need_bool(node: Node, kind: Kind, what: str) -> None:
    _no_null(node, kind)
    if kind in ("num", "str"):
        problem = f"{what} needs true/false operands, got {describe(kind)}"
        raise ExprError(problem, node.pos, "compare it, e.g. `leverage > 1`")


def _need_number(node: Node, kind: Kind, what: str) -> None:
    _no_null(node, kind)
    if kind in ("bool", "str"):
        raise ExprError(f"{what} needs numbers, got {describe(kind)}", node.pos)


def _comparable(left: Kind, right_node: Node, right: Kind) -> None:
    """Both sides of a comparison can be compared; errors point at the right-hand side."""
    if right == "null" or left == "null":
        # `x = null` is null for every row in SQL logic: almost always a mistake for IS NULL.
        hint = "use `x IS NULL` or `x IS NOT NULL`"
        raise ExprError("comparison with null is never true", right_node.pos, hint)
    if "any" not in (left, right) and left != right:
        raise ExprError(f"cannot compare {describe(left)} with {describe(right)}", right_node.pos)


def _call(node: Call) -> Kind:
    spec = FUNCTIONS[node.name]
    kinds = [infer(arg) for arg in node.args]
    if node.name == "round" and len(node.args) == 2:
        # Polars rounds to a fixed number of decimals, not to a per-row one.
        decimals = node.args[1]
        if not (
            isinstance(decimals, Literal)
            and type(decimals.value) is int
            and 0 <= decimals.value <= _MAX_DECIMALS
        ):
            problem = f"round() takes a whole number of decimals from 0 to {_MAX_DECIMALS}"
            raise ExprError(problem, decimals.pos, "e.g. round(x, 2)")
        kinds = kinds[:1]
    allowed, wanted = _ACCEPTS[spec.args]
    known: Kind = "any"
    for arg, kind in zip(node.args, kinds):
        if spec.args != "same":  # coalesce(x, null) is pointless but harmless
            _no_null(arg, kind)
        if kind not in allowed:
            raise ExprError(f"{node.name}() needs {wanted}, got {describe(kind)}", arg.pos)
        if kind in ("null", "any"):
            continue
        if known not in ("any", kind):
            raise ExprError(f"{node.name}() mixes {describe(known)} and {describe(kind)}", arg.pos)
        known = kind
    return known if spec.result == "same" else spec.result
