"""Reading the input files: formats, row locations, column mapping, derived ids, accounts, hashes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.data import Inputs, file_sha256, load_column_map, load_inputs, read_table
from policy_engine.errors import DataError

ROWS = [
    {"account_id": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": 0.5, "entry_price": 60000.0,
     "mark_price": 61000.0, "leverage": 5.0, "venue": "binance", "sector": "crypto"},
    {"account_id": "A1", "symbol": "ETHUSDT", "side": "short", "quantity": 10.0, "entry_price": 3000.0,
     "mark_price": 3100.0, "leverage": 3.0, "venue": "binance", "sector": "crypto"},
    {"account_id": "A2", "symbol": "AAPL", "side": "long", "quantity": 100.0, "entry_price": 190.0,
     "mark_price": 195.5, "leverage": 2.0, "venue": None, "sector": "tech"},
]  # fmt: skip


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    """Write rows in the format named by the path's extension."""
    frame = pl.DataFrame(rows)
    if path.suffix == ".csv":
        frame.write_csv(path)
    elif path.suffix == ".parquet":
        frame.write_parquet(path)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def logical(inputs: Inputs) -> pl.DataFrame:
    return inputs.positions.drop("__row", "__source")


@pytest.mark.parametrize("name", ["p.parquet", "p.json", "p.ndjson", "p.jsonl"])
def test_every_format_reads_the_same_logical_data_as_csv(tmp_path: Path, name: str) -> None:
    csv = load_inputs(write(tmp_path / "p.csv", ROWS))
    other = load_inputs(write(tmp_path / name, ROWS))
    assert logical(other).equals(logical(csv))
    assert csv.positions["__row"].to_list() == [2, 3, 4]  # the header is line 1
    assert other.positions["__row"].to_list() == [1, 2, 3]  # 1-based records
    assert other.positions["__source"].to_list() == [str(tmp_path / name)] * 3


def test_json_accepts_a_positions_wrapper(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"positions": ROWS}))
    assert logical(load_inputs(path)).equals(logical(load_inputs(write(tmp_path / "p.csv", ROWS))))


def test_parquet_directory_with_hive_partitions(tmp_path: Path) -> None:
    for day, rows in (("2024-06-01", ROWS[:2]), ("2024-06-02", ROWS[2:])):
        (tmp_path / "pq" / f"day={day}").mkdir(parents=True)
        write(tmp_path / "pq" / f"day={day}" / "part-0.parquet", rows)
    (tmp_path / "pq" / "_SUCCESS").write_text("")
    inputs = load_inputs(tmp_path / "pq")
    csv = load_inputs(write(tmp_path / "p.csv", ROWS))
    assert logical(inputs).drop("day").equals(logical(csv))
    assert inputs.positions["__row"].to_list() == [1, 2, 1]  # the record within its part file
    assert inputs.positions["__source"].str.contains("day=2024-06-02").to_list() == [False, False, True]
    assert inputs.files == (("positions", str(tmp_path / "pq")),)


def test_parquet_directory_parts_may_differ_in_columns(tmp_path: Path) -> None:
    (tmp_path / "pq").mkdir()
    write(tmp_path / "pq" / "a.parquet", ROWS[:1])
    write(
        tmp_path / "pq" / "b.parquet",
        [{k: v for k, v in ROWS[1].items() if k != "leverage"} | {"isolated_margin": 9.0}],
    )
    positions = load_inputs(tmp_path / "pq").positions
    assert positions.select("leverage", "isolated_margin").rows() == [(5.0, None), (None, 9.0)]


def test_parquet_integer_ids_become_text(tmp_path: Path) -> None:
    rows = [dict(r, account_id=i) for i, r in enumerate(ROWS, start=7)]
    frame = load_inputs(write(tmp_path / "p.parquet", rows)).positions
    assert frame.schema["account_id"] == pl.String
    assert frame["account_id"].to_list() == ["7", "8", "9"]


def _allocation_findings(positions: Path, accounts: Path) -> list[tuple[str, str, float]]:
    from policy_engine import api
    from tests.test_gate_helpers import POLICY  # alloc: margin <= 5% of equity

    findings = api.check(POLICY, positions, accounts).evaluation.findings
    return findings.filter(pl.col("rule_id") == "alloc").select("account_id", "status", "observed").rows()


