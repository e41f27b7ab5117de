"""The JSON array writer (policy_engine.output.json_array): what it writes parses back to the frame's
values, exactly, for any strings, floats and ints; slices and the last row join up; the document
keeps the findings as its last key."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.output import json_array

# text that needs escaping or is easy to get wrong: quotes, backslashes, every control character,
# DEL, the JavaScript line separators, non-BMP characters
TRICKY = ['"', "\\", "/", "\x7f", "\u2028", "\u2029", "é", "😀", "\U0010ffff", *map(chr, range(32))]
texts = st.text(st.one_of(st.sampled_from(TRICKY), st.characters(codec="utf-8")), max_size=12)
floats = st.one_of(
    st.floats(),  # NaN and infinities included
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, 5e-324, 1.7976931348623157e308, 0.1, 1e-7, 1e16, 1e21]),
    st.integers(-(2**53), 2**53).map(float),
)
ints = st.integers(-(2**63), 2**63 - 1)
COLUMN_KINDS: dict[str, tuple[pl.DataType, st.SearchStrategy[Any]]] = {
    "str": (pl.String(), texts),
    "f64": (pl.Float64(), floats),
    "i64": (pl.Int64(), ints),
    "bool": (pl.Boolean(), st.booleans()),
    "list_str": (pl.List(pl.String()), st.lists(st.one_of(st.none(), texts), max_size=3)),  # trade_ids
    "list_i64": (pl.List(pl.Int64()), st.lists(ints, max_size=3)),  # the gate's trade_lines
}


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    height = draw(st.integers(0, 12))
    names = draw(st.lists(texts, min_size=1, max_size=6, unique=True))
    columns = []
    for name in names:
        dtype, values = COLUMN_KINDS[draw(st.sampled_from(sorted(COLUMN_KINDS)))]
        column = draw(st.lists(st.one_of(st.none(), values), min_size=height, max_size=height))
        columns.append(pl.Series(name, column, dtype=dtype))
    return pl.DataFrame(columns)


def _expected(value: Any) -> Any:
    """The frame's Python value as JSON can carry it: non-finite floats are null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_expected(v) for v in value]
    return value


def _exact(value: Any) -> Any:
    """Comparable exactly: floats by repr (-0.0 is not 0.0, no rounding), objects as ordered pairs."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, dict):
        return [(k, _exact(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


def _written(frame: pl.DataFrame, slice_rows: int = json_array.SLICE_ROWS) -> bytes:
    out = io.BytesIO()
    json_array.write_array(frame, out, slice_rows)
    return out.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), slice_rows=st.integers(1, 5))
def test_the_array_parses_back_to_the_frame_exactly(frame: pl.DataFrame, slice_rows: int) -> None:
    data = _written(frame, slice_rows)
    expected = [{k: _expected(v) for k, v in row.items()} for row in frame.to_dicts()]
    assert _exact(json.loads(data.decode("utf-8"))) == _exact(expected)
    assert data == _written(frame, slice_rows)  # deterministic


def test_text_stays_utf8_and_only_control_characters_are_escaped() -> None:
    frame = pl.DataFrame({"s": ['é😀\u2028"\\\x00\x1f\n\x7f']})
    assert _written(frame) == '[{"s":"é😀\u2028\\"\\\\\\u0000\\u001f\\n\x7f"}]'.encode()


def test_floats_in_shortest_round_trip_form_and_non_finite_as_null() -> None:
    values = [0.1, 1e-7, 1e300, -0.0, 3.0, 0.30000000000000004, math.nan, math.inf, -math.inf, None]
    data = _written(pl.DataFrame({"x": values}))
    assert data == (
        b'[{"x":0.1},{"x":1e-7},{"x":1e+300},{"x":-0.0},{"x":3.0},{"x":0.30000000000000004},'
        b'{"x":null},{"x":null},{"x":null},{"x":null}]'
    )


def test_an_empty_frame_is_an_empty_array() -> None:
    assert _written(pl.DataFrame({"a": [], "b": []}, schema={"a": pl.String, "b": pl.Float64})) == b"[]"
    assert _written(pl.DataFrame()) == b"[]"


@pytest.mark.parametrize("height", [1, 2, 3, 4, 5, 6, 7, 9, 10])
def test_slices_join_up_at_every_boundary(height: int) -> None:
    # slices of 3 rows, of which 2 are encoded ahead: exactly N and N + 1 rows, and the last row
    # (written on its own) alone, after a full slice, after a short one
    frame = pl.DataFrame({"i": range(height), "s": [f"r{i}" for i in range(height)]})
    assert _written(frame, slice_rows=3) == frame.write_json().encode()


def test_a_frame_of_many_chunks_is_written_in_order() -> None:
    parts = [pl.DataFrame({"i": range(n, n + 7), "f": [n / 3] * 7}) for n in range(0, 70, 7)]
    frame = pl.concat(parts, rechunk=False)
    assert frame.n_chunks() > 1
    assert _written(frame, slice_rows=4) == frame.write_json().encode()


def test_the_document_keeps_its_head_and_ends_with_the_array() -> None:
    head = json.dumps({"schema_version": 1, "run": {"as_of": "2024-01-01"}, "coverage": []}, indent=2)
    out = io.BytesIO()
    json_array.write_document(head, "findings", pl.DataFrame({"a": [1, None]}), out)
    text = out.getvalue().decode()
    assert text.endswith("]\n}\n") and '\n  "findings": [{"a":1},{"a":null}]' in text
    doc = json.loads(text)
    assert list(doc) == ["schema_version", "run", "coverage", "findings"]
    assert doc["findings"] == [{"a": 1}, {"a": None}]
    with pytest.raises(ValueError):
        json_array.write_document("[]", "findings", pl.DataFrame({"a": [1]}), io.BytesIO())


def test_a_failed_write_leaves_the_previous_document_whole(tmp_path: Path) -> None:
    from policy_engine.output.document import write_binary

    target = tmp_path / "out" / "findings.json"
    write_binary(str(target), lambda out: out.write(b'{"findings": []}\n'))
    assert target.read_bytes() == b'{"findings": []}\n'
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # not mkstemp's 0600

    def fail_half_way(out: BinaryIO) -> None:
        out.write(b'{"findings": [')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_binary(str(target), fail_half_way)
    assert target.read_bytes() == b'{"findings": []}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["findings.json"]  # no leftover part file


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
