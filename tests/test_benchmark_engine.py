"""The performance work keeps behaviour: findings order, ids, the JSON document, lean start-up, and the
progress display (stderr, terminals only) with its stage timings."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from benchmarks import generate
from benchmarks.measure import check_command
from policy_engine import api, progress
from policy_engine.evaluate import finding_id, sort_findings
from policy_engine.output import document, json_array

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> api.RunResult:
    book = generate.generate(5_000, tmp_path_factory.mktemp("book"))
    # core-risk: warn_at bands (near-limit findings), breach / critical / warning severities
    return api.check(
        ROOT / "policies" / "core-risk.yaml", book / "positions.parquet", book / "accounts.parquet"
    )


def test_findings_come_in_sort_findings_order(result: api.RunResult) -> None:
    f = result.findings
    assert set(f.get_column("status")) == {"breach", "near_limit"}
    assert f.get_column("severity").n_unique() >= 3
    assert f.equals(sort_findings(f))


def test_finding_ids_are_the_sha256_of_the_finding_identity(result: api.RunResult) -> None:
    rows = result.findings.select("policy_id", "rule_id", "check", "account_id", "position_id").iter_rows()
    expected = [
        hashlib.sha256("\x1f".join("" if v is None else str(v) for v in r).encode()).hexdigest()[:16]
        for r in rows
    ]
    assert result.findings.get_column("finding_id").to_list() == expected


def test_finding_id_expression_is_sha256_for_any_text() -> None:
    # non-ASCII and control characters, an account-scope finding's missing position, empty text;
    # on both engines (the ids are computed inside the plan)
    keys = pl.DataFrame(
        {
            "policy_id": ["risk", "risk", "", "risk"],
            "rule_id": ["max-alloc", "R1-max-allocation", "", "r"],
            "check": ["allocation", "allocation", "", "c"],
            "account_id": ["Zoë 客户", "A1", "", "7"],
            "position_id": ["p\t1", None, "", "42"],
        }
    )
    expected = [
        hashlib.sha256("\x1f".join("" if v is None else v for v in r).encode()).hexdigest()[:16]
        for r in keys.iter_rows()
    ]
    assert keys.select(finding_id()).to_series().to_list() == expected
    assert keys.lazy().select(finding_id()).collect(engine="streaming").to_series().to_list() == expected


def test_json_document_is_written_without_a_python_copy_and_reads_back(
    result: api.RunResult, tmp_path: Path
) -> None:
    document.write(result, str(tmp_path / "f.json"))
    data = (tmp_path / "f.json").read_bytes()
    assert data.decode() == document.render_json(result)
    doc = json.loads(data)
    assert len(doc["findings"]) == result.findings.height
    assert doc["findings"][0]["finding_id"] == result.findings.item(0, "finding_id")


def test_the_cli_imports_no_polars_for_help() -> None:
    code = "import sys, policy_engine.cli; sys.exit('polars' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_progress_is_silent_off_a_terminal() -> None:
    out = io.StringIO()
    p = progress.Progress(out)
    with p.stage("evaluating", "5 positions"):
        p.advance(1, 2)
    assert out.getvalue() == "" and set(p.timings) == {"evaluating"}


def test_progress_names_the_stage_and_how_far(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_TICK", 0.01)
    out = io.StringIO()
    p = progress.Progress(out, live=True)
    with p.stage("streaming", "100 positions"):
        p.advance(40, 100)
        import time

        time.sleep(0.05)
    text = out.getvalue()
    assert "streaming 100 positions [40/100]" in text and text.endswith("s\n")


def test_stage_timings_for_benchmarks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ENGINE_TIMINGS", str(tmp_path / "t.json"))
    p = progress.Progress(io.StringIO())
    with p.stage("loading"):
        pass
    with p.stage("writing"):
        pass
    assert set(json.loads((tmp_path / "t.json").read_text())) == {"loading", "writing"}


def test_check_records_its_stages(tmp_path: Path) -> None:
    book = generate.generate(200, tmp_path / "book")
    env = {"POLICY_ENGINE_TIMINGS": str(tmp_path / "t.json"), "PATH": "/usr/bin:/bin"}
    cmd = check_command(book / "positions.parquet", book / "accounts.parquet", tmp_path / "f.json")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 1 and proc.stderr == ""  # no progress line: stderr is not a terminal
    stages = json.loads((tmp_path / "t.json").read_text())
    assert {"loading", "validating", "evaluating", "writing"} <= set(stages)


def test_the_findings_array_is_polars_json_byte_for_byte(result: api.RunResult) -> None:
    out = io.BytesIO()
    json_array.write_array(document.public_findings(result.findings), out, slice_rows=777)  # many slices
    assert result.findings.height > 5 * 777
    assert out.getvalue().decode() == document.public_findings(result.findings).write_json()


def test_coverage_counts_every_position_not_only_the_flagged_ones(result: api.RunResult) -> None:
    # the counts ride along the flagged rows (evaluate._hit_frame): they must be over all positions
    from policy_engine import evaluate
    from policy_engine.compile import compile_pack

    compiled = compile_pack(result.pack)
    flags = evaluate._flag_frame(api.base_frame(result.inputs, result.pack.settings), compiled)
    direct = evaluate._coverage_frame(flags, compiled).collect()
    for i in range(len(compiled)):
        row = result.evaluation.coverage.row(i, named=True)
        assert (row["covered"], row["breached"], row["near"]) == tuple(
            direct.item(0, f"{k}_{i}") for k in ("covered", "breached", "near")
        )
    assert result.evaluation.coverage.get_column("covered").max() == result.inputs.positions.height


# Run in a fresh interpreter, as measure.py runs: inside the test process, other tests' memory
# being returned to the system while this one allocates made the growth come out below 128 MiB.
_PEAK_PROBE = """
from benchmarks import measure
setup = bytearray(b"\\x01") * (256 * 2**20)  # touched by the setup, then freed
del setup
if not measure._reset_peak():
    print("no-reset")
    raise SystemExit
base = measure._peak_mib()
held = bytearray(b"\\x01") * (128 * 2**20)  # the timed run's own 128 MiB, touched
print(measure._peak_mib() - base)
"""


def test_the_timed_runs_peak_is_its_own() -> None:
    # benchmarks/measure.py resets the peak RSS after the untimed setup: memory the setup touched
    # and let go does not count, memory held and touched after the reset does (without the reset,
    # the setup's 256 MiB high-water mark would hide the run's 128 MiB: a growth of 0).
    proc = subprocess.run([sys.executable, "-c", _PEAK_PROBE], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    if proc.stdout.strip() == "no-reset":
        pytest.skip("no /proc/self/clear_refs here")
    growth = float(proc.stdout)
    assert 120 <= growth <= 200


def test_every_benchmark_task_can_be_run_and_is_labelled() -> None:
    # run.py's default tasks are measure.py's tasks or whole commands; each has a table label, and
    # each in-memory task is a real task (its ratio is taken against the in-memory query)
    from benchmarks import measure, run

    commands = {"check", "check-streaming"}
    assert set(run.DEFAULT_TASKS) == set(measure.TASKS) | commands
    assert set(run.LABELS) == set(run.DEFAULT_TASKS)
    assert run.IN_MEMORY <= set(measure.TASKS)
    assert {"duckdb-mem", "polars-mem", "engine-verdicts"} <= run.IN_MEMORY
