"""The pre-trade gate, put together: load -> project -> evaluate before and after -> classify.

    inputs (data/) + trades (gate/trades.py) -> project (gate/project.py) -> api.evaluate_inputs x 2
    -> classify (gate/diff.py) -> GateResult (RunResult with ``change`` per finding, extra["gate"])

The emitters (sarif.py, junit.py, github.py, markdown.py, document.py) only read a GateResult.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import polars as pl

from policy_engine.api import RunResult, evaluate_inputs, run_info
from policy_engine.data import Inputs, load_inputs
from policy_engine.errors import DataError, Issue, UsageError
from policy_engine.evaluate import Evaluation
from policy_engine.gate.diff import CHANGES, classify, expression_bounds, trades_summary
from policy_engine.gate.project import project
from policy_engine.gate.trades import load_trades
from policy_engine.model import SEVERITY_NAMES, PolicyPack
from policy_engine.policy import load_pack

NEVER = "never"


@dataclass(frozen=True, slots=True)
class GateResult:
    result: RunResult  # the post-trade run; findings = post-trade + resolved, with change/trade_ids/blocking
    before: Evaluation  # the pre-trade evaluation
    effects: pl.DataFrame  # one row per trade (gate/project.py EFFECT_SCHEMA)
    trade_files: tuple[str, ...]
    fail_on: str
    strict: bool

    @property
    def findings(self) -> pl.DataFrame:
        return self.result.findings

    @property
    def blocking(self) -> pl.DataFrame:
        return self.findings.filter(pl.col("blocking"))

    @property
    def exit_code(self) -> int:
        return 1 if self.blocking.height else 0

    def counts(self) -> dict[str, int]:
        f = self.findings
        counts = {c: 0 for c in CHANGES}
        for change, n in f.group_by("change").len().iter_rows():
            counts[change] = n
        return {**counts, "blocking": self.blocking.height, "trades": self.effects.height}


def threshold(fail_on: str) -> int:
    """The lowest severity rank that blocks (``never``: none does)."""
    return 99 if fail_on == NEVER else SEVERITY_NAMES.index(fail_on) + 1


def run_gate(
    policies: str | Path | PolicyPack,
    positions: str | Path,
    accounts: str | Path | None,
    market: str | Path | None,
    trades: Sequence[str],
    column_map: Mapping[str, str] | None = None,
    fail_on: str = "breach",
    strict: bool = False,
    keep_positions: bool = False,
    as_of: str | None = None,
    now: dt.datetime | None = None,
) -> GateResult:
    """Gate a trade list: raise PolicyEngineError on any bad input (every problem of every file at once)."""
    if not trades:
        raise UsageError("no trade list: give one or more trade files (positionally or with --trades FILE)")
    pack = policies if isinstance(policies, PolicyPack) else load_pack(policies)
    issues: list[Issue] = []
    inputs: Inputs | None = None
    try:
        inputs = load_inputs(positions, accounts, market, column_map)
    except DataError as exc:
        issues += exc.issues
    try:
        trade_frame = load_trades(trades, None if inputs is None else inputs.accounts, column_map)
    except DataError as exc:
        issues += exc.issues
    if issues or inputs is None:
        raise DataError(issues)
    if inputs.accounts is None:
        raise DataError(
            "no account equity: pass --accounts FILE, or give an `equity` column in the positions file"
        )
    brackets = (
        frozenset() if inputs.brackets is None else frozenset(inputs.brackets.get_column("symbol").to_list())
    )
    projection = project(inputs.positions, trade_frame, brackets)
    after = dataclasses.replace(
        inputs, positions=projection.positions, files=(*inputs.files, *(("trades", str(p)) for p in trades))
    )
    before_eval = evaluate_inputs(pack, inputs, keep_positions and not trade_frame.height)
    # an empty trade list leaves the book as it is: one evaluation serves both sides
    after_eval = evaluate_inputs(pack, after, keep_positions) if trade_frame.height else before_eval
    findings = classify(
        before_eval.findings,
        after_eval.findings,
        projection.effects,
        expression_bounds(pack),
        threshold(fail_on),
        strict,
    )
    evaluation = dataclasses.replace(after_eval, findings=findings)
    gate_rows = trades_summary(projection.effects, findings)
    result = RunResult(pack=pack, inputs=after, evaluation=evaluation, info=run_info(pack, after, as_of, now))
    gate = GateResult(result, before_eval, projection.effects, tuple(str(t) for t in trades), fail_on, strict)
    extra: dict[str, Any] = {
        "gate": gate_rows,
        "gate_summary": {
            **gate.counts(),
            "fail_on": fail_on,
            "strict": strict,
            "exit_code": gate.exit_code,
            "trade_files": list(gate.trade_files),
        },
    }
    return dataclasses.replace(gate, result=dataclasses.replace(result, extra={**result.extra, **extra}))
