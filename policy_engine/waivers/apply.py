"""Applying waivers to a run: waived findings leave the findings (they never fail a run).

Expiry is inclusive and evaluated against the snapshot's as-of date in UTC: a waiver with
``expires: 2026-12-31`` applies to a snapshot as of 2026-12-31 (any time that day, UTC) and not
to one as of 2027-01-01. The as-of date is ``result.info.as_of`` (an ISO date or date-time; a
date-time with an offset is converted to UTC, one without is taken as UTC), else the date the run
was generated. An as-of time that cannot be read is an error: expiry would be a guess.

The sections this adds to ``result.extra`` (all JSON values):

* ``waived``: each waived finding (the public finding fields) with its waiver's ``id``, ``reason``,
  ``approved_by``, ``ticket``, ``expires`` and ``source`` (file:line);
* ``expired_waivers``: waivers past their date, with the findings they no longer cover;
* ``expiring_waivers``: waivers that apply but expire within ``warning_days`` (``days_left``);
* ``stale_waivers``: waivers that apply but matched no finding;
* ``waivers``: the files, the as-of date and the counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from policy_engine.api import RunResult
from policy_engine.errors import DataError, Issue
from policy_engine.evaluate import FINDING_COLUMNS
from policy_engine.policy.humanize import suggest
from policy_engine.waivers.load import Waiver, WaiverError, Waivers, load_waivers

DEFAULT_WARNING_DAYS = 14


def _instant(text: str) -> dt.datetime | None:
    s = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        value = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def as_of_date(as_of: str | None, generated_at: str) -> dt.date:
    """The UTC date waivers are evaluated at: the snapshot's as-of time, else when the run was made."""
    text = as_of or generated_at
    instant = _instant(text)
    if instant is None:
        raise DataError([Issue("", f"cannot read the as-of time {text!r} to evaluate waiver expiry: "
                                   "give --as-of as an ISO date or date-time, e.g. 2026-06-30 or 2026-06-30T16:00:00Z")])
    return instant.date()


def _resolve(waiver: Waiver, rules: list[tuple[str, str]]) -> tuple[tuple[str, str] | None, Issue | None]:
    """The (policy id, rule id) a waiver's ``rule`` names in this pack, or why it names none."""
    assert waiver.rule is not None
    ref = waiver.rule_source or waiver.source
    if "/" in waiver.rule:
        policy, rule = waiver.rule.split("/", 1)
        if (policy, rule) in rules:
            return (policy, rule), None
        problem = _unknown(waiver.rule, rules)
    else:
        matches = [(p, r) for p, r in rules if r == waiver.rule]
        if len(matches) == 1:
            return matches[0], None
        if matches:
            problem = (f"rule '{waiver.rule}' is in several policies: write "
                       + " or ".join(f"'{p}/{r}'" for p, r in matches))
        else:
            problem = _unknown(waiver.rule, rules)
    return None, Issue(ref.file, problem, ref.line, ref.column, f"waiver {waiver.id}")


def _unknown(name: str, rules: list[tuple[str, str]]) -> str:
    """Why ``name`` names no rule: ids are case-sensitive, so a match but for case is said so."""
    names = [f"{p}/{r}" for p, r in rules]
    folded = name.casefold()
    same = [n for n, (_, r) in zip(names, rules) if folded in (n.casefold(), r.casefold())]
    if same:
        return (f"rule '{name}' is not in the policy pack: ids are case-sensitive; did you mean "
                + " or ".join(f"'{n}'" for n in same) + "?")
    return f"rule '{name}' is not in the policy pack{suggest(name, names, 'rules')}"


def _selector(waiver: Waiver, rule: tuple[str, str] | None) -> pl.Expr:
    if waiver.finding_id is not None:
        return pl.col("finding_id") == waiver.finding_id
    assert rule is not None
    expr = (pl.col("policy_id") == rule[0]) & (pl.col("rule_id") == rule[1]) & (pl.col("account_id") == waiver.account)
    if waiver.position is not None:
        expr &= pl.col("position_id") == waiver.position
    if waiver.symbol is not None:
        expr &= pl.col("symbol") == waiver.symbol
    return expr.fill_null(False)


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def waiver_record(w: Waiver) -> dict[str, Any]:
    return {"id": w.id, "rule": w.rule, "account": w.account, "position": w.position, "symbol": w.symbol,
            "finding_id": w.finding_id, "reason": w.reason, "approved_by": w.approved_by, "ticket": w.ticket,
            "expires": w.expires.isoformat(), "source": w.where}


def _approval(w: Waiver) -> dict[str, Any]:
    """What a waived finding carries of its waiver (not the selectors: they would shadow its fields)."""
    return {"id": w.id, "reason": w.reason, "approved_by": w.approved_by, "ticket": w.ticket,
            "expires": w.expires.isoformat(), "source": w.where}


