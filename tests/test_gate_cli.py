"""`policy-engine gate` end to end (subprocess): exit codes, outputs, samples, CI and pre-commit files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli
from tests.test_gate_diff import BOOK, TRADES
from tests.test_gate_helpers import ACCOUNTS, POLICY, positions_file, trades_file

SAMPLES = ROOT / "samples"


def gate_args(positions: Path, *extra: str) -> list[str]:
    return [
        "gate",
        "--policies",
        str(POLICY),
        "--positions",
        str(positions),
        "--accounts",
        str(ACCOUNTS),
        *extra,
    ]


def test_exit_0_when_the_trades_cause_nothing(tmp_path: Path) -> None:
    trades = trades_file(tmp_path, TRADES[:1])  # the breach-reducing trade alone
    proc = run_cli(*gate_args(positions_file(tmp_path, BOOK), str(trades)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "PASSED: no blocking findings" in proc.stdout


def test_exit_1_with_every_output_written(tmp_path: Path) -> None:
    trades = trades_file(tmp_path, TRADES)
    out = tmp_path / "out"
    proc = run_cli(
        *gate_args(
            positions_file(tmp_path, BOOK),
            "--trades",
            str(trades),
            "--github",
            "--sarif",
            str(out / "g.sarif"),
            "--junit",
            str(out / "g.xml"),
            "--markdown",
            str(out / "g.md"),
            "--output",
            str(out / "g.json"),
        ),
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("::error file=trades.csv,line=")
    stop = next(i for i, line in enumerate(lines) if line.startswith("::stop-commands::"))
    token = lines[stop].split("::")[2]
    assert lines[-1] == f"::{token}::" and "BLOCKED: 4 blocking findings" in proc.stdout
    assert json.loads((out / "g.sarif").read_text())["runs"][0]["invocations"][0]["exitCode"] == 1
    assert ET.parse(out / "g.xml").getroot().get("failures") == "4"
    assert (out / "g.md").read_text().startswith("## ❌")
    assert json.loads((out / "g.json").read_text())["gate_summary"]["exit_code"] == 1


def test_malformed_trade_list_exits_2_naming_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "trades.csv"
    bad.write_text("account_id,symbol,side,quantity\nA1,BTCUSDT,buy,1\nA1,BTCUSDT,buy,lots\n")
    proc = run_cli(
        *gate_args(positions_file(tmp_path, BOOK), "--sarif", "g.sarif", "--", "trades.csv"), cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "trades.csv:3: [quantity] must be a number (got lots)" in proc.stderr
    assert not (tmp_path / "g.sarif").exists()  # nothing that looks like a result on an error


def test_unwritable_sarif_exits_2_after_writing_the_rest(tmp_path: Path) -> None:
    trades = trades_file(tmp_path, TRADES[:1])
    (tmp_path / "file").write_text("not a directory")
    proc = run_cli(
        *gate_args(
            positions_file(tmp_path, BOOK), str(trades), "--sarif", "file/g.sarif", "--junit", "g.xml"
        ),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "file/g.sarif: cannot write --sarif" in proc.stderr
    assert (tmp_path / "g.xml").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    positions = positions_file(tmp_path, BOOK)
    assert "no trade list" in run_cli(*gate_args(positions), cwd=tmp_path).stderr
    trades = trades_file(tmp_path, TRADES[:1])
    proc = run_cli(*gate_args(positions, str(trades), "--github", "--output", "-"), cwd=tmp_path)
    assert proc.returncode == 2 and "both write to stdout" in proc.stderr


@pytest.mark.skipif(not (SAMPLES / "positions.csv").exists(), reason="sample book not generated")
def test_sample_trade_lists(tmp_path: Path) -> None:
    common = [
        "gate",
        "--policies",
        str(ROOT / "policies"),
        "--positions",
        str(SAMPLES / "positions.csv"),
        "--accounts",
        str(SAMPLES / "accounts.csv"),
        "--market",
        str(SAMPLES / "market.json"),
    ]
    clean = run_cli(*common, "samples/trades/clean.csv")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    out = tmp_path / "g.json"
    breaching = run_cli(*common, "samples/trades/breaching.csv", "--output", str(out), "-q")
    assert breaching.returncode == 1, breaching.stderr
    trades = {t["trade_id"]: t for t in json.loads(out.read_text())["gate"]}
    assert trades["B-001"]["action"] == "reduce" and trades["B-001"]["blocked"] is False  # reduces a breach
    assert trades["B-002"]["blocked"] and trades["B-003"]["blocked"]
    assert trades["B-004"]["action"] == "flip" and not trades["B-004"]["blocked"]


def test_pre_commit_hook_and_ci_examples_are_well_formed() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "policy-engine-gate"]
    assert hook["entry"] == "policy-engine gate" and hook["pass_filenames"] and hook["require_serial"]
    assert {"name", "language", "files"} <= hook.keys()
    gha = yaml.safe_load((ROOT / "docs" / "ci" / "github-actions.yml").read_text())
    assert gha["permissions"]["security-events"] == "write"
    assert gha[True]["pull_request"]["paths"]  # YAML 1.1 reads the key `on` as True
    steps = gha["jobs"]["gate"]["steps"]
    upload = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif")]
    assert upload and upload[0]["if"].startswith("always()")
    assert any("policy-engine gate" in s.get("run", "") for s in steps)
    gitlab = yaml.safe_load((ROOT / "docs" / "ci" / "gitlab-ci.yml").read_text())["pre-trade-gate"]
    assert (
        gitlab["artifacts"]["when"] == "always"
        and gitlab["artifacts"]["reports"]["junit"] == "gate-junit.xml"
    )


def test_gate_findings_do_not_depend_on_the_books_row_order(tmp_path) -> None:
    # review finding: a new position took its mark from the first holder of the symbol in file order
    import json

    from tests.conftest import ROOT, run_cli

    lines = (ROOT / "samples/positions.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    # P1006-07 holds DOGEUSDT with its own mark: first in the file, it used to set a new DOGE position's mark
    moved = [line for line in lines[1:] if line.startswith("P1006-07,")]
    assert len(moved) == 1
    rest = [line for line in lines[1:] if not line.startswith("P1006-07,")]
    (tmp_path / "reversed.csv").write_text(lines[0] + moved[0] + "".join(reversed(rest)), encoding="utf-8")
    docs = []
    for positions in (ROOT / "samples/positions.csv", tmp_path / "reversed.csv"):
        out = tmp_path / f"{positions.stem}.json"
        proc = run_cli("gate", "--policies", str(ROOT / "policies"), "--positions", str(positions),
                       "--accounts", str(ROOT / "samples/accounts.csv"), "--market", str(ROOT / "samples/market.json"),
                       "--format", "json", "--output", str(out), "-q", str(ROOT / "samples/trades/breaching.csv"))
        assert proc.returncode == 1, proc.stderr
        docs.append(json.loads(out.read_text()))
    strip = lambda fs: sorted(json.dumps({k: v for k, v in f.items() if k not in ("line", "row")}, sort_keys=True) for f in fs)  # noqa: E731
    assert strip(docs[0]["findings"]) == strip(docs[1]["findings"])