@pytest.mark.parametrize("formats", [("parquet", "parquet"), ("parquet", "csv"), ("csv", "parquet")])
def test_integer_account_ids_join_positions_to_their_own_accounts(tmp_path: Path, formats: tuple[str, str]) -> None:
    # Accounts 7 (equity 100,000) and 70 (equity 1,000,000), one position each: 1 BTC @ 60,000 at
    # 5x, margin 12,000. Allocation 12,000 / 100,000 = 0.12 > 5% for 7; 0.012 for 70. With both
    # files' ids integers the join runs on the integers (columns.ACCOUNT_KEY); with one text, on text.
    btc = {"symbol": "BTCUSDT", "side": "long", "quantity": 1.0, "entry_price": 60000.0,
           "mark_price": 60000.0, "leverage": 5.0, "margin_mode": "isolated"}  # fmt: skip
    positions = write(tmp_path / f"p.{formats[0]}", [dict(btc, account_id=70), dict(btc, account_id=7)])
    accounts = write(
        tmp_path / f"a.{formats[1]}", [{"account_id": 7, "equity": 100000.0}, {"account_id": 70, "equity": 1e6}]
    )
    inputs = load_inputs(positions, accounts)
    assert inputs.accounts is not None
    assert (inputs.account_keys is not None) == (formats == ("parquet", "parquet"))
    assert inputs.positions.schema["account_id"] == pl.String
    [(account, status, observed)] = _allocation_findings(positions, accounts)
    assert (account, status) == ("7", "breach") and observed == pytest.approx(0.12, rel=1e-12)
    # the key is in no frame a caller sees: not the inputs, not the derived metrics
    from policy_engine import api
    from policy_engine.model import MetricSettings

    names = [*inputs.positions.columns, *inputs.accounts.columns]
    names += api.base_frame(inputs, MetricSettings()).collect_schema().names()
    assert not [n for n in names if "key" in n.lower()]


def test_edited_inputs_join_on_their_text_not_on_the_files_keys(tmp_path: Path) -> None:
    # dataclasses.replace() leaves the keys behind: position 1 moved from account 7 (equity
    # 100,000) to "70" (equity 1,000,000) has allocation 12,000 / 1,000,000 = 1.2%, not 12%
    from dataclasses import replace

    from policy_engine import api
    from policy_engine.model import MetricSettings

    btc = {"position_id": "P1", "account_id": 7, "symbol": "BTCUSDT", "side": "long", "quantity": 1.0,
           "entry_price": 60000.0, "mark_price": 60000.0, "leverage": 5.0}  # fmt: skip
    positions = write(tmp_path / "p.parquet", [btc])
    accounts = write(tmp_path / "a.parquet", [{"account_id": 7, "equity": 1e5}, {"account_id": 70, "equity": 1e6}])
    inputs = load_inputs(positions, accounts)
    assert inputs.account_keys is not None
    moved = replace(inputs, positions=inputs.positions.with_columns(account_id=pl.lit("70")))
    assert moved.account_keys is None
    base = api.base_frame(moved, MetricSettings()).collect()
    assert base.select("account_id", "equity", "allocation").rows() == [("70", 1e6, pytest.approx(0.012))]


@pytest.mark.parametrize("name", ["p.csv", "p.parquet"])
def test_a_users_column_named_like_the_key_is_kept_and_usable(tmp_path: Path, name: str) -> None:
    from policy_engine import api

    rows = [dict(r, account_id=i, __account_key=v) for i, (r, v) in enumerate(zip(ROWS, ["ok", "bad", "ok"]), 1)]
    accounts = write(tmp_path / f"a.{name.split('.')[1]}", [{"account_id": i, "equity": 1e9} for i in (1, 2, 3)])
    inputs = load_inputs(write(tmp_path / name, rows), accounts)
    assert inputs.positions.get_column("__account_key").to_list() == ["ok", "bad", "ok"]
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        'id: t\nversion: "1"\ndescription: t\nowner: t\ncolumns: [__account_key]\nrules:\n'
        "  - {id: k, kind: expression, severity: warning,\n"
        "     params: {require: \"__account_key == 'ok'\", observed: leverage, message: flagged}}\n"
    )
    findings = api.check(policy, tmp_path / name, accounts).evaluation.findings
    assert findings.select("account_id", "rule_id").rows() == [("2", "k")]


