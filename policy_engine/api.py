"""The public API: compose load -> validate -> compile -> evaluate. The CLI is a thin layer on it."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import polars as pl

from policy_engine import __version__, progress
from policy_engine.compile import compile_pack, referenced_columns
from policy_engine.data import Inputs, file_sha256, load_inputs
from policy_engine.errors import DataError, Issue, UsageError
from policy_engine.evaluate import Evaluation, evaluate
from policy_engine.metrics import derive
from policy_engine.model import MetricSettings, PolicyPack
from policy_engine.policy import load_pack
from policy_engine.preflight import column_issues, profile_issues
from policy_engine.rules import fmt

# Columns computed with a window over the account: their float sums depend on row order, so the
# positions are put in a canonical order first when a rule reads them.
ACCOUNT_AGGREGATES = frozenset({"gross_exposure", "account_leverage"})
_MATERIALISE_BELOW = 250_000  # positions


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Facts about a run, for the report header and audit trail."""

    engine_version: str
    generated_at: str
    as_of: str | None
    input_files: tuple[tuple[str, str, str], ...]  # (role, path, sha256)
    policy_pack: tuple[tuple[str, str], ...]  # (policy id, version)
    policy_hash: str
    positions: int
    accounts: int


@dataclass(frozen=True, slots=True)
class RunResult:
    pack: PolicyPack
    inputs: Inputs
    evaluation: Evaluation
    info: RunInfo
    extra: dict[str, object] = field(default_factory=dict)  # room for diff/history/waiver sections

    @property
    def findings(self) -> pl.DataFrame:
        return self.evaluation.findings


def base_frame(
    inputs: Inputs, settings: MetricSettings, canonical_order: bool = False, keep_order: bool = True
) -> pl.LazyFrame:
    """The positions joined with accounts and market data, with every derived metric.

    ``canonical_order`` sorts by account and position first (implies ``keep_order``); without
    ``keep_order`` rows may come out in any order (metrics.derive)."""
    positions, accounts = inputs.keyed_frames()
    if canonical_order:
        positions = positions.sort("account_id", "position_id")
    return derive(
        positions,
        accounts,
        settings,
        None if inputs.volatility is None else inputs.volatility.lazy(),
        inputs.brackets,
        keep_order=keep_order or canonical_order,
    )


def parse_as_of(text: str, source: str = "--as-of") -> str:
    """``text`` when it is an ISO date or date-time; anything else is an error, never stored as the
    run's as-of time. Use ``as_of_key`` to compare two of them."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{source}: '{text}' is not an ISO date or date-time (e.g. 2026-11-20 or "
                         "2026-11-20T16:00:00Z)") from None
    del when
    return text.strip()


def as_of_key(text: str) -> dt.datetime:
    """An as-of time as an aware UTC datetime (a date, or a time without offset, counts as UTC)."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)


def _as_of(inputs: Inputs, as_of: str | None) -> str | None:
    if as_of:
        return parse_as_of(as_of)
    for name in ("as_of", "snapshot_time", "timestamp"):
        if name in inputs.positions.columns and inputs.positions.height:
            # the latest time of the column; parsed, since text order is wrong across UTC offsets
            values = inputs.positions.get_column(name).drop_nulls().cast(pl.String).unique().to_list()
            source = f"{dict(inputs.files).get('positions', 'positions')} [{name}]"
            return max((parse_as_of(v, source) for v in values), key=as_of_key, default=None)
    return None


