"""What changed since the previous run of the same scope: pure functions over Polars frames.

* ``change``: ``new`` when the previous complete run of the scope did not have the finding id,
  ``persisting`` when it did; previous findings absent now are ``resolved``.
* ``first_seen``: the run time of the first run of the unbroken streak in which the finding
  appeared (carried forward from the previous run); ``age_days``: whole UTC calendar days from
  ``first_seen`` to this run's time (never negative).
* ``breach_type`` (breaches only; null for near-limit warnings): decided when a finding becomes a
  breach -- it is new, or was only near the limit in the previous run. ``passive`` when the
  position did not change since the previous run (same quantity, leverage, margin and stop, within
  a tolerance): the market moved. ``active`` when the position is new or changed. For a finding
  about a whole account, the account is unchanged when it holds the same positions, each
  unchanged. A breach that persists keeps the classification it got when it appeared (a
  passive breach does not turn active because the market kept moving); null when there was no
  previous run to compare with.

Frames, not rows: a book of a million positions with hundreds of thousands of findings compares in
a few joins.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

import polars as pl

REL_TOL, ABS_TOL = 1e-9, 1e-12  # CSV round trips and float sums differ in the last bits only

STATE_SCHEMA: dict[str, pl.DataType] = {
    "position_id": pl.String(), "account_id": pl.String(), "quantity": pl.Float64(), "leverage": pl.Float64(),
    "margin": pl.Float64(), "stop_loss_price": pl.Float64(),
}
STATE_FIELDS: tuple[str, ...] = ("quantity", "leverage", "margin", "stop_loss_price")
# what the comparison reads of the previous run's findings
PREVIOUS_SCHEMA: dict[str, pl.DataType] = {
    "finding_id": pl.String(), "status": pl.String(), "first_seen": pl.String(), "breach_type": pl.String(),
}


def parse_instant(text: str | None) -> dt.datetime | None:
    """An ISO date or date-time as an aware UTC datetime (naive means UTC); None if unreadable."""
    if not text:
        return None
    s = str(text).strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        value = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_time(as_of: str | None, generated_at: str) -> str:
    """The clock of a run for first_seen and ages: the snapshot's as-of time, else when it ran."""
    instant = parse_instant(as_of) or parse_instant(generated_at)
    return iso(instant) if instant else generated_at


def age_days(first_seen: str, now: str) -> int:
    a, b = parse_instant(first_seen), parse_instant(now)
    return 0 if a is None or b is None else max(0, (b.date() - a.date()).days)


def _same(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    a, b = a.fill_nan(None), b.fill_nan(None)
    close = (a - b).abs() <= pl.max_horizontal(pl.max_horizontal(a.abs(), b.abs()) * REL_TOL, pl.lit(ABS_TOL))
    return (a.is_null() & b.is_null()) | (a.is_not_null() & b.is_not_null() & close)  # a stop added is a change


def unchanged(before: pl.DataFrame, now: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(position_id, same) for every position now, and (account_id, same) for every account now."""
    joined = now.join(before, on="position_id", how="full", suffix="_b", coalesce=True).with_columns(
        pl.all_horizontal(
            pl.col("account_id").is_not_null(), pl.col("account_id_b").is_not_null(),
            (pl.col("account_id") == pl.col("account_id_b")).fill_null(False),
            *(_same(pl.col(c), pl.col(f"{c}_b")) for c in STATE_FIELDS),
        ).alias("same")
    )
    positions = joined.filter(pl.col("account_id").is_not_null()).select("position_id", "same")
    # an account is unchanged when nothing was opened, closed or changed in it
    sides = pl.concat([joined.select(pl.col("account_id"), "same"),
                       joined.select(pl.col("account_id_b").alias("account_id"), "same")]).drop_nulls("account_id")
    accounts = sides.group_by("account_id").agg(pl.col("same").all())
    return positions, accounts


def annotate(
    current: pl.DataFrame, previous: pl.DataFrame | None, states: pl.DataFrame,
    load_previous_states: Callable[[], pl.DataFrame], now: str,
) -> pl.DataFrame:
    """``current`` (finding_id, status, account_id, position_id, ...) with change, first_seen, age_days and
    breach_type added. ``previous`` is the previous run's findings (PREVIOUS_SCHEMA), None if there is none."""
    prev = previous if previous is not None else pl.DataFrame(schema=PREVIOUS_SCHEMA)
    out = current.join(
        prev.rename({"status": "__prev_status", "first_seen": "__prev_first", "breach_type": "__prev_type"}),
        on="finding_id", how="left", maintain_order="left",
    )
    persisting = pl.col("__prev_status").is_not_null()
    breach = pl.col("status") == "breach"
    kept = breach & persisting & (pl.col("__prev_status") == "breach")
    becomes = breach & ~kept  # new, or near-limit before: classified now
    if previous is not None and out.select(becomes.any()).item():
        positions, accounts = unchanged(load_previous_states(), states)
        out = out.join(positions.rename({"same": "__pos_same"}), on="position_id", how="left", maintain_order="left")
        out = out.join(accounts.rename({"same": "__acc_same"}), on="account_id", how="left", maintain_order="left")
        same = pl.when(pl.col("position_id").is_null()).then(pl.col("__acc_same")).otherwise(pl.col("__pos_same"))
        classified = pl.when(same.fill_null(False)).then(pl.lit("passive")).otherwise(pl.lit("active"))
    else:
        classified = pl.lit(None, dtype=pl.String)
    first_seen = pl.when(persisting).then(pl.col("__prev_first").fill_null(pl.lit(now))).otherwise(pl.lit(now))
    today = dt.date.fromisoformat(now[:10])
    return out.with_columns(
        pl.when(persisting).then(pl.lit("persisting")).otherwise(pl.lit("new")).alias("change"),
        first_seen.alias("first_seen"),
        pl.when(kept).then(pl.col("__prev_type")).when(becomes).then(classified).otherwise(None).alias("breach_type"),
    ).with_columns(
        (pl.lit(today) - pl.col("first_seen").str.slice(0, 10).str.to_date(strict=False))
        .dt.total_days().clip(lower_bound=0).fill_null(0).cast(pl.Int64).alias("age_days"),
    ).drop([c for c in ("__prev_status", "__prev_first", "__prev_type", "__pos_same", "__acc_same") if c in out.columns])
