"""Waiver files are validated like policies: every problem, at file:line:column, with a fix.

Each file in tests/data/waivers/invalid/ states the problems it must produce in `# expect: L:C: text`
comments: exactly those, at exactly those places.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from policy_engine.waivers import WaiverError, load_waivers, parse_expiry
from tests.conftest import ROOT
from tests.test_history_books import Book, pos

DATA = ROOT / "tests" / "data" / "waivers"
INVALID = sorted((DATA / "invalid").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$", re.MULTILINE)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_waiver_files(path: Path) -> None:
    expected = [(int(line), int(col), text) for line, col, text in EXPECT.findall(path.read_text())]
    assert expected, f"{path.name} states no expectations"
    with pytest.raises(WaiverError) as err:
        load_waivers(path)
    found = [(i.line, i.column, i.message) for i in err.value.issues]
    assert len(found) == len(expected), err.value.render()
    for line, col, text in expected:
        assert any((line, col) == (fl, fc) and text in msg for fl, fc, msg in found), (
            f"expected {line}:{col}: {text}\n{err.value.render()}")
    assert all(i.source == str(path) for i in err.value.issues)


def test_a_directory_of_waiver_files_and_documents() -> None:
    loaded = load_waivers(DATA / "valid")
    assert [w.id for w in loaded.waivers] == ["W-10", "W-11"]
    w10, w11 = loaded.waivers
    assert (w10.rule, w10.account, w10.position, w10.expires) == ("test-policy/alloc", "A", "a1", dt.date(2026, 3, 31))
    assert (w11.finding_id, w11.expires) == ("0123456789abcdef", dt.date(2026, 4, 30))  # a quoted date is fine
    assert w10.where.endswith("two.yaml:2")


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(
            "waivers:\n  - {id: W-1, finding_id: abc, reason: x, approved_by: y, ticket: T, expires: 2026-12-31}\n")
    with pytest.raises(WaiverError, match=r"b.yaml:2:\d+: \[waiver W-1\] duplicate waiver id 'W-1': already used at .*a.yaml:2"):
        load_waivers(tmp_path)


@pytest.mark.parametrize("path, message", [
    ("missing.yaml", "no such file or directory"),
    (".", "no waiver files"),
])
def test_missing_waiver_paths(tmp_path: Path, path: str, message: str) -> None:
    with pytest.raises(WaiverError, match=message):
        load_waivers(tmp_path / path)


@pytest.mark.parametrize("value, expected", [
    (dt.date(2026, 12, 31), dt.date(2026, 12, 31)),
    ("2026-12-31", dt.date(2026, 12, 31)),
    (" 2026-12-31 ", dt.date(2026, 12, 31)),
    ("2026-13-01", None), ("2026-02-29", None), ("20261231", None), ("2026-W52-4", None), ("31/12/2026", None),
    ("next week", None), ("", None), (None, None), (20261231, None), (True, None),
    (dt.datetime(2026, 12, 31, tzinfo=dt.timezone.utc), None),
])
def test_only_a_calendar_date_is_an_expiry(value: object, expected: dt.date | None) -> None:
    date, problem = parse_expiry(value)
    assert date == expected
    assert (problem is None) == (expected is not None)


@pytest.mark.parametrize("expires", ["2026-13-01", "next week", "31/12/2026", "2026-12-31T00:00:00Z", ""])
def test_a_malformed_expiry_is_exit_2_with_file_and_line(tmp_path: Path, expires: str) -> None:
    book = Book(tmp_path)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n  - id: W-1\n    rule: alloc\n    account: A\n    reason: r\n"
                       f"    approved_by: CRO\n    ticket: T-1\n    expires: {expires}\n")
    proc, doc = book.cli([pos("a1", "A", 600, 100)], "--as-of", "2026-03-01", "--waivers", str(waivers))
    assert proc.returncode == 2 and doc is None
    assert re.search(rf"{re.escape(str(waivers))}:8:\d+: \[waiver W-1\] expires", proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not book.store.exists()  # nothing was run, nothing recorded


def test_the_sample_waivers_load() -> None:
    assert [w.id for w in load_waivers(ROOT / "samples" / "waivers.yaml").waivers] == [
        "W-2026-014", "W-2026-021", "W-2026-003", "W-2026-030"]
