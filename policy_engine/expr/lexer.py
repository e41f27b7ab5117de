"""Tokenizer of the expression language: text -> a flat list of tokens, ending with an ``eof`` token.

Only what the grammar needs is recognised: numbers, 'strings', names, "quoted names" and a
dozen operators. Everything else (``;``, comments, parameters, backticks, ``&&``) is rejected
here with a message that says what to write instead, so nothing SQL-like survives to the parser.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from policy_engine.expr.errors import ExprError

TokenKind = Literal["num", "str", "ident", "qident", "op", "eof"]

_INT64_MAX = 2**63 - 1

# re.ASCII: \s and \d must not accept Unicode spaces/digits that Python would happily convert.
_WS = re.compile(r"\s+", re.ASCII)
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_OPERATORS = ("<=", ">=", "<>", "!=", "==", "-", "+", "*", "/", "%", "=", "<", ">", "(", ")", ",")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.]", re.ASCII)

# Characters with a better message than "unexpected character": each is a way SQL or a programming
# language would let a policy author do something this language deliberately cannot.
_FORBIDDEN: dict[str, tuple[str, str]] = {
    ";": ("';' is not allowed", "an expression is a single condition, not a list of statements"),
    "?": ("query parameters ('?') are not allowed", "write the value itself, e.g. `leverage > 3`"),
    "$": ("query parameters ('$1') are not allowed", "write the value itself, e.g. `leverage > 3`"),
    ":": ("query parameters (':name') are not allowed", "write the value itself, e.g. `leverage > 3`"),
    "@": ("variables ('@name') are not allowed", "write the value itself, e.g. `leverage > 3`"),
    "`": ("backticks are not allowed", 'quote a column name with double quotes, e.g. "my column"'),
    "&": ("'&' is not allowed", "write AND, e.g. `a > 1 and b < 2`"),
    "|": ("'|' is not allowed", "write OR, e.g. `a > 1 or b < 2`"),
    "!": ("'!' is not allowed", "write NOT, e.g. `not (venue = 'binance')`; '!=' means not equal"),
    ".": ("unexpected '.'", 'qualified names (table.column) are not allowed; quote a name with a dot: "a.b"'),
}


@dataclass(frozen=True, slots=True)
class Token:
    """One token; ``pos`` is its 0-based offset in the text, ``text`` its source spelling."""

    kind: TokenKind
    text: str
    pos: int
    value: int | float | str | None = None  # numbers and strings: the decoded value


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises ExprError at the first character that is not allowed."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if m := _WS.match(text, i):
            i = m.end()
        elif text.startswith("--", i) or text.startswith("/*", i):
            hint = "for a double minus write '- -', with a space"
            raise ExprError(f"comments ('{text[i : i + 2]}') are not allowed", i, hint)
        elif m := _NUMBER.match(text, i):
            tokens.append(_number(m.group(), i, text, m.end()))
            i = m.end()
        elif m := _IDENT.match(text, i):
            tokens.append(Token("ident", m.group(), i))
            i = m.end()
        elif ch == "'":
            value, end = _quoted(text, i, "'")
            tokens.append(Token("str", text[i:end], i, value))
            i = end
        elif ch == '"':
            value, end = _quoted(text, i, '"')
            tokens.append(Token("qident", text[i:end], i, _column_name(value, i)))
            i = end
        elif op := next((o for o in _OPERATORS if text.startswith(o, i)), None):
            tokens.append(Token("op", op, i))
            i += len(op)
        elif ch in _FORBIDDEN:
            problem, hint = _FORBIDDEN[ch]
            raise ExprError(problem, i, hint)
        else:
            raise ExprError(f"unexpected character {ch!r}", i)
    tokens.append(Token("eof", "", n))
    return tokens


def _number(spelling: str, pos: int, text: str, end: int) -> Token:
    # "1e", "12abc" and "1.2.3" would otherwise split into a number and a name/dot and give a
    # confusing parser message further on.
    if end < len(text) and _NAME_CHAR.match(text, end):
        stop = end
        while stop < len(text) and _NAME_CHAR.match(text, stop):
            stop += 1
        raise ExprError(f"malformed number '{text[pos:stop]}'", pos, "e.g. 12, 0.5, 1e-3")
    if any(c in spelling for c in ".eE"):
        value: int | float = float(spelling)
        if not math.isfinite(value):
            raise ExprError(f"number '{spelling}' is out of range", pos)
    else:
        value = int(spelling)
        if value > _INT64_MAX:  # Polars literals are at most 64-bit
            raise ExprError(f"integer '{spelling}' is out of range", pos, "write it as a decimal, e.g. 1e20")
    return Token("num", spelling, pos, value)


def _quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """Decode a quoted string or name starting at ``start``; a doubled quote stands for itself."""
    parts: list[str] = []
    i = start + 1
    while True:
        j = text.find(quote, i)
        if j < 0:
            what = "string" if quote == "'" else "quoted column name"
            hint = f"close it with {quote} (write {quote * 2} for a {quote} inside)"
            raise ExprError(f"unterminated {what}", start, hint)
        parts.append(text[i:j])
        if text.startswith(quote * 2, j):
            parts.append(quote)
            i = j + 2
        else:
            return "".join(parts), j + 1


def _column_name(name: str, pos: int) -> str:
    # pl.col() treats "*" as every column and "^...$" as a regular expression over column names:
    # a quoted name must name exactly one column.
    if not name:
        raise ExprError("empty column name", pos)
    if name == "*" or (name.startswith("^") and name.endswith("$")):
        raise ExprError(f'"{name}" is not a column name', pos, "wildcards and patterns are not allowed")
    if any(not c.isprintable() for c in name):
        raise ExprError("column name contains a control character", pos)
    return name