def test_csv_rows_keep_their_physical_line(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    header = "account_id,symbol,side,quantity,entry_price,mark_price,leverage,note\n"
    path.write_text(
        header
        + 'A1,BTCUSDT,long,1,100,100,2,"two\nlines"\n'  # lines 2-3
        + "\n"  # line 4: blank, not a record
        + "A1,ETHUSDT,long,1,100,100,2,x\n"  # line 5
        + "A1,SOLUSDT,long,-1,100,100,2,y\n"  # line 6
    )
    with pytest.raises(DataError) as err:
        load_inputs(path)
    (issue,) = err.value.issues
    assert (issue.line, issue.where) == (6, "quantity")
    path.write_text(path.read_text().replace(",-1,", ",1,"))
    positions = load_inputs(path).positions
    assert positions["__row"].to_list() == [2, 5, 6]
    assert positions["note"].to_list() == ["two\nlines", "x", "y"]


def test_normalisation(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        " Account_ID ,SYMBOL,Side,Quantity,Entry_Price,Mark_Price,Leverage,Margin_Mode,Strategy\n"
        "A1 ,BTCUSDT,LONG,1,100,100,2,,Carry\n"
        "A1,ETHUSDT,Short,1,100,100,2,CROSS,Momentum\n"
    )
    frame = load_inputs(path).positions
    assert frame["account_id"].to_list() == ["A1", "A1"]
    assert frame["side"].to_list() == ["long", "short"]
    assert frame["margin_mode"].to_list() == ["isolated", "cross"]
    assert frame["strategy"].to_list() == ["Carry", "Momentum"]  # the user's columns are untouched
    assert frame.schema["quantity"] == pl.Float64
    assert {"stop_loss_price", "position_id", "asset_class"} <= set(frame.columns)  # absent: null


def test_empty_tables_are_fine_but_a_file_without_header_is_not(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("account_id,symbol,side,quantity,entry_price,mark_price,leverage\n")
    (tmp_path / "e.json").write_text("[]")
    (tmp_path / "e.ndjson").write_text("")
    for name in ("h.csv", "e.json", "e.ndjson"):
        assert load_inputs(tmp_path / name).positions.height == 0
    (tmp_path / "none.csv").write_text("")
    with pytest.raises(DataError, match="none.csv:1: has no header"):
        load_inputs(tmp_path / "none.csv")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.csv", None, r"missing.csv: positions file does not exist"),
        ("p.xlsx", "x", r"unsupported file type '.xlsx'"),
        ("p.json", '[{"a": 1},', r"p.json:1:11: invalid JSON"),
        ("p.json", '{"rows": []}', r'expected an array of objects, or \{"positions"'),
        ("p.json", "[1, 2]", r"p.json:1: 2 records are not objects"),
        ("p.ndjson", '{"a": 1}\n{"a": \n', r"p.ndjson:2:\d+: invalid JSON"),
        ("p.csv", "a,b\n1,2,3\n", r"p.csv:2: has 3 fields where the header has 2"),
        ("p.parquet", "not parquet", r"p.parquet: cannot be read as parquet"),
    ],
)
def test_unreadable_files_are_a_data_error_naming_them(
    tmp_path: Path, name: str, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=expected):
        load_inputs(tmp_path / name)


def test_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "Acct,Ticker,Dir,Qty,Px,Mark,Lev\nA1,BTCUSDT,long,1,100,100,2\nA1,ETHUSDT,long,-2,100,100,2\n"
    )
    (tmp_path / "map.yaml").write_text(
        "Acct: account_id\nTicker: symbol\nDir: side\nQty: quantity\n"
        "Px: entry_price\nMark: mark_price\nLev: leverage\n"
    )
    column_map = load_column_map(tmp_path / "map.yaml")
    assert column_map["Qty"] == "quantity"
    with pytest.raises(DataError) as err:
        load_inputs(path, column_map=column_map)
    (issue,) = err.value.issues
    assert issue.where == "Qty (-> quantity)" and issue.line == 3
    path.write_text(path.read_text().replace("-2", "2"))
    frame = read_table(path, "positions", column_map)
    assert frame.columns[:7] == [
        "account_id",
        "symbol",
        "side",
        "quantity",
        "entry_price",
        "mark_price",
        "leverage",
    ]


