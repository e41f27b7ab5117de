"""The syntax tree of the expression language: small frozen dataclasses, and questions about a tree.

A tree is plain data: it can be compared, hashed, printed and walked without Polars. Every node
keeps ``pos``, the offset in the text where it starts, so that later checks (types, unknown
columns) can point at the right place; ``pos`` takes no part in equality, so ``a+1`` and
``a + 1`` give equal trees.

The function whitelist lives here because three stages read it: the parser (name and arity),
the type check (argument kinds) and the compiler (one Polars builder per name).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal as _Literal
from typing import TypeAlias

LiteralValue: TypeAlias = int | float | str | bool | None

ARITHMETIC: frozenset[str] = frozenset({"+", "-", "*", "/", "%"})
COMPARISON: frozenset[str] = frozenset({"=", "!=", "<", "<=", ">", ">="})
BOOLEAN: frozenset[str] = frozenset({"and", "or"})


@dataclass(frozen=True, slots=True)
class Literal:
    """A number, a string, true/false or null."""

    value: LiteralValue
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Column:
    """A reference to a column, by its exact (case-sensitive) name."""

    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Unary:
    """``not x`` or ``-x`` (a minus in front of a number literal is folded into the literal)."""

    op: _Literal["not", "-"]
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, comparison or and/or; ``op`` is normalised (``==`` -> ``=``, ``<>`` -> ``!=``)."""

    op: str
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Between:
    """``operand [NOT] BETWEEN low AND high``, both bounds inclusive."""

    operand: Node
    low: Node
    high: Node
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class InList:
    """``operand [NOT] IN (v1, v2, ...)``; the values are literals only, never columns or queries."""

    operand: Node
    values: tuple[Literal, ...]
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class IsNull:
    """``operand IS [NOT] NULL``."""

    operand: Node
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A call of a whitelisted function; ``name`` is lower case."""

    name: str
    args: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


Node: TypeAlias = Literal | Column | Unary | Binary | Between | InList | IsNull | Call


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """What a function accepts: an argument count and the kind of every argument.

    ``args``: "num" numbers, "str" text, "ordered" numbers or text (all alike), "same" any kind
    (all alike). ``result``: "num", "str" or "same" (the arguments' kind).
    """

    min_args: int
    max_args: int | None  # None: no upper bound
    args: _Literal["num", "str", "ordered", "same"]
    result: _Literal["num", "str", "same"]


FUNCTIONS: dict[str, FunctionSpec] = {
    "abs": FunctionSpec(1, 1, "num", "num"),
    "sqrt": FunctionSpec(1, 1, "num", "num"),
    "ln": FunctionSpec(1, 1, "num", "num"),
    "log10": FunctionSpec(1, 1, "num", "num"),
    "exp": FunctionSpec(1, 1, "num", "num"),
    "round": FunctionSpec(1, 2, "num", "num"),  # round(x, decimals): decimals is a literal 0..15
    "floor": FunctionSpec(1, 1, "num", "num"),
    "ceil": FunctionSpec(1, 1, "num", "num"),
    "least": FunctionSpec(2, None, "ordered", "same"),
    "greatest": FunctionSpec(2, None, "ordered", "same"),
    "coalesce": FunctionSpec(2, None, "same", "same"),
    "lower": FunctionSpec(1, 1, "str", "str"),
    "upper": FunctionSpec(1, 1, "str", "str"),
    "length": FunctionSpec(1, 1, "str", "num"),
}


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-trees of ``node``, left to right."""
    match node:
        case Literal() | Column():
            return ()
        case Unary(operand=operand) | IsNull(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return (left, right)
        case Between(operand=operand, low=low, high=high):
            return (operand, low, high)
        case InList(operand=operand, values=values):
            return (operand, *values)
        case Call(args=args):
            return args
    raise TypeError(f"not an expression node: {node!r}")


def walk(node: Node) -> Iterator[tuple[Node, int]]:
    """Every node with its depth (the root is 1), without recursion: safe on any tree."""
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        yield current, depth
        stack.extend((child, depth + 1) for child in reversed(children(current)))


def columns_of(node: Node) -> frozenset[str]:
    """The names of every column the expression reads."""
    return frozenset(n.name for n, _ in walk(node) if isinstance(n, Column))


def unknown_columns(node: Node, known: set[str] | frozenset[str]) -> list[str]:
    """One message per column the expression reads that is not in ``known``, with a did-you-mean."""
    candidates = sorted(known)
    messages: list[str] = []
    for name in sorted(columns_of(node) - frozenset(known)):
        close = difflib.get_close_matches(name, candidates, n=1)
        suffix = f"; did you mean '{close[0]}'?" if close else ""
        messages.append(f"unknown column '{name}'{suffix}")
    return messages
