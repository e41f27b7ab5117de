"""The pre-trade gate, put together: load -> project -> evaluate before and after -> classify.

    inputs (data/) + trades (gate/trades.py) -> project (gate/project.py) -> api.evaluate_inputs x 2
    -> classify (gate/diff.py) -> GateResult (RunResult with ``change`` per finding, extra["gate"])

With --waivers/--history (commands/gate.py), ``run_tracked`` passes ``GateResult.result`` through
``apply_waivers`` and the history store, and ``settle`` puts the outcome back into the GateResult:
waived findings move to ``GateResult.waived`` (with their gate columns, so that every output can
still point at the trade line), and extra["gate"] / extra["gate_summary"] are computed again.

The emitters (sarif.py, junit.py, github.py, markdown.py, document.py) only read a GateResult.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
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
    # the findings waivers took out of ``result`` (gate columns, ``would_block``, ``waiver_*``);
    # None when no waivers were applied
    waived: pl.DataFrame | None = field(default=None)

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
        out = {**counts, "blocking": self.blocking.height, "trades": self.effects.height}
        if self.waived is not None:
            out["waived"] = self.waived.height
        return out

    @property
    def waived_rows(self) -> list[dict[str, Any]]:
        """The waived findings as dicts (empty without waivers), worst first as the findings are."""
        return [] if self.waived is None else self.waived.to_dicts()


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
    market_vol = (
        frozenset() if inputs.volatility is None else frozenset(inputs.volatility.get_column("symbol").to_list())
    )
    projection = project(inputs.positions, trade_frame, brackets, market_vol)
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
    extra: dict[str, Any] = {"gate": gate_rows, "gate_summary": gate_summary(gate)}
    return dataclasses.replace(gate, result=dataclasses.replace(result, extra={**result.extra, **extra}))


def gate_summary(gate: GateResult) -> dict[str, Any]:
    """RunResult.extra["gate_summary"]: the counts, the options and the exit code."""
    return {
        **gate.counts(),
        "fail_on": gate.fail_on,
        "strict": gate.strict,
        "exit_code": gate.exit_code,
        "trade_files": list(gate.trade_files),
    }


WAIVER_FIELDS = ("id", "reason", "approved_by", "ticket", "expires", "source")
# what a waived finding's extra["waived"] record gains of the gate (its change, its trades)
WAIVED_GATE_FIELDS = (
    "change",
    "would_block",
    "observed_before",
    "severity_before",
    "trade_ids",
    "trade_lines",
    "trade_sources",
)
_HISTORY_FIELDS: dict[str, pl.DataType] = {
    "history_change": pl.String(),
    "first_seen": pl.String(),
    "age_days": pl.Int64(),
    "breach_type": pl.String(),
}


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _waived_frame(findings: pl.DataFrame, records: list[dict[str, Any]]) -> pl.DataFrame:
    """The gate rows of the waived findings (in the findings' order), with their waiver and history."""
    schema: dict[str, pl.DataType] = {
        "finding_id": pl.String(),
        **{f"waiver_{k}": pl.String() for k in WAIVER_FIELDS},
    }
    if any("first_seen" in w for w in records):  # recorded with --history: the comparison rides along
        schema.update(_HISTORY_FIELDS)
    columns = pl.DataFrame(
        {
            name: [w.get(name.removeprefix("waiver_")) for w in records]  # waiver_id <- id, ...
            for name in schema
        },
        schema=schema,
    )
    own = findings.filter(pl.col("finding_id").is_in(columns.get_column("finding_id").to_list()))
    return (
        own.rename({"blocking": "would_block"})
        .join(columns, on="finding_id", how="left", maintain_order="left")
        .with_columns(pl.lit(False).alias("blocking"))
    )


def settle(gate: GateResult, result: RunResult) -> GateResult:
    """The gate after ``result`` (``gate.result`` passed through ``apply_waivers`` and/or the history store).

    Waived findings are no longer in ``result.findings``, so they neither block nor count. They are
    kept in ``GateResult.waived`` with their gate columns (change, trades, lines), ``would_block``
    (whether they would have blocked) and their waiver (``waiver_id``, ``waiver_reason``, ...); their
    ``extra["waived"]`` records gain the gate columns too. extra["gate"] and extra["gate_summary"],
    computed by run_gate before the waivers, are computed again from what is left.
    """
    extra: dict[str, Any] = dict(result.extra)
    waived = None
    if "waivers" in extra:  # apply_waivers ran (even if it waived nothing)
        records = list(extra.get("waived") or [])
        waived = _waived_frame(gate.findings, records)
        fields = {r["finding_id"]: r for r in waived.select("finding_id", *WAIVED_GATE_FIELDS).to_dicts()}
        extra["waived"] = [
            {**w, **{k: _clean(v) for k, v in fields.get(w["finding_id"], {}).items() if k != "finding_id"}}
            for w in records
        ]
    settled = dataclasses.replace(gate, result=result, waived=waived)
    extra["gate"] = trades_summary(settled.effects, settled.findings, waived)
    extra["gate_summary"] = gate_summary(settled)
    return dataclasses.replace(settled, result=dataclasses.replace(result, extra=extra))