def test_column_map_file_problems(tmp_path: Path) -> None:
    (tmp_path / "dup.yaml").write_text("Qty: quantity\nQty: leverage\n")
    with pytest.raises(DataError, match=r"dup.yaml:2:1: .*duplicate key 'Qty'"):
        load_column_map(tmp_path / "dup.yaml")
    (tmp_path / "list.json").write_text('["Qty"]')
    with pytest.raises(DataError, match="a column map is a mapping"):
        load_column_map(tmp_path / "list.json")
    (tmp_path / "two.yaml").write_text("Qty: quantity\nSize: quantity\n")
    (tmp_path / "p.csv").write_text("account_id,symbol,side,Qty,Size,entry_price,mark_price,leverage\n")
    with pytest.raises(DataError, match=r"columns 'Qty' and 'Size' both become 'quantity'"):
        load_inputs(tmp_path / "p.csv", column_map=load_column_map(tmp_path / "two.yaml"))


TWINS = [  # same account, venue, symbol, side and margin mode: ids are numbered
    {"account_id": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": q, "entry_price": ep,
     "mark_price": 100.0, "leverage": 2.0, "venue": "binance"}
    for ep, q in ((90.0, 1.0), (80.0, 1.0), (90.0, 0.5), (95.0, 2.0))
] + [
    {"account_id": "A1", "symbol": "ETHUSDT", "side": "short", "quantity": 1.0, "entry_price": 10.0,
     "mark_price": 10.0, "leverage": 2.0, "venue": None},
]  # fmt: skip


def ids_by_content(inputs: Inputs) -> dict[tuple[float, float], str]:
    frame = inputs.positions
    keys = zip(frame["entry_price"], frame["quantity"], strict=True)
    return dict(zip(keys, frame["position_id"], strict=True))


def test_derived_position_ids(tmp_path: Path) -> None:
    ids = ids_by_content(load_inputs(write(tmp_path / "p.csv", TWINS)))
    assert ids == {
        (80.0, 1.0): "A1:binance:BTCUSDT:long:isolated#1",
        (90.0, 0.5): "A1:binance:BTCUSDT:long:isolated#2",
        (90.0, 1.0): "A1:binance:BTCUSDT:long:isolated#3",
        (95.0, 2.0): "A1:binance:BTCUSDT:long:isolated#4",
        (10.0, 1.0): "A1:-:ETHUSDT:short:isolated",
    }


@settings(deadline=None, max_examples=25)
@given(order=st.permutations(range(len(TWINS))))
def test_derived_ids_do_not_depend_on_row_order(
    tmp_path_factory: pytest.TempPathFactory, order: list[int]
) -> None:
    directory = tmp_path_factory.mktemp("shuffle")
    straight = ids_by_content(load_inputs(write(directory / "a.csv", TWINS)))
    shuffled = ids_by_content(load_inputs(write(directory / "b.csv", [TWINS[i] for i in order])))
    assert shuffled == straight


@settings(deadline=None, max_examples=20)
@given(n=st.integers(min_value=0, max_value=60), seed=st.integers(0, 2**16))
def test_no_row_is_dropped(tmp_path_factory: pytest.TempPathFactory, n: int, seed: int) -> None:
    rng = random.Random(seed)
    rows = [dict(rng.choice(ROWS), quantity=float(rng.randint(1, 3))) for _ in range(n)]
    directory = tmp_path_factory.mktemp("rows")
    for name in ("p.csv", "p.ndjson"):
        path = directory / name
        if n:
            write(path, rows)
        else:
            path.write_text(",".join(ROWS[0]) + "\n" if name == "p.csv" else "")
        assert load_inputs(path).positions.height == n