def apply_waivers(
    result: RunResult, waivers: Waivers | str | Path, warning_days: int = DEFAULT_WARNING_DAYS
) -> RunResult:
    """``result`` without the findings its waivers cover, and the waiver sections in ``extra``.

    ``waivers``: loaded waivers, or the path of a waiver file or directory (read here).
    """
    if not isinstance(waivers, Waivers):
        waivers = load_waivers(waivers)
    today = as_of_date(result.info.as_of, result.info.generated_at)
    rules = [(p.id, r.id) for p, r in result.pack.rules]
    selected: list[tuple[Waiver, pl.Expr]] = []
    issues = []
    for w in waivers.waivers:
        rule, issue = _resolve(w, rules) if w.finding_id is None else (None, None)
        if issue:
            issues.append(issue)
        else:
            selected.append((w, _selector(w, rule)))
    if issues:
        raise WaiverError(issues)
    findings = result.findings
    # a gate's findings also list the pre-trade findings its trades resolve: they are not in the book
    waivable = (pl.col("change") != "resolved").fill_null(True) if "change" in findings.columns else pl.lit(True)
    matched = findings.select(
        [(expr & waivable).alias(str(i)) for i, (_, expr) in enumerate(selected)]
    ) if selected and findings.height else None
    live = [i for i, (w, _) in enumerate(selected) if w.expires >= today]
    owner = pl.Series("__waiver", [None] * findings.height, dtype=pl.Int64)
    if live and matched is not None:
        # the first live waiver (in file order) that selects a finding is the one that waives it
        chain: Any = pl
        for i in live:
            chain = chain.when(pl.col(str(i))).then(pl.lit(i, dtype=pl.Int64))
        owner = matched.select(chain.otherwise(None).alias("__waiver")).to_series()
    tagged = findings.with_columns(owner.alias("__waiver"))
    kept = tagged.filter(pl.col("__waiver").is_null()).drop("__waiver")
    waived_rows = tagged.filter(pl.col("__waiver").is_not_null())
    public = [c for c in FINDING_COLUMNS if c in waived_rows.columns]
    waived = [
        {**{c: _clean(row[c]) for c in public}, **_approval(selected[row["__waiver"]][0])}
        for row in waived_rows.select(*public, "__waiver").iter_rows(named=True)
    ]

    def hits(i: int) -> list[str]:
        if matched is None:
            return []
        return findings.filter(matched.get_column(str(i))).get_column("finding_id").to_list()

    expired, expiring, stale = [], [], []
    for i, (w, _) in enumerate(selected):
        ids = hits(i)
        if w.expires < today:
            expired.append({**waiver_record(w), "expired_days_ago": (today - w.expires).days,
                            "findings": len(ids), "finding_ids": ids})
            continue
        if not ids:
            stale.append(waiver_record(w))
        if (w.expires - today).days <= warning_days:
            expiring.append({**waiver_record(w), "days_left": (w.expires - today).days, "findings": len(ids)})
    extra = dict(result.extra)
    extra.update({
        "waived": waived, "expired_waivers": expired, "expiring_waivers": expiring, "stale_waivers": stale,
        "waivers": {"files": list(waivers.files), "as_of_date": today.isoformat(), "warning_days": warning_days,
                    "count": len(selected), "waived_findings": len(waived), "expired": len(expired),
                    "expiring": len(expiring), "stale": len(stale)},
    })
    evaluation = dataclasses.replace(result.evaluation, findings=kept)
    return dataclasses.replace(result, evaluation=evaluation, extra=extra)


def waiver_warnings(result: RunResult) -> list[str]:
    """Lines for stderr: lapsed waivers (their findings are back), waivers about to lapse, stale ones."""
    extra: Mapping[str, Any] = result.extra
    lines = []
    as_of = (extra.get("waivers") or {}).get("as_of_date")
    for w in extra.get("expired_waivers") or []:
        n = w["findings"]
        back = f"{n} finding{'s are' if n != 1 else ' is'} back" if n else "it matched nothing"
        lines.append(f"warning: waiver {w['id']} expired on {w['expires']} (as of {as_of}): {back} [{w['source']}]")
    for w in extra.get("expiring_waivers") or []:
        days = w["days_left"]
        when = "today is its last day" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
        lines.append(f"warning: waiver {w['id']} expires on {w['expires']} ({when}; ticket {w['ticket']}) [{w['source']}]")
    for w in extra.get("stale_waivers") or []:
        lines.append(f"note: waiver {w['id']} matched no finding (stale): remove it or fix its selector [{w['source']}]")
    return lines
