"""Classify post-trade findings against pre-trade ones, and name the trades behind each.

A finding's identity is its ``finding_id`` (policy, rule, check, account, position), so:

* ``new``: the post-trade finding has no pre-trade twin (a flip opens a new position: new findings);
* ``worsened``: it had one and its severity rose (near-limit -> breach), or its observed value moved
  further past the limit (for a near-limit finding: closer to it), by more than a relative 1e-9;
* ``unchanged``: pre-existing and not worse (a reduction that leaves a breach smaller lands here);
* ``resolved``: a pre-trade finding with no post-trade twin.

Which way is "further" comes from the finding itself: a breach lies past its limit, so
sign(observed - limit) points away from compliance (a near-limit finding lies on the safe side, so
the sign flips). Expression rules carry no limit; for a ``require`` of the form ``<observed> <= N``
(or <, >=, >) the bound is read from the rule. Otherwise only a rise in severity counts as worse.

A trade that only reduces or closes positions (no stop moved, no margin released) is never blamed
for making a finding worse: a worsening attributed to such trades alone is ``unchanged``.

Attribution (``trade_ids``/``trade_lines``/``trade_sources``): a position's finding names the trades
that acted on that position or opened it (a flip touches the position it closes and the one it
opens); an account's finding (no position) every trade of the account. A new or worsened finding on
a position no trade acted on (an account-wide metric moved it) falls back to the trades of the same
account and symbol, else to every trade of the account.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from policy_engine.model import PolicyPack

CHANGES = ("new", "worsened", "unchanged", "resolved")
REL_TOL = 1e-9
_PURE = ("reduce", "close")
_BOUND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|<|>=|>)\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$")
_LISTS = ("trade_ids", "trade_lines", "trade_sources")


def expression_bounds(pack: PolicyPack) -> pl.DataFrame:
    """(policy_id, rule_id, direction, bound) for expression rules whose require is ``observed op number``."""
    rows: list[dict[str, Any]] = []
    for policy, rule in pack.rules:
        params = rule.params
        match = _BOUND.match(str(params.get("require", ""))) if rule.kind == "expression" else None
        if match and str(params.get("observed", "")).strip() == match.group(1):
            rows.append(
                {
                    "policy_id": policy.id,
                    "rule_id": rule.id,
                    "__dir": 1.0 if match.group(2).startswith("<") else -1.0,
                    "__bound": float(match.group(3)),
                }
            )
    schema = {"policy_id": pl.String, "rule_id": pl.String, "__dir": pl.Float64, "__bound": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def _direction(observed: pl.Expr, limit: pl.Expr, status: pl.Expr) -> pl.Expr:
    gap = observed - limit
    known = limit.is_not_null() & observed.is_not_null() & (gap.abs() > limit.abs() * REL_TOL)
    return pl.when(known).then(gap.sign() * pl.when(status == "breach").then(1.0).otherwise(-1.0))


def _attribution(effects: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Trade lists per position, per (account, symbol) and per account; are they all pure reductions?"""
    pure = pl.col("action").is_in(_PURE) & ~pl.col("sets_stop") & (pl.col("margin_change").fill_null(0) >= 0)
    e = effects.sort("line").with_columns(pure.alias("__pure"))
    aggs = [
        pl.col("trade_id").alias("trade_ids"),
        pl.col("line").alias("trade_lines"),
        pl.col("source").alias("trade_sources"),
        pl.col("__pure").all().alias("__all_pure"),
    ]
    touched = (
        pl.concat(
            [  # a trade touches the position it acted on and the one it left (a flip: two)
                e.with_columns(pl.col(c).alias("__pid")) for c in ("position_id", "new_position_id")
            ]
        )
        .drop_nulls("__pid")
        .unique(["trade_id", "__pid"], maintain_order=True)
    )
    by_position = (
        touched.sort("line").group_by("account_id", "__pid").agg(aggs).rename({"__pid": "position_id"})
    )
    by_symbol = (
        e.group_by("account_id", "symbol").agg(aggs).rename({c: f"{c}_sym" for c in (*_LISTS, "__all_pure")})
    )
    by_account = e.group_by("account_id").agg(aggs).rename({c: f"{c}_acc" for c in (*_LISTS, "__all_pure")})
    return by_position, by_symbol, by_account


def _pick(level: pl.Expr, name: str) -> pl.Expr:
    """The column of the attribution level chosen per row: 'pos', 'sym' or 'acc'."""
    return (
        pl.when(level == "pos")
        .then(pl.col(name))
        .when(level == "sym")
        .then(pl.col(f"{name}_sym"))
        .when(level == "acc")
        .then(pl.col(f"{name}_acc"))
        .alias(name)
    )