def run_info(
    pack: PolicyPack,
    inputs: Inputs,
    as_of: str | None,
    now: dt.datetime | None = None,
    digests: Mapping[str, str] | None = None,
) -> RunInfo:
    """``digests``: sha256 of input paths already computed (see ``_digest_in_background``)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    known = digests or {}
    return RunInfo(
        engine_version=__version__,
        generated_at=now.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        as_of=_as_of(inputs, as_of),
        input_files=tuple((role, path, known.get(path) or file_sha256(path)) for role, path in inputs.files),
        policy_pack=tuple((p.id, p.version) for p in pack.policies),
        policy_hash=pack.content_hash,
        positions=inputs.positions.height,
        accounts=0 if inputs.accounts is None else inputs.accounts.height,
    )


def evaluate_inputs(pack: PolicyPack, inputs: Inputs, keep_positions: bool = False) -> Evaluation:
    """Pre-flight checks, then one evaluation of the pack over the inputs."""
    positions_src = dict(inputs.files).get("positions", "positions")
    accounts_src = dict(inputs.files).get("accounts", positions_src)
    issues = profile_issues(pack, inputs.accounts, accounts_src)
    issues += column_issues(pack, inputs.positions.columns, positions_src)
    if issues:
        raise DataError(issues)
    small = inputs.positions.height <= _MATERIALISE_BELOW
    # a small book's cost is planning the messages' expressions, not running them (rules/fmt_compact.py)
    with fmt.compact(small):
        compiled = compile_pack(pack)
    canonical = bool(referenced_columns(compiled) & ACCOUNT_AGGREGATES)
    # row order matters only to float sums over an account and to positions shown in a report
    base = base_frame(inputs, pack.settings, canonical, keep_order=keep_positions)
    if small:
        # small books (a gate's, a client's): computing the joins and metrics once up front costs
        # little memory and saves the optimiser planning them inside every check's branch
        base = base.collect().lazy()
    return evaluate(base, compiled, keep_positions)


def check(
    policies: str | Path | PolicyPack,
    positions: str | Path,
    accounts: str | Path | None = None,
    market: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    keep_positions: bool = False,
    as_of: str | None = None,
    now: dt.datetime | None = None,
    allow_empty: bool = False,
) -> RunResult:
    """Load a policy pack and a snapshot, validate both, evaluate; raise PolicyEngineError on bad input.

    A snapshot without positions is an error unless ``allow_empty``: a broken export must not pass a
    scheduled check as "no findings".
    """
    with progress.stage("policies"):
        pack = policies if isinstance(policies, PolicyPack) else load_pack(policies)
    inputs = load_inputs(positions, accounts, market, column_map)
    if inputs.positions.height == 0 and not allow_empty:
        raise DataError([Issue(str(positions), "the positions file has no rows; if an empty book is expected, "
                                               "pass --allow-empty")])
    if inputs.accounts is None:
        raise DataError("no account equity: pass --accounts FILE, or give an `equity` column in the positions file")
    digests = _digest_in_background([path for _, path in inputs.files])
    with progress.stage("evaluating", f"{inputs.positions.height:,} positions"):
        evaluation = evaluate_inputs(pack, inputs, keep_positions)
    with progress.stage("hashing inputs"):
        info = run_info(pack, inputs, as_of, now, digests.result())
    return RunResult(pack=pack, inputs=inputs, evaluation=evaluation, info=info)


class _Digests(threading.Thread):
    """sha256 of the input files (for the audit trail), read while the evaluation runs: hashlib
    releases the GIL on large blocks, so this overlaps with Polars' work instead of following it."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.paths = paths
        self.digests: dict[str, str] = {}
        self.start()

    def run(self) -> None:
        for path in self.paths:
            try:
                self.digests[path] = file_sha256(path)
            except Exception:  # noqa: BLE001 - run_info hashes again and reports the problem itself
                pass

    def result(self) -> dict[str, str]:
        self.join()
        return self.digests


def _digest_in_background(paths: list[str]) -> _Digests:
    return _Digests(paths)


def metrics(
    positions: str | Path,
    accounts: str | Path | None = None,
    market: str | Path | None = None,
    settings: MetricSettings | None = None,
    column_map: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Every derived metric per position, for auditing each number."""
    inputs = load_inputs(positions, accounts, market, column_map)
    out = base_frame(inputs, settings or MetricSettings(), canonical_order=True).collect()
    return out.drop([c for c in out.columns if c.startswith("__")])
