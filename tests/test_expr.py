"""The expression language: what it computes, what it refuses, and where it says the problem is.

Expected values are worked out by hand in the comments next to them. Null follows SQL
three-valued logic: a comparison with null is null, ``null and false`` is false.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.columns import KNOWN_COLUMNS
from policy_engine.expr import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    ExprError,
    columns_of,
    compile_condition,
    compile_value,
    parse,
    parse_condition,
    parse_value,
    to_polars,
    unknown_columns,
)
from policy_engine.expr.nodes import Between, Binary, Call, Column, InList, IsNull, Literal, Unary

POSITIONS = pl.DataFrame(
    {
        "leverage": [1.0, 3.0, None, 5.0],
        "stop_loss_price": [None, 90.0, None, 10.0],
        "asset_class": ["crypto", "fx", "equity", None],
        "venue": ["binance", "okx", "binance", "okx"],
        "x": [1, 2, 3, None],
        "mark_price": [110.0, 95.0, 100.0, 50.0],
        "entry_price": [100.0, 100.0, 100.0, 100.0],
    }
)


def evaluate(text: str, frame: pl.DataFrame = POSITIONS, *, value: bool = False) -> list[Any]:
    expr = compile_value(text) if value else compile_condition(text)
    # with_columns broadcasts an expression without columns (`1 + 2 * 3 = 7`) to every row.
    return frame.with_columns(expr.alias("__result"))["__result"].to_list()


# --- what conditions compute -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # leverage > 1: [F, T, null, T]; stop_loss_price is null: [T, F, T, F]; AND (Kleene):
        ("leverage > 1 and stop_loss_price is null", [False, False, None, False]),
        # leverage >= 3: [F, T, null, T]; stop_loss_price is not null: [F, T, F, T]; OR: null or F = null
        ("leverage >= 3 or stop_loss_price IS NOT NULL", [False, True, None, True]),
        # null or true = true, null and false = false
        ("leverage > 1 or true", [True, True, True, True]),
        ("leverage > 1 and false", [False, False, False, False]),
        ("not (leverage > 1)", [True, False, None, False]),
        ("asset_class in ('crypto', 'fx')", [True, True, False, None]),
        ("asset_class NOT IN ('crypto', 'fx')", [False, False, True, None]),
        # in: [T, T, F, null]; not venue = 'binance': [F, T, F, T]
        ("asset_class in ('crypto', 'fx') and not (venue = 'binance')", [False, True, False, None]),
        # BETWEEN is inclusive at both ends: 1 and 3 are inside, 5 is not
        ("leverage between 1 and 3", [True, True, None, False]),
        ("leverage NOT BETWEEN 1 AND 3", [False, False, None, True]),
        ("x between x - 1 and 2", [True, True, False, None]),
        ("x is not null", [True, True, True, False]),
        ("x is null", [False, False, False, True]),
        # * before +: x + 6 = 7 only for x = 1
        ("x + 2 * 3 = 7", [True, False, False, None]),
        # parentheses: (x + 2) * 3 = 9 only for x = 1
        ("(x + 2) * 3 = 9", [True, False, False, None]),
        ("1 + 2 * 3 = 7", [True, True, True, True]),
        ("10 - 4 - 3 = 3", [True, True, True, True]),  # left-associative: (10 - 4) - 3
        ("-x < -1", [False, True, True, None]),
        ("-x * 2 = -4", [False, True, False, None]),  # (-x) * 2: -2, -4, -6
        ("2 - -x = 3", [True, False, False, None]),  # 2 + x: 3, 4, 5
        ("x / 2 = 1.5", [False, False, True, None]),  # true division on an integer column
        ("7 / 2 = 3.5", [True, True, True, True]),
        ("x % 2 = 1", [True, False, True, None]),
        ("x == 2", [False, True, False, None]),
        ("x <> 2", [True, False, True, None]),
        ("x != 2", [True, False, True, None]),
        ("x <= 2", [True, True, False, None]),
        ("x in (2, 3.0)", [False, True, True, None]),  # an int column matches 3.0
        ("x in (-1, 1)", [True, False, False, None]),
        ("1e-3 * 1000 = 1 and 2.5E1 = 25", [True, True, True, True]),
        # |mark - entry| / entry: 0.10, 0.05, 0.00, 0.50
        ("abs(mark_price - entry_price) / entry_price >= 0.1", [True, False, False, True]),
        ("ABS(mark_price - entry_price) / entry_price >= 0.1 Or venue <> 'okx'", [True, False, True, True]),
        # coalesce(leverage, 4): 1, 3, 4, 5; sqrt(4) = 2, so the limit is 2 * 1.5 = 3
        ("coalesce(leverage, 4) < sqrt(4) * 1.5", [True, False, False, False]),
        ("lower(venue) = 'binance' and length(venue) = 7", [True, False, True, False]),
    ],
)
def test_conditions_evaluate_to_hand_computed_values(text: str, expected: list[bool | None]) -> None:
    assert evaluate(text) == expected


def test_strings_escape_a_quote_by_doubling_it() -> None:
    frame = pl.DataFrame({"client_name": ["O'Brien", "OBrien", None]})
    assert evaluate("client_name = 'O''Brien'", frame) == [True, False, None]


def test_double_quoted_names_are_columns_and_may_hold_spaces_or_keywords() -> None:
    frame = pl.DataFrame({"my col": [1, 5], "select": ["a", "b"]})
    assert evaluate('"my col" > 2 or "select" = \'a\'', frame) == [True, True]
    assert evaluate('"my col" > 2', frame) == [False, True]
    assert columns_of(parse('"my col" > 2 or "select" = \'a\'')) == {"my col", "select"}


def test_a_bare_column_is_a_condition_when_it_holds_booleans() -> None:
    frame = pl.DataFrame({"is_hedged": [True, False, None]})
    assert evaluate("is_hedged", frame) == [True, False, None]
    assert evaluate("not is_hedged", frame) == [False, True, None]


# One row per whitelisted function, so a new function without a test fails below.
FUNCTION_CASES: dict[str, tuple[str, list[Any]]] = {
    "abs": ("abs(a)", [4.0, 2.25, None]),
    "sqrt": ("sqrt(abs(a))", [2.0, 1.5, None]),
    "ln": ("ln(b)", [0.0, None, 1.0986122886681098]),  # ln 3
    "log10": ("log10(b * 100)", [2.0, None, 2.4771212547196626]),  # log10 300
    "exp": ("exp(b - 1)", [1.0, None, 7.38905609893065]),  # e^2
    "round": ("round(a, 1)", [-4.0, 2.3, None]),  # 2.25 -> 2.3: half away from zero
    "floor": ("floor(a)", [-4.0, 2.0, None]),
    "ceil": ("ceil(a)", [-4.0, 3.0, None]),
    "least": ("least(a, b)", [-4.0, 2.25, 3.0]),  # nulls are skipped
    "greatest": ("greatest(a, b, 0)", [1.0, 2.25, 3.0]),
    "coalesce": ("coalesce(a, b, 0)", [-4.0, 2.25, 3.0]),
    "lower": ("lower(s)", ["btc", "eth", None]),
    "upper": ("upper(s)", ["BTC", "ETH", None]),
    "length": ("length(s)", [3, 3, None]),
}
FUNCTION_FRAME = pl.DataFrame({"a": [-4.0, 2.25, None], "b": [1.0, None, 3.0], "s": ["BtC", "eth", None]})


def test_every_whitelisted_function_has_a_case() -> None:
    assert set(FUNCTION_CASES) == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_functions_compute_hand_computed_values(name: str) -> None:
    text, expected = FUNCTION_CASES[name]
    assert evaluate(text, FUNCTION_FRAME, value=True) == pytest.approx(expected, nan_ok=False)


def test_round_is_half_away_from_zero_and_modulo_takes_the_sign_of_the_divisor() -> None:
    frame = pl.DataFrame({"v": [2.5, -2.5, 0.5], "n": [-7, 7, 6]})
    assert evaluate("round(v)", frame, value=True) == [3.0, -3.0, 1.0]
    # Python/Polars modulo: -7 % 2 = 1, 7 % -2 = -1 (SQL engines would give -1 and 1)
    assert evaluate("n % 2", frame, value=True) == [1, 1, 0]
    assert evaluate("n % -2", frame, value=True) == [-1, -1, 0]


def test_coalesce_over_an_all_null_column_keeps_one_value_per_row() -> None:
    # Regression (found by the property below): pl.coalesce(col, lit) over an all-null column gave
    # a 1-row result in Polars 2.1.0 that `literal < ...` did not broadcast. sqrt(7/365) = 0.138.
    frame = pl.DataFrame({"volatility": [None, None]}, schema={"volatility": pl.Float64})
    assert evaluate("sqrt(7 / 365) < coalesce(volatility, 1.2)", frame) == [True, True]
    assert evaluate("abs(0) >= coalesce(volatility, volatility, 0)", frame) == [True, True]
    assert evaluate("0.5 < coalesce(1, volatility)", frame) == [True, True]
    # null, then 5 % 0 (integer modulo by zero is null), then the column, then 2: the 2 wins
    assert evaluate("coalesce(null, 5 % 0, volatility, 2) * 1.5", frame, value=True) == [3.0, 3.0]
    assert evaluate("coalesce(null, null) is null", frame) == [True, True]


def test_compile_value_keeps_numbers_and_text() -> None:
    assert evaluate("mark_price / entry_price", value=True) == pytest.approx([1.1, 0.95, 1.0, 0.5])
    assert evaluate("upper(venue)", value=True) == ["BINANCE", "OKX", "BINANCE", "OKX"]


# --- the tree ------------------------------------------------------------------------------------


def test_trees_compare_by_structure_not_spelling() -> None:
    assert parse("a+1") == parse("  a  +  1 ")
    assert parse("a == 1") == parse("a = 1")
    assert parse("a <> 1") == parse("a != 1")
    assert parse("x between 1 and 2 AND y IS NULL") == parse("x BETWEEN 1 and 2 and y is null")
    assert parse("A > 1") != parse("a > 1")  # column names are case-sensitive


def test_precedence_and_associativity() -> None:
    a, b, c = Column("a"), Column("b"), Column("c")
    assert parse("1 + 2 * 3") == Binary("+", Literal(1), Binary("*", Literal(2), Literal(3)))
    assert parse("a - b - c") == Binary("-", Binary("-", a, b), c)
    assert parse("a or b and c") == Binary("or", a, Binary("and", b, c))
    assert parse("not a = 1 and b") == Binary("and", Unary("not", Binary("=", a, Literal(1))), b)
    assert parse("-a * b") == Binary("*", Unary("-", a), b)
    assert parse("-2") == Literal(-2)
    assert parse("a + 1 between 0 and b * 2") == Between(
        Binary("+", a, Literal(1)), Literal(0), Binary("*", b, Literal(2))
    )
    assert parse("a not in (1, -2)") == InList(a, (Literal(1), Literal(-2)), negated=True)
    assert parse("a is not null") == IsNull(a, negated=True)
    assert parse("Least(a, 1)") == Call("least", (a, Literal(1)))


def test_nodes_remember_where_they_start() -> None:
    node = parse("leverage > 1 and   venue = 'x'")
    assert isinstance(node, Binary)
    assert node.right.pos == len("leverage > 1 and   ")


def test_columns_of_collects_every_referenced_name() -> None:
    node = parse("coalesce(volatility, 1.2) * sqrt(7 / 365) < liq_distance")
    assert columns_of(node) == frozenset({"volatility", "liq_distance"})
    node = parse("x between lo and hi and y in (1) and z is null and not w")
    assert columns_of(node) == frozenset({"x", "lo", "hi", "y", "z", "w"})
    assert columns_of(parse("1 < 2")) == frozenset()


def test_unknown_columns_suggest_the_closest_known_name() -> None:
    node = parse("leverge > 1 and venue = 'x' and zzz is null")
    assert unknown_columns(node, KNOWN_COLUMNS) == [
        "unknown column 'leverge'; did you mean 'leverage'?",
        "unknown column 'zzz'",
    ]
    known = {"leverage", "venue"}
    assert unknown_columns(parse("Leverage > 1"), known) == [
        "unknown column 'Leverage'; did you mean 'leverage'?"
    ]
    assert unknown_columns(parse("leverage > 1 and venue = 'x'"), known) == []


# --- what is refused, and where -----------------------------------------------------------------

INJECTIONS: list[tuple[str, str]] = [
    # (payload, the text the error must point at)
    ("x IN (SELECT a FROM read_csv('/etc/hostname'))", "SELECT"),
    ("read_csv('/etc/hostname') is null", "read_csv"),
    ("read_parquet('x')", "read_parquet"),
    ("1; DROP TABLE t", ";"),
    ("x = 1 -- comment", "--"),
    ("x = 1 /* comment */", "/*"),
    ("(SELECT 1) = 1", "SELECT"),
    ("x in (select 1)", "select"),
    ("x IN (y)", "y"),
    ("x IN (1 + 1)", "+"),
    ("x = 1 union select 1", "union"),
    ("x = $1", "$"),
    ("x = ?", "?"),
    ("`x` = 1", "`"),
    ("x = 1 && y = 2", "&"),
    ("pl.col('x') > 1", "."),
    ("__import__('os') is null", "__import__"),
    ("eval('1') = 1", "eval"),
    ('"*" is null', '"*"'),
    ('"^.*$" is null', '"^.*$"'),
    ("x = 'unterminated", "'"),
    ("exists (x) ", "exists"),
]


@pytest.mark.parametrize(("text", "culprit"), INJECTIONS)
def test_hostile_text_is_refused_at_the_offending_token(text: str, culprit: str) -> None:
    with pytest.raises(ExprError) as caught:
        compile_condition(text)
    assert caught.value.offset == text.index(culprit)


def test_a_subquery_cannot_read_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\nTOP-SECRET-LINE\n")
    text = f"x IN (SELECT a FROM read_csv('{secret}'))"
    with pytest.raises(ExprError) as caught:
        compile_condition(text)
    assert "TOP-SECRET-LINE" not in str(caught.value)
    hint = "IN lists hold literal values only: numbers, 'text' or true/false"
    assert str(caught.value) == f"unexpected token 'SELECT' at column 7: {hint}"
    assert caught.value.message == f"unexpected token 'SELECT': {hint}"  # without the location
    assert caught.value.column == 7


def test_unknown_functions_list_the_allowed_ones() -> None:
    with pytest.raises(
        ExprError, match=r"unknown function 'read_csv'.*allowed functions: abs, ceil, coalesce,"
    ):
        parse("read_csv('/etc/hostname') is null")


def test_sql_keywords_are_not_column_names() -> None:
    with pytest.raises(ExprError, match="'select' is a SQL keyword") as caught:
        parse("leverage > 1 and select > 2")
    assert caught.value.offset == len("leverage > 1 and ")


def test_input_size_is_bounded() -> None:
    with pytest.raises(ExprError, match="too long") as caught:
        parse("(" * 10_000)
    assert caught.value.offset == MAX_LENGTH
    long_text = " or ".join(["leverage = 1"] * 400)  # 400 * 12 + 399 * 4 = 6396 characters
    assert len(long_text) == 6396
    with pytest.raises(ExprError, match="too long"):
        parse(long_text)
    parse("x = 1" + " " * (MAX_LENGTH - 5))  # exactly at the limit is fine


def test_nesting_is_bounded_without_recursion_errors() -> None:
    # Each '(' opens one more level; the top level is the first, so the 50th '(' opens level 51.
    text = "(" * 60 + "x" + ")" * 60
    with pytest.raises(ExprError, match="nested too deeply") as caught:
        parse(text)
    assert caught.value.offset == 50
    with pytest.raises(ExprError, match="nested too deeply"):
        parse("not " * 100 + "x")
    with pytest.raises(ExprError, match="nested too deeply"):
        parse(" + ".join(["x"] * 100) + " > 1")  # a flat chain still builds a deep tree
    assert parse("(" * 40 + "x > 1" + ")" * 40) == parse("x > 1")
    assert MAX_DEPTH == 50


@pytest.mark.parametrize(
    ("text", "problem", "culprit"),
    [
        ("leverage * 2", "a condition must be true/false, but this expression gives a number", "leverage"),
        ("'abc'", "a condition must be true/false, but this expression gives text", "'abc'"),
        ("1 + true", "'+' needs numbers, got true/false", "true"),
        ("x > 1 and 2", "AND needs true/false operands, got a number", "2"),
        ("not 'a'", "NOT needs true/false operands, got text", "'a'"),
        ("'a' = 1", "cannot compare text with a number", "1"),
        ("x = null", "comparison with null is never true", "null"),
        ("x in (1, 'a')", "IN list mixes a number and text", "'a'"),
        ("x in (1, null)", "null in an IN list never matches", "null"),
        ("not null", "null here would make the result null for every row", "null"),
        ("x + null > 1", "null here would make the result null for every row", "null"),
        ("abs(null) > 1", "null here would make the result null for every row", "null"),
        ("x in ()", "empty IN list", ")"),
        ("a < b < c", "comparisons cannot be chained", "< c"),
        ("abs(x, 1) > 0", "abs() takes 1 argument, got 2", "abs"),
        ("least(x) > 0", "least() takes at least 2 arguments, got 1", "least"),
        ("round(x, 1, 2) > 0", "round() takes 1 to 2 arguments, got 3", "round"),
        ("round(x, y) > 0", "round() takes a whole number of decimals from 0 to 15", "y"),
        ("lower(1) = 'a'", "lower() needs text, got a number", "1"),
        ("greatest(1, 'a') = 1", "greatest() mixes a number and text", "'a'"),
        ("x is true", "unexpected token 'true'", "true"),
        ("x > ", "unexpected end of expression", ""),
        ("x > 1)", "unexpected token ')'", ")"),
        ("(x > 1", "unexpected end of expression", ""),
        ("x ! 1", "'!' is not allowed", "!"),
        ("x = 12abc", "malformed number '12abc'", "12abc"),
        ("x > 99999999999999999999", "integer '99999999999999999999' is out of range", "9"),
        ("", "empty expression", ""),
        ("x = 'é' or é = 1", "unexpected character 'é'", "é ="),
    ],
)
def test_mistakes_are_explained_at_their_position(text: str, problem: str, culprit: str) -> None:
    with pytest.raises(ExprError) as caught:
        compile_condition(text)
    assert caught.value.problem == problem
    assert caught.value.offset == (text.index(culprit) if culprit else len(text))


def test_parse_condition_and_parse_value_check_the_kind_without_compiling() -> None:
    # What the validate stage calls, so that `where: leverage * 2` is reported with its position.
    assert parse_condition("leverage > 1") == parse("leverage > 1")
    assert parse_value("leverage * 2") == parse("leverage * 2")
    with pytest.raises(
        ExprError, match="a condition must be true/false, but this expression gives a number"
    ) as caught:
        parse_condition("  leverage * 2")
    assert caught.value.offset == 2
    with pytest.raises(ExprError) as caught:
        parse("x > 1 or (leverage * 2)")  # parse() alone already checks the operands
    assert caught.value.problem == "OR needs true/false operands, got a number"
    assert caught.value.offset == len("x > 1 or (")
    with pytest.raises(ExprError, match="a value must be a number or text"):
        parse_value("leverage > 2")


def test_compile_value_refuses_a_condition() -> None:
    with pytest.raises(
        ExprError, match="a value must be a number or text, but this expression gives true/false"
    ):
        compile_value("leverage > 1")
    with pytest.raises(ExprError, match="a value must be a number or text, but this expression gives null"):
        compile_value("null")


def test_expr_error_survives_pickling() -> None:
    error = ExprError("unexpected token 'x'", 3, "expected a value")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problem, copy.offset, copy.hint, str(copy)) == (
        "unexpected token 'x'",
        3,
        "expected a value",
        "unexpected token 'x' at column 4: expected a value",
    )


# --- nothing in the package may hand text to a SQL engine or to Python ---------------------------

FORBIDDEN = re.compile(r"sql_expr|SQLContext|\.sql\s*\(|\b(?:eval|exec)\s*\(")


def test_the_forbidden_pattern_catches_what_it_must() -> None:
    bad_lines = (
        "pl.sql_expr(text)",
        "pl.sql(query)",
        "lf.sql('SELECT 1')",
        "pl.SQLContext()",
        "eval(t)",
        "exec (t)",
    )
    for bad in bad_lines:
        assert FORBIDDEN.search(bad), bad
    for fine in ("ast.literal_eval(t)", "evaluate(t)", "executor(t)", "sql_keywords"):
        assert not FORBIDDEN.search(fine), fine


def test_no_module_of_the_package_can_run_sql_or_python_text() -> None:
    package = Path(policy_engine.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert package / "expr" / "parser.py" in sources  # the scan looks at the right place
    offenders = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert offenders == []


# --- properties ------------------------------------------------------------------------------------

Row = dict[str, int | None]
Num = tuple[str, Callable[[Row], int | None]]
Cond = tuple[str, Callable[[Row], bool | None]]


def _arith(parts: tuple[Num, str, Num]) -> Num:
    (lt, lf), op, (rt, rf) = parts
    ops: dict[str, Callable[[int, int], int]] = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__}

    def ref(r: Row) -> int | None:
        left, right = lf(r), rf(r)
        return None if left is None or right is None else ops[op](left, right)

    return f"({lt} {op} {rt})", ref


def _neg(term: Num) -> Num:
    text, f = term
    return f"-({text})", lambda r: None if (v := f(r)) is None else -v


def _mod(parts: tuple[Num, int]) -> Num:
    (text, f), k = parts
    return f"({text} % {k})", lambda r: None if (v := f(r)) is None else v % k  # Python's floored modulo


def _call(parts: tuple[str, Num, Num]) -> Num:
    name, (lt, lf), (rt, rf) = parts

    def ref(r: Row) -> int | None:
        values = [lf(r), rf(r)]
        present = [v for v in values if v is not None]
        if name == "coalesce":
            return present[0] if present else None
        if not present:
            return None
        return min(present) if name == "least" else max(present)  # least/greatest skip nulls

    return f"{name}({lt}, {rt})", ref


def _abs(term: Num) -> Num:
    text, f = term
    return f"abs({text})", lambda r: None if (v := f(r)) is None else abs(v)


NUMS: st.SearchStrategy[Num] = st.recursive(
    st.one_of(
        st.sampled_from(["a", "b"]).map(lambda c: (c, lambda r: r[c])),
        st.integers(-5, 5).map(lambda k: (str(k), lambda r: k)),
    ),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from("+-*"), inner).map(_arith),
        inner.map(_neg),
        st.tuples(inner, st.integers(1, 4) | st.integers(-4, -1)).map(_mod),
        st.tuples(st.sampled_from(["least", "greatest", "coalesce"]), inner, inner).map(_call),
        inner.map(_abs),
    ),
    max_leaves=6,  # |value| <= 20**6: far from Int64 overflow
)

_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "=": int.__eq__, "==": int.__eq__, "!=": int.__ne__, "<>": int.__ne__,
    "<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__,
}  # fmt: skip


def _and(x: bool | None, y: bool | None) -> bool | None:
    if x is False or y is False:
        return False
    return None if x is None or y is None else True


def _or(x: bool | None, y: bool | None) -> bool | None:
    if x is True or y is True:
        return True
    return None if x is None or y is None else False


def _not(x: bool | None) -> bool | None:
    return None if x is None else not x


def _compare(parts: tuple[Num, str, Num]) -> Cond:
    (lt, lf), op, (rt, rf) = parts

    def ref(r: Row) -> bool | None:
        left, right = lf(r), rf(r)
        return None if left is None or right is None else _COMPARE[op](left, right)

    return f"{lt} {op} {rt}", ref


def _between(parts: tuple[Num, Num, Num, bool]) -> Cond:
    (t, f), (lt, lf), (ht, hf), negated = parts

    def ref(r: Row) -> bool | None:
        v, low, high = f(r), lf(r), hf(r)
        above = None if v is None or low is None else v >= low
        below = None if v is None or high is None else v <= high
        inside = _and(above, below)
        return _not(inside) if negated else inside

    return f"{t} {'NOT ' if negated else ''}BETWEEN {lt} AND {ht}", ref


def _in(parts: tuple[Num, list[int], bool]) -> Cond:
    (t, f), values, negated = parts

    def ref(r: Row) -> bool | None:
        v = f(r)
        found = None if v is None else v in values
        return _not(found) if negated else found

    return f"{t} {'not in' if negated else 'in'} ({', '.join(map(str, values))})", ref


def _is_null(parts: tuple[Num, bool]) -> Cond:
    (t, f), negated = parts
    return f"{t} is {'not ' if negated else ''}null", lambda r: (f(r) is None) != negated


def _logic(parts: tuple[Cond, str, Cond]) -> Cond:
    (lt, lf), op, (rt, rf) = parts
    combine = _and if op.lower() == "and" else _or
    return f"({lt}) {op} ({rt})", lambda r: combine(lf(r), rf(r))


CONDS: st.SearchStrategy[Cond] = st.recursive(
    st.one_of(
        st.tuples(NUMS, st.sampled_from(sorted(_COMPARE)), NUMS).map(_compare),
        st.tuples(NUMS, NUMS, NUMS, st.booleans()).map(_between),
        st.tuples(NUMS, st.lists(st.integers(-5, 5), min_size=1, max_size=4), st.booleans()).map(_in),
        st.tuples(NUMS, st.booleans()).map(_is_null),
    ),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "AND", "or", "Or"]), inner).map(_logic),
        inner.map(lambda c: (f"not ({c[0]})", lambda r: _not(c[1](r)))),
    ),
    max_leaves=4,
)
CELLS = st.none() | st.integers(-20, 20)


@settings(max_examples=100, deadline=None)
@given(
    cond=CONDS,
    rows=st.lists(st.tuples(CELLS, CELLS), min_size=1, max_size=8),
    dtype=st.sampled_from([pl.Int64, pl.Float64]),  # whole numbers: the same answers either way
)
def test_compiled_conditions_agree_with_a_python_reference(
    cond: Cond, rows: list[tuple[int | None, int | None]], dtype: pl.DataType
) -> None:
    text, reference = cond
    columns = {"a": [a for a, _ in rows], "b": [b for _, b in rows]}
    frame = pl.DataFrame(columns, schema={"a": dtype, "b": dtype})
    expected = [reference({"a": a, "b": b}) for a, b in rows]
    assert evaluate(text, frame) == expected, text


_FUZZ_TOKENS = [
    "a", "b", "1", "2.5", "-", "+", "*", "/", "%", "(", ")", ",", "=", "<>", "<", ">=", "and", "or", "not",
    "in", "is", "null", "between", "true", "'s'", '"c"', "abs", "least", "round", "select", ";", "--", "'",
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40) | st.lists(st.sampled_from(_FUZZ_TOKENS), max_size=14).map(" ".join))
def test_any_text_either_compiles_or_raises_expr_error(text: str) -> None:
    try:
        expr = compile_condition(text)
    except ExprError as error:
        assert 0 <= error.offset <= len(text)
    else:
        assert isinstance(expr, pl.Expr)
        assert isinstance(to_polars(parse(text)), pl.Expr)
