"""`check --streaming` gives the in-memory check's findings (same rows, columns, messages and ids;
written as produced, so compared in sort_findings' order), on a file, a directory of part files and
a hive-partitioned dataset; a bad book leaves no output and reports the in-memory check's issues."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import pytest

from benchmarks import generate
from benchmarks.measure import check_command

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "benchmarks" / "policies" / "reference.yaml"
CORE = ROOT / "policies" / "core-risk.yaml"  # warn_at bands, several severities
KEY = ["policy_id", "rule_id", "check", "account_id", "position_id"]


def check(
    policies: Path, positions: Path, accounts: Path, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    cmd = check_command(positions, accounts, out, *extra, policies=policies)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = generate.generate(20_000, tmp_path_factory.mktemp("book"))
    positions = pl.read_parquet(root / "positions.parquet")
    (root / "parts").mkdir()
    for k in range(3):  # a directory of part files
        positions.slice(k * 7_000, 7_000).write_parquet(root / "parts" / f"part-{k}.parquet")
    hive = positions.with_columns(pl.col("margin_mode").alias("mode"))  # hive: mode=isolated/cross
    for (mode,), part in hive.group_by("mode"):
        (root / "hive" / f"mode={mode}").mkdir(parents=True)
        part.drop("mode").write_parquet(root / "hive" / f"mode={mode}" / "data.parquet")
    return root


@pytest.mark.parametrize("pack", [REFERENCE, CORE], ids=["reference", "core-risk"])
@pytest.mark.parametrize("layout", ["positions.parquet", "parts", "hive"])
def test_streaming_gives_the_in_memory_findings(book: Path, tmp_path: Path, pack: Path, layout: str) -> None:
    memory = check(pack, book / "positions.parquet", book / "accounts.parquet", tmp_path / "memory.parquet")
    streamed = check(
        pack, book / layout, book / "accounts.parquet", tmp_path / "stream.parquet", "--streaming"
    )
    assert memory.returncode == streamed.returncode == 1, (memory.stderr, streamed.stderr)
    expected, got = pl.read_parquet(tmp_path / "memory.parquet"), pl.read_parquet(tmp_path / "stream.parquet")
    assert expected.height > 1000 and got.schema == expected.schema
    assert got.sort(KEY).equals(expected.sort(KEY))


def test_streaming_csv_output(book: Path, tmp_path: Path) -> None:
    proc = check(REFERENCE, book / "parts", book / "accounts.parquet", tmp_path / "f.csv", "--streaming")
    assert proc.returncode == 1, proc.stderr
    memory = check(REFERENCE, book / "positions.parquet", book / "accounts.parquet", tmp_path / "m.csv")
    assert memory.returncode == 1
    read = lambda p: pl.read_csv(p, infer_schema=False).sort(KEY)  # noqa: E731
    assert read(tmp_path / "f.csv").equals(read(tmp_path / "m.csv"))


def test_a_bad_book_leaves_no_output_and_names_the_rows(book: Path, tmp_path: Path) -> None:
    bad = pl.read_parquet(book / "positions.parquet").with_columns(
        pl.when(pl.int_range(pl.len()).is_in([4, 9]))
        .then(-1.0)
        .otherwise(pl.col("quantity"))
        .alias("quantity"),
        pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("sideways")).otherwise(pl.col("side")).alias("side"),
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit(10**9))
        .otherwise(pl.col("account_id"))
        .alias("account_id"),
    )
    bad.write_parquet(tmp_path / "bad.parquet")
    streamed = check(
        REFERENCE, tmp_path / "bad.parquet", book / "accounts.parquet", tmp_path / "s.parquet", "--streaming"
    )
    memory = check(REFERENCE, tmp_path / "bad.parquet", book / "accounts.parquet", tmp_path / "m.parquet")
    assert streamed.returncode == memory.returncode == 2
    assert not (tmp_path / "s.parquet").exists() and not list(tmp_path.glob(".s.parquet.partial*"))
    assert "quantity" in streamed.stderr and "records 5, 10" in streamed.stderr
    assert "must be long or short" in streamed.stderr and "account not in" in streamed.stderr

    def problems(text: str) -> list[str]:
        return sorted(line.strip() for line in text.splitlines() if "record" in line)

    assert problems(streamed.stderr) == problems(memory.stderr)


def test_duplicate_position_ids_are_refused(book: Path, tmp_path: Path) -> None:
    dup = pl.read_parquet(book / "positions.parquet").with_columns(
        pl.when(pl.int_range(pl.len()) == 11)
        .then(pl.lit(5, dtype=pl.Int64))
        .otherwise(pl.col("position_id"))
        .alias("position_id")
    )
    dup.write_parquet(tmp_path / "dup.parquet")
    proc = check(
        REFERENCE, tmp_path / "dup.parquet", book / "accounts.parquet", tmp_path / "s.parquet", "--streaming"
    )
    assert proc.returncode == 2 and "duplicate position_id" in proc.stderr, proc.stderr


def test_streaming_refuses_what_it_cannot_stream(book: Path, tmp_path: Path) -> None:
    proc = check(
        REFERENCE, book / "positions.parquet", book / "accounts.parquet", tmp_path / "f.json", "--streaming"
    )
    assert proc.returncode == 2 and "FILE.parquet or FILE.csv" in proc.stderr
    proc = check(
        ROOT / "policies",
        book / "positions.parquet",
        book / "accounts.parquet",
        tmp_path / "f.parquet",
        "--streaming",
    )  # account-limits.yaml: account aggregates
    assert proc.returncode == 2 and "run without --streaming" in proc.stderr, proc.stderr
    # it names the file to leave out, and only that one: the rest of the pack streams
    assert "account-limits.yaml" in proc.stderr and "core-risk.yaml" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_chunks_of_a_part_file_give_the_same_findings(book: Path, tmp_path: Path, suffix: str) -> None:
    from policy_engine import streaming

    memory = check(REFERENCE, book / "positions.parquet", book / "accounts.parquet", tmp_path / f"m.{suffix}")
    assert memory.returncode == 1
    result = streaming.check(
        REFERENCE, book / "parts", book / "accounts.parquet", str(tmp_path / f"s.{suffix}"), chunk=3_000
    )  # 3 part files of 7,000: 9 chunks
    assert result.positions == 20_000 and streaming.worst(result) == 3
    read = pl.read_parquet if suffix == "parquet" else lambda p: pl.read_csv(p, infer_schema=False)
    expected, got = read(tmp_path / f"m.{suffix}"), read(tmp_path / f"s.{suffix}")
    assert got.sort(KEY).equals(expected.sort(KEY))
    assert int(result.coverage.get_column("breached").sum()) == expected.height
    assert not list(tmp_path.glob(".*partial*"))


def test_an_empty_book_is_an_error_unless_allowed(book: Path, tmp_path: Path) -> None:
    pl.read_parquet(book / "positions.parquet").head(0).write_parquet(tmp_path / "empty.parquet")
    proc = check(
        REFERENCE,
        tmp_path / "empty.parquet",
        book / "accounts.parquet",
        tmp_path / "s.parquet",
        "--streaming",
    )
    assert proc.returncode == 2 and "--allow-empty" in proc.stderr
    proc = check(
        REFERENCE,
        tmp_path / "empty.parquet",
        book / "accounts.parquet",
        tmp_path / "s.parquet",
        "--streaming",
        "--allow-empty",
    )
    assert proc.returncode == 0, proc.stderr
    assert pl.read_parquet(tmp_path / "s.parquet").height == 0