def test_accounts_file_adds_missing_optional_columns(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("Account_ID,Equity,desk\nA1,100000,x\nA2,5000,y\n")
    accounts = load_inputs(write(tmp_path / "p.csv", ROWS), tmp_path / "a.csv").accounts
    assert accounts is not None
    assert accounts.columns == [
        "account_id",
        "equity",
        "risk_profile",
        "client_name",
        "advisor",
        "currency",
        "desk",
    ]
    assert accounts["equity"].to_list() == [100000.0, 5000.0]


def test_accounts_built_from_inline_equity(tmp_path: Path) -> None:
    rows = [
        dict(r, equity=100000.0 if r["account_id"] == "A1" else 5000.0, risk_profile="moderate") for r in ROWS
    ]
    inputs = load_inputs(write(tmp_path / "p.csv", rows))
    assert inputs.accounts is not None
    assert inputs.accounts.select("account_id", "equity", "risk_profile").rows() == [
        ("A1", 100000.0, "moderate"),
        ("A2", 5000.0, "moderate"),
    ]
    assert "equity" not in inputs.positions.columns  # one place for account columns: no join clash


def test_inline_account_columns_fill_and_must_agree_with_the_accounts_file(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("account_id,equity\nA1,100000\nA2,5000\n")
    rows = [
        dict(r, risk_profile="aggressive", equity=100000.0 if r["account_id"] == "A1" else None) for r in ROWS
    ]
    inputs = load_inputs(write(tmp_path / "p.csv", rows), tmp_path / "a.csv")
    assert inputs.accounts is not None
    assert inputs.accounts["risk_profile"].to_list() == ["aggressive", "aggressive"]
    assert not {"equity", "risk_profile"} & set(inputs.positions.columns)


def test_without_accounts_or_equity_there_is_no_accounts_frame(tmp_path: Path) -> None:
    assert load_inputs(write(tmp_path / "p.csv", ROWS)).accounts is None


def test_file_sha256(tmp_path: Path) -> None:
    (tmp_path / "d" / "k=1").mkdir(parents=True)
    (tmp_path / "d" / "k=1" / "a.parquet").write_bytes(b"abc")
    (tmp_path / "d" / "b.parquet").write_bytes(b"def")
    assert file_sha256(tmp_path / "d" / "b.parquet") == (
        "cb8379ac2098aa165029e3938a51da0bcecfc008fd6795f401178647f96c5b34"  # sha256("def")
    )
    before = file_sha256(tmp_path / "d")
    assert len(before) == 64 and before == file_sha256(str(tmp_path / "d"))
    (tmp_path / "d" / "k=1").rename(tmp_path / "d" / "k=2")  # same bytes, different partition value
    assert file_sha256(tmp_path / "d") != before
    with pytest.raises(DataError, match="does not exist"):
        file_sha256(tmp_path / "nope")


def test_the_contract_document_names_every_contract_column() -> None:
    from policy_engine.columns import ACCOUNT_COLUMNS, POSITION_COLUMNS

    doc = (Path(__file__).parent.parent / "docs" / "data-contract.md").read_text()
    for column in (*POSITION_COLUMNS, *ACCOUNT_COLUMNS):
        required = "yes" if column.required else ""
        assert f"| `{column.name}` |" in doc, column.name
        if column.required:
            assert (
                f"| `{column.name}` | {'number' if column.type == 'float' else 'text'} | {required} |" in doc
            )


def test_duplicate_keys_in_json_and_ndjson_records_are_errors(tmp_path) -> None:
    # one value would win silently: the last in Python's json, the first in Polars' NDJSON reader
    import pytest

    from policy_engine.data import read_table
    from policy_engine.errors import DataError

    record = ('{"account_id": "A1", "account_id": "A2", "symbol": "BTCUSDT", "side": "long", "quantity": 1,'
              ' "entry_price": 1, "mark_price": 1, "leverage": 2}')
    (tmp_path / "p.json").write_text(f"[{record}]", encoding="utf-8")
    (tmp_path / "p.ndjson").write_text(f'{record.replace("A1", "A0")}\n{record}\n', encoding="utf-8")
    for name, line in (("p.json", None), ("p.ndjson", 1)):
        with pytest.raises(DataError) as info:
            read_table(tmp_path / name, "positions")
        assert "duplicate key 'account_id'" in info.value.render() and info.value.issues[0].line == line
