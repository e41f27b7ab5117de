"""Parser of the expression language: text -> a type-checked syntax tree (see nodes.py).

The grammar (keywords are case-insensitive, column names are not)::

    expr    := expr OR expr | expr AND expr | NOT expr
             | sum (= == != <> < <= > >=) sum
             | sum [NOT] BETWEEN sum AND sum          (inclusive)
             | sum [NOT] IN (literal, ...)            (literals only: no columns, no subqueries)
             | sum IS [NOT] NULL
             | sum
    sum     := sum (+ | -) product | product
    product := product (* | / | %) unary | unary
    unary   := - unary | primary
    primary := number | 'text' | TRUE | FALSE | NULL | name | "quoted name"
             | function ( expr, ... ) | ( expr )

Functions are the whitelist of nodes.FUNCTIONS. A Pratt parser over the tokens of lexer.py
implements it; binding powers, loosest first: OR < AND < NOT < comparisons < + - < * / % < unary
minus. Comparisons do not chain (``a < b < c`` is an error, not ``(a < b) < c``). The input is
bounded (MAX_LENGTH characters, MAX_DEPTH levels of nesting) so that hostile text fails with an
ExprError instead of exhausting the stack or the CPU.
"""

from __future__ import annotations

from typing import NoReturn

from policy_engine.expr.check import infer
from policy_engine.expr.errors import ExprError
from policy_engine.expr.lexer import Token, tokenize
from policy_engine.expr.nodes import (
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
    walk,
)

MAX_LENGTH = 2_000
MAX_DEPTH = 50

