"""The expression language of policies: safe, whitelisted conditions compiled to Polars expressions.

Policy authors write conditions such as ``leverage > 1 and stop_loss_price is null``. The text is
untrusted, so it is never handed to a SQL engine or to Python: a tokenizer (lexer.py) and a Pratt
parser (parser.py) build a small frozen syntax tree (nodes.py) from a whitelisted grammar, a light
static type check (check.py) rejects what cannot work, and compile.py builds the Polars expression
from the tree with pl.col, pl.lit and Polars operators. The grammar is documented in parser.py.
"""

from __future__ import annotations

from policy_engine.expr.compile import (
    compile_condition,
    compile_value,
    parse_condition,
    parse_value,
    to_polars,
)
from policy_engine.expr.errors import ExprError
from policy_engine.expr.nodes import FUNCTIONS, Node, columns_of, unknown_columns
from policy_engine.expr.parser import MAX_DEPTH, MAX_LENGTH, parse

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "ExprError",
    "Node",
    "columns_of",
    "compile_condition",
    "compile_value",
    "parse",
    "parse_condition",
    "parse_value",
    "to_polars",
    "unknown_columns",
]
