"""Validation of positions and accounts: every problem is reported, located by file, column and row."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from policy_engine.data import load_inputs
from policy_engine.errors import DataError, Issue

HEADER = (
    "account_id,symbol,side,quantity,entry_price,mark_price,"
    "leverage,isolated_margin,margin_mode,stop_loss_price"
)
GOOD = "A1,BTCUSDT,long,1,100,101,2,,isolated,90"


def csv(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def problems(*args: object, **kwargs: object) -> tuple[Issue, ...]:
    with pytest.raises(DataError) as err:
        load_inputs(*args, **kwargs)  # type: ignore[arg-type]
    return err.value.issues


def with_cell(column: str, value: str, header: str = HEADER, row: str = GOOD) -> str:
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    cells[column] = value
    return ",".join(cells.values())


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("quantity", "-3", "must be > 0 (got -3)"),
        ("quantity", "0", "must be > 0 (got 0)"),
        ("entry_price", "abc", "must be a number (got abc)"),
        ("entry_price", '"1,5"', "must be a number (got 1,5)"),
        ("mark_price", "", "is required"),
        ("account_id", "  ", "is required"),
        ("symbol", "", "is required"),
        ("quantity", "NaN", "must be a finite number (got NaN)"),
        ("mark_price", "inf", "must be a finite number (got inf)"),
        ("leverage", "0.5", "must be >= 1 (got 0.5)"),
        ("isolated_margin", "-10", "must be > 0 (got -10)"),
        ("stop_loss_price", "0", "must be > 0 (got 0)"),
        ("side", "buy", "must be long or short (got buy)"),
        ("margin_mode", "portfolio", "must be isolated or cross (got portfolio)"),
        ("leverage", "", "a position needs leverage or isolated_margin"),
    ],
)
def test_each_bad_cell_is_reported_with_file_column_and_line(
    tmp_path: Path, column: str, value: str, message: str
) -> None:
    path = csv(tmp_path, GOOD, with_cell(column, value), GOOD)
    (issue,) = problems(path)
    assert (issue.source, issue.where, issue.line) == (str(path), column, 3)
    assert issue.message == message


def test_several_rows_are_one_issue_with_count_and_first_rows(tmp_path: Path) -> None:
    rows = [with_cell("quantity", "-3" if i % 2 else "1") for i in range(24)]
    path = csv(tmp_path, *rows)
    (issue,) = problems(path)
    assert issue.line == 3
    assert (
        issue.render() == f"{path}:3: [quantity] must be > 0 (got -3); 12 rows, first 5: lines 3, 5, 7, 9, 11"
    )


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    path = csv(
        tmp_path,
        with_cell("side", "buy"),
        with_cell("quantity", "x"),
        with_cell("mark_price", "-1"),
        with_cell("account_id", ""),
    )
    accounts = tmp_path / "a.csv"
    accounts.write_text("account_id,equity\nA1,0\nA1,10\n")
    market = tmp_path / "m.yaml"
    market.write_text("volatility: {BTCUSDT: -0.5}\n")
    issues = problems(path, accounts, market)
    found = {(Path(i.source).name, i.where, i.line) for i in issues}
    assert {
        ("p.csv", "side", 2),
        ("p.csv", "quantity", 3),
        ("p.csv", "mark_price", 4),
        ("p.csv", "account_id", 5),
        ("a.csv", "equity", 2),
        ("a.csv", "account_id", 2),
        ("m.yaml", "volatility.BTCUSDT", None),
    } <= found


def test_missing_required_columns_say_what_is_required_and_guess_the_name(tmp_path: Path) -> None:
    header = "account_id,symbol,side,quantty,entry_price,leverage"
    issues = problems(csv(tmp_path, "A1,BTCUSDT,long,1,100,2", header=header))
    by_column = {i.where: i for i in issues}
    assert set(by_column) == {"quantity", "mark_price"}
    assert by_column["quantity"].line == 1
    assert "did you mean 'quantty'?" in by_column["quantity"].message
    assert (
        "required columns: account_id, symbol, side, quantity, entry_price, mark_price"
        in by_column["quantity"].message
    )
    assert "optional: leverage, position_id" in by_column["mark_price"].message


def test_neither_leverage_nor_isolated_margin_column(tmp_path: Path) -> None:
    header = "account_id,symbol,side,quantity,entry_price,mark_price"
    (issue,) = problems(csv(tmp_path, "A1,BTCUSDT,long,1,100,100", header=header))
    assert issue.where == "leverage" and "needs leverage or isolated_margin" in issue.message


def test_duplicate_given_position_ids(tmp_path: Path) -> None:
    header = HEADER + ",position_id"
    path = csv(tmp_path, GOOD + ",P1", GOOD + ",P2", GOOD + ",P1", header=header)
    (issue,) = problems(path)
    assert issue.render() == f"{path}:2: [position_id] duplicate position_id (got P1); 2 rows: lines 2, 4"


def test_duplicate_account_ids_and_bad_equity(tmp_path: Path) -> None:
    accounts = tmp_path / "a.csv"
    accounts.write_text("account_id,equity\nA1,100\nA2,abc\nA1,100\n")
    issues = problems(csv(tmp_path, GOOD), accounts)
    assert [(i.where, i.line, i.message) for i in issues] == [
        ("account_id", 2, "duplicate account_id (got A1); 2 rows: lines 2, 4"),
        ("equity", 3, "must be a number (got abc)"),
    ]


def test_accounts_file_needs_equity(tmp_path: Path) -> None:
    accounts = tmp_path / "a.csv"
    accounts.write_text("account_id,equty\nA1,100\n")
    (issue,) = problems(csv(tmp_path, GOOD), accounts)
    assert (issue.where, issue.line) == ("equity", 1)
    assert (
        "did you mean 'equty'?" in issue.message and "required columns: account_id, equity" in issue.message
    )


def test_unknown_account_ids(tmp_path: Path) -> None:
    accounts = tmp_path / "a.csv"
    accounts.write_text("account_id,equity\nA1,100\n")
    path = csv(tmp_path, GOOD, with_cell("account_id", "A9"), with_cell("account_id", "A7"))
    (issue,) = problems(path, accounts)
    assert (issue.where, issue.line) == ("account_id", 3)
    assert issue.message == f"account not in {accounts} (got A9, A7); 2 rows: lines 3, 4"


def test_inline_equity_must_be_one_value_per_account(tmp_path: Path) -> None:
    header = HEADER + ",equity"
    path = csv(tmp_path, GOOD + ",1000", GOOD + ",2000", GOOD.replace("A1", "A2") + ",", header=header)
    issues = problems(path)
    assert [(i.where, i.line) for i in issues] == [("equity", 2), ("equity", 4)]
    assert issues[0].message.startswith(
        "one account, different equity values on its positions (got A1=1000.0"
    )
    assert issues[1].message == "the account has no equity on any of its positions (got A2)"


def test_inline_equity_must_agree_with_the_accounts_file(tmp_path: Path) -> None:
    accounts = tmp_path / "a.csv"
    accounts.write_text("account_id,equity\nA1,100\nA2,100\n")
    a2 = GOOD.replace("A1", "A2")
    (issue,) = problems(csv(tmp_path, GOOD + ",100", a2 + ",150", header=HEADER + ",equity"), accounts)
    assert (issue.where, issue.line) == ("equity", 3)
    assert issue.message == f"differs from the account's equity in {accounts} (got A2=150.0 vs 100.0)"


def test_parquet_wrong_types_are_located_by_record(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pl.DataFrame(
        {
            "account_id": ["A1", "A1", "A1"],
            "symbol": ["BTCUSDT"] * 3,
            "side": ["long"] * 3,
            "quantity": ["1", "lots", "2"],  # text where a number belongs
            "entry_price": [100.0, 100.0, float("nan")],
            "mark_price": [True, False, True],  # a type that cannot hold a price
            "leverage": [2, 2, 2],
        }
    ).write_parquet(path)
    issues = problems(path)
    assert [(i.where, i.line, i.message) for i in issues] == [
        (
            "mark_price",
            1,
            "must be a number; the column holds Boolean (got true, false); 3 rows: records 1, 2, 3",
        ),
        ("quantity", 2, "must be a number (got lots)"),
        ("entry_price", 3, "must be a finite number (got NaN)"),
    ]


def test_json_numbers_may_be_text_but_nan_is_reported(tmp_path: Path) -> None:
    row = {"account_id": 1, "symbol": "BTCUSDT", "side": "long", "quantity": "1.5", "entry_price": 100,
           "mark_price": 100.5, "leverage": 3}  # fmt: skip
    path = tmp_path / "p.json"
    path.write_text(json.dumps([row, row | {"position_id": "x"}]))
    positions = load_inputs(path).positions
    assert positions["quantity"].to_list() == [1.5, 1.5]
    assert positions["account_id"].to_list() == ["1", "1"]
    path.write_text(json.dumps([row, row | {"mark_price": float("nan")}, row | {"quantity": True}]))
    issues = problems(path)
    assert [(i.where, i.line) for i in issues] == [("mark_price", 2), ("quantity", 3)]


def test_ndjson_nan_and_infinity_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "p.ndjson"
    base = {
        "account_id": "A1",
        "symbol": "X",
        "side": "long",
        "entry_price": 1,
        "mark_price": 1,
        "leverage": 2,
    }
    lines = [json.dumps(base)[:-1] + f', "quantity": {v}}}' for v in ("1", "NaN", "Infinity")]
    path.write_text("\n".join(lines) + "\n")
    (issue,) = problems(path)
    assert (issue.where, issue.line) == ("quantity", 2)
    assert issue.message == "must be a finite number (got NaN, Infinity); 2 rows: records 2, 3"


def test_mapped_columns_are_named_both_ways(tmp_path: Path) -> None:
    header = HEADER.replace("quantity", "Qty")
    path = csv(tmp_path, with_cell("Qty", "-1", header=header), header=header)
    (issue,) = problems(path, column_map={"Qty": "quantity"})
    assert issue.where == "Qty (-> quantity)"


def test_duplicate_columns_are_reported(tmp_path: Path) -> None:
    path = csv(tmp_path, GOOD + ",A2", header=HEADER + ",account_id")
    (issue,) = problems(path)
    assert issue.message == "column 'account_id' appears twice"
    (issue,) = problems(csv(tmp_path, GOOD + ",A2", header=HEADER + ",Account_ID"))
    assert issue.message == "columns 'account_id' and 'Account_ID' both become 'account_id'"


def test_semicolon_separated_file_gets_a_hint(tmp_path: Path) -> None:
    issues = problems(csv(tmp_path, GOOD.replace(",", ";"), header=HEADER.replace(",", ";")))
    assert any("use ',' as separator" in i.message for i in issues)


def test_unknown_integer_account_ids_are_found_on_the_integers(tmp_path: Path) -> None:
    # both files store integer ids: the check runs on them (columns.ACCOUNT_KEY) and quotes their text
    accounts = tmp_path / "a.parquet"
    pl.DataFrame({"account_id": [1, 10], "equity": [100.0, 200.0]}).write_parquet(accounts)
    row = {"symbol": "BTCUSDT", "side": "long", "quantity": 1.0, "entry_price": 10.0, "mark_price": 10.0,
           "leverage": 2.0}  # fmt: skip
    positions = tmp_path / "p.parquet"
    pl.DataFrame([dict(row, account_id=i) for i in (10, 100, 1, 11)]).write_parquet(positions)
    (issue,) = problems(positions, accounts)
    assert (issue.where, issue.line) == ("account_id", 2)
    assert issue.message == f"account not in {accounts} (got 100, 11); 2 rows: records 2, 4"