_OR, _AND, _NOT, _CMP, _ADD, _MUL, _NEG = range(1, 8)
_BINARY_POWER: dict[str, int] = {
    "or": _OR, "and": _AND, "+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "%": _MUL,
}  # fmt: skip
# Spelling -> the normalised operator of the tree.
_COMPARISON: dict[str, str] = {
    "=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}  # fmt: skip
_WORDS: frozenset[str] = frozenset({"and", "or", "not", "in", "is", "between", "null", "true", "false"})
# Words of SQL, not of this language: a bare name spelled like one is almost certainly an attempt at
# a query or a statement, so it gets a clear message rather than "unknown column". A column that
# really has such a name can still be written quoted: "order".
SQL_KEYWORDS: frozenset[str] = frozenset(
    {
        "select", "from", "where", "with", "union", "intersect", "except", "join", "into", "values",
        "insert", "update", "delete", "drop", "create", "alter", "truncate", "table", "exec", "execute",
        "group", "order", "having", "limit", "case", "when", "then", "else", "end", "cast", "like",
        "ilike", "rlike", "regexp", "similar", "exists", "distinct", "all", "any", "some", "as", "on",
        "using", "over", "lateral", "unnest", "copy", "attach", "pragma", "install", "load", "grant",
    }
)  # fmt: skip
_VALUE_HINT = "expected a value: a column, a number, 'text', true/false/null, a function call or '('"


def parse(text: str) -> Node:
    """Parse and type-check one expression; raises ExprError pointing at the offending token."""
    if len(text) > MAX_LENGTH:
        problem = f"expression is too long ({len(text)} characters)"
        raise ExprError(problem, MAX_LENGTH, f"at most {MAX_LENGTH} are allowed")
    parser = _Parser(tokenize(text))
    if parser.peek().kind == "eof":
        raise ExprError("empty expression", 0, "write a condition, e.g. `leverage > 1`")
    node = parser.expression(0)
    if (tok := parser.peek()).kind != "eof":
        parser.fail(tok, "expected an operator (and, or, =, +, ...) or the end of the expression")
    # Long flat chains (a + a + a ...) build deep trees without deep parser recursion: bound the tree
    # too, so that the recursive type check and compiler can never exhaust the stack.
    for sub, depth in walk(node):
        if depth > MAX_DEPTH:
            raise _too_deep(sub.pos)
    infer(node)
    return node


def _too_deep(pos: int) -> ExprError:
    return ExprError(
        f"expression is nested too deeply (more than {MAX_DEPTH} levels)",
        pos,
        "simplify it; a long chain of ORs is better written as IN (...)",
    )


def _describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "end of expression"
    shown = tok.text if len(tok.text) <= 30 else tok.text[:27] + "..."
    return f"string {shown}" if tok.kind == "str" else f"token '{shown}'"


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._i = 0
        self._depth = 0

    def peek(self, ahead: int = 0) -> Token:
        return self._tokens[min(self._i + ahead, len(self._tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self._i = min(self._i + 1, len(self._tokens) - 1)
        return tok

    def fail(self, tok: Token, hint: str) -> NoReturn:
        raise ExprError(f"unexpected {_describe(tok)}", tok.pos, hint)

    @staticmethod
    def word(tok: Token) -> str | None:
        """The lower-cased spelling of a bare name (keywords are case-insensitive), else None."""
        return tok.text.lower() if tok.kind == "ident" else None

    def expect(self, text: str, hint: str) -> Token:
        tok = self.next()
        if tok.kind != "op" or tok.text != text:
            self.fail(tok, hint)
        return tok

    def expression(self, min_power: int) -> Node:
        """An expression whose operators all bind at least as tightly as ``min_power``."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _too_deep(self.peek().pos)
            left = self._prefix()
            compared = False
            while (power := self._infix_power()) is not None and power >= min_power:
                if power == _CMP:
                    if compared:
                        hint = "join them with AND: `a < b and b < c`"
                        raise ExprError("comparisons cannot be chained", self.peek().pos, hint)
                    compared = True
                    left = self._comparison(left)
                else:
                    op = self.next().text.lower()
                    left = Binary(op, left, self.expression(power + 1), left.pos)
            return left
        finally:
            self._depth -= 1

    def _infix_power(self) -> int | None:
        tok = self.peek()
        if tok.kind == "op":
            return _CMP if tok.text in _COMPARISON else _BINARY_POWER.get(tok.text)
        word = self.word(tok)
        if word in ("in", "is", "between"):
            return _CMP
        if word == "not" and self.word(self.peek(1)) in ("in", "between"):
            return _CMP
        return _BINARY_POWER.get(word) if word in ("and", "or") else None

    def _prefix(self) -> Node:
        tok = self.next()
        if tok.kind in ("num", "str"):
            return Literal(tok.value, tok.pos)
        if tok.kind == "qident":
            return Column(str(tok.value), tok.pos)
        if tok.kind == "op" and tok.text == "-":
            operand = self.expression(_NEG)
            if isinstance(operand, Literal) and type(operand.value) in (int, float):
                return Literal(-operand.value, tok.pos)  # type: ignore[operator]
            return Unary("-", operand, tok.pos)
        if tok.kind == "op" and tok.text == "(":
            inner = self.expression(0)
            self.expect(")", f"expected ')' to close the '(' at column {tok.pos + 1}")
            return inner
        word = self.word(tok)
        if word is None:
            self.fail(tok, _VALUE_HINT)
        if word in ("true", "false"):
            return Literal(word == "true", tok.pos)
        if word == "null":
            return Literal(None, tok.pos)
        if word == "not":
            return Unary("not", self.expression(_NOT), tok.pos)
        if word in SQL_KEYWORDS:
            raise ExprError(
                f"'{tok.text}' is a SQL keyword, not part of the expression language",
                tok.pos,
                f'queries and statements are not allowed; quote a column with this name: "{tok.text}"',
            )
        if word in _WORDS:
            self.fail(tok, _VALUE_HINT)
        if self.peek().kind == "op" and self.peek().text == "(":
            return self._call(tok)
        return Column(tok.text, tok.pos)

    def _call(self, name_tok: Token) -> Call:
        name = name_tok.text.lower()
        spec = FUNCTIONS.get(name)
        if spec is None:
            allowed = f"allowed functions: {', '.join(sorted(FUNCTIONS))}"
            raise ExprError(f"unknown function '{name_tok.text}'", name_tok.pos, allowed)
        self.next()  # the '('
        args: list[Node] = []
        if self.peek().kind == "op" and self.peek().text == ")":
            self.next()
        else:
            while True:
                args.append(self.expression(0))
                tok = self.next()
                if tok.kind == "op" and tok.text == ")":
                    break
                if not (tok.kind == "op" and tok.text == ","):
                    self.fail(tok, f"expected ',' or ')' in the arguments of {name}()")
        if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
            if spec.max_args is None:
                wanted = f"at least {spec.min_args} arguments"
            elif spec.min_args == spec.max_args:
                wanted = f"{spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
            else:
                wanted = f"{spec.min_args} to {spec.max_args} arguments"
            raise ExprError(f"{name}() takes {wanted}, got {len(args)}", name_tok.pos)
        return Call(name, tuple(args), name_tok.pos)

    def _comparison(self, left: Node) -> Node:
        tok = self.next()
        if tok.kind == "op":
            return Binary(_COMPARISON[tok.text], left, self.expression(_ADD), left.pos)
        negated = self.word(tok) == "not"
        if negated:
            tok = self.next()
        word = self.word(tok)
        if word == "is":
            negated = self.word(self.peek()) == "not"
            if negated:
                self.next()
            if self.word(after := self.next()) != "null":
                self.fail(after, "expected NULL: `x IS NULL` or `x IS NOT NULL`")
            return IsNull(left, negated, left.pos)
        if word == "between":
            low = self.expression(_ADD)
            if self.word(and_tok := self.next()) != "and":
                self.fail(and_tok, "expected AND: `x BETWEEN low AND high`")
            return Between(left, low, self.expression(_ADD), negated, left.pos)
        return InList(left, self._in_values(), negated, left.pos)

    def _in_values(self) -> tuple[Literal, ...]:
        self.expect("(", "expected '(' after IN: a list of values, e.g. IN ('crypto', 'fx')")
        if self.peek().kind == "op" and self.peek().text == ")":
            raise ExprError("empty IN list", self.peek().pos, "list at least one value")
        values: list[Literal] = []
        while True:
            values.append(self._in_value())
            tok = self.next()
            if tok.kind == "op" and tok.text == ")":
                return tuple(values)
            if not (tok.kind == "op" and tok.text == ","):
                self.fail(tok, "expected ',' or ')' in the IN list")

    def _in_value(self) -> Literal:
        # Literals only: no columns, no arithmetic, and above all no subqueries.
        tok = self.next()
        if tok.kind in ("num", "str"):
            return Literal(tok.value, tok.pos)
        if tok.kind == "op" and tok.text == "-" and self.peek().kind == "num":
            return Literal(-self.next().value, tok.pos)  # type: ignore[operator]
        word = self.word(tok)
        if word in ("true", "false"):
            return Literal(word == "true", tok.pos)
        if word == "null":
            raise ExprError("null in an IN list never matches", tok.pos, "use `x IS NULL` instead")
        self.fail(tok, "IN lists hold literal values only: numbers, 'text' or true/false")