def classify(
    pre: pl.DataFrame,
    post: pl.DataFrame,
    effects: pl.DataFrame,
    bounds: pl.DataFrame,
    threshold: int,
    strict: bool,
) -> pl.DataFrame:
    """Post-trade findings plus resolved pre-trade ones, with ``change``, the trades and ``blocking``."""
    before = pre.select(
        "finding_id",
        pl.col("observed").alias("observed_before"),
        pl.col("limit").alias("__limit_before"),
        pl.col("severity").alias("severity_before"),
        pl.col("severity_rank").alias("__rank_before"),
        pl.col("status").alias("__status_before"),
    )
    by_position, by_symbol, by_account = _attribution(effects)

    def attributed(df: pl.DataFrame) -> pl.DataFrame:
        return (
            df.join(by_position, on=["account_id", "position_id"], how="left")
            .join(by_symbol, on=["account_id", "symbol"], how="left")
            .join(by_account, on="account_id", how="left")
        )

    joined = attributed(
        post.join(before, on="finding_id", how="left").join(bounds, on=["policy_id", "rule_id"], how="left")
    )
    limit = pl.coalesce("limit", "__bound")
    limit_before = pl.coalesce("__limit_before", "__bound")
    direction = pl.coalesce(
        _direction(pl.col("observed_before"), limit_before, pl.col("__status_before")),
        _direction(pl.col("observed"), limit, pl.col("status")),
        pl.col("__dir"),
    )
    excess = direction * (pl.col("observed") - limit)
    excess_before = direction * (pl.col("observed_before") - limit_before)
    scale = pl.max_horizontal(
        pl.col("observed").abs(), pl.col("observed_before").abs(), limit.abs(), pl.lit(1e-300)
    )
    further = (excess - excess_before > scale * REL_TOL).fill_null(False)
    existed = pl.col("__rank_before").is_not_null()
    worse = existed & ((pl.col("severity_rank") > pl.col("__rank_before")) | further)
    # the trades behind a finding: its position's, else (new or worse) its symbol's, else its account's
    own = (
        pl.when(pl.col("position_id").is_null())
        .then(pl.lit("acc"))
        .when(pl.col("trade_ids").is_not_null())
        .then(pl.lit("pos"))
    )
    wide = pl.when(pl.col("trade_ids_sym").is_not_null()).then(pl.lit("sym")).otherwise(pl.lit("acc"))
    level = pl.coalesce(own, wide)
    all_pure = _pick(level, "__all_pure").fill_null(False)
    change = (
        pl.when(~existed)
        .then(pl.lit("new"))
        .when(worse & ~all_pure)
        .then(pl.lit("worsened"))
        .otherwise(pl.lit("unchanged"))
    )
    classified = joined.with_columns(change.alias("change"), level.alias("__level"))
    blamed = pl.col("change").is_in(["new", "worsened"])
    # an unchanged finding shows the trades that touched its own position (or account), never the fallbacks
    shown = pl.when(blamed | pl.col("position_id").is_null() | (pl.col("__level") == "pos")).then(
        pl.col("__level")
    )
    classified = classified.with_columns(_pick(shown, c) for c in _LISTS)
    resolved = attributed(pre.join(post.select("finding_id"), on="finding_id", how="anti")).with_columns(
        pl.lit("resolved").alias("change"),
        pl.col("observed").alias("observed_before"),
        pl.col("severity").alias("severity_before"),
        *(
            _pick(pl.when(pl.col("position_id").is_null()).then(pl.lit("acc")).otherwise(pl.lit("pos")), c)
            for c in _LISTS
        ),
    )
    out = pl.concat(
        [_shape(classified, post.columns), _shape(resolved, post.columns)], how="vertical_relaxed"
    )
    blocks = pl.col("change").is_in(["new", "worsened"]) | (pl.lit(strict) & (pl.col("change") != "resolved"))
    out = out.with_columns((blocks & (pl.col("severity_rank") >= threshold)).alias("blocking"))
    order = pl.col("change").replace_strict(CHANGES, list(range(len(CHANGES))), return_dtype=pl.Int8)
    return out.sort(
        [
            pl.col("blocking"),
            "severity_rank",
            order,
            "policy_id",
            "rule_id",
            "check",
            "account_id",
            "position_id",
        ],
        descending=[True, True, False, False, False, False, False, False],
        nulls_last=True,
    )


def _shape(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    lists = [
        pl.col("trade_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.col("trade_lines").fill_null(pl.lit([], dtype=pl.List(pl.Int64))),
        pl.col("trade_sources").fill_null(pl.lit([], dtype=pl.List(pl.String))),
    ]
    return df.with_columns(lists).select(
        *columns,
        "change",
        "observed_before",
        "severity_before",
        *_LISTS,
    )


def trades_summary(
    effects: pl.DataFrame, findings: pl.DataFrame, waived: pl.DataFrame | None = None
) -> list[dict[str, Any]]:
    """One dict per trade for RunResult.extra["gate"]: what it did and the findings it caused.

    ``waived``: the findings waivers took out (GateResult.waived); the new or worsened ones a trade
    caused are its ``waived_findings`` (they do not block it).
    """
    empty = pl.lit([], dtype=pl.List(pl.String))

    def caused_by(frame: pl.DataFrame, blocking: str) -> pl.DataFrame:
        return (
            frame.filter(pl.col("change").is_in(["new", "worsened"]))
            .select("finding_id", blocking, "trade_ids")
            .explode("trade_ids")
            .drop_nulls("trade_ids")
            .group_by("trade_ids")
            .agg(
                pl.col("finding_id").alias("findings_caused"),
                pl.col("finding_id").filter(pl.col(blocking)).alias("blocking_findings"),
            )
            .rename({"trade_ids": "trade_id"})
        )

    caused = caused_by(findings, "blocking")
    rows = effects.join(caused, on="trade_id", how="left", maintain_order="left")
    if waived is not None and waived.height:
        by_waiver = caused_by(waived, "would_block").select(
            "trade_id", pl.col("findings_caused").alias("waived_findings")
        )
        rows = rows.join(by_waiver, on="trade_id", how="left", maintain_order="left")
    else:
        rows = rows.with_columns(empty.alias("waived_findings"))
    rows = rows.with_columns(
        pl.col(c).fill_null(empty) for c in ("findings_caused", "blocking_findings", "waived_findings")
    )
    out = rows.select(
        "trade_id",
        "line",
        "source",
        "account_id",
        "symbol",
        "side",
        "quantity",
        "price",
        "price_source",
        "action",
        "position_id",
        "new_position_id",
        "findings_caused",
        "blocking_findings",
        "waived_findings",
        (pl.col("blocking_findings").list.len() > 0).alias("blocked"),
    )
    return out.to_dicts()
