"""Bring the account columns together: from an accounts file, from positions that carry them inline, or both.

After this step account columns live in one place, the accounts frame, so that joining it to the
positions cannot produce two ``equity`` columns:

* no accounts file, positions carry ``equity``: the accounts frame is built from the positions
  (one account with two different values of a column is an error);
* an accounts file: every position's account must be in it; inline values must agree with it and
  fill the cells it leaves empty;
* neither: no accounts frame; whatever account columns the positions carry stay on them.
"""

from __future__ import annotations

import polars as pl

from policy_engine.columns import ACCOUNT_COLUMNS, ACCOUNT_KEY, joins_on_account_key
from policy_engine.data.issues import Check, row_issues
from policy_engine.data.read import ROW, SOURCE, Table
from policy_engine.data.validate import ACCOUNT_FIELDS, DTYPES
from policy_engine.errors import Issue

_ACCOUNT = pl.col("account_id")


def merge_accounts(
    positions: pl.DataFrame, table: Table, accounts: pl.DataFrame | None, accounts_source: str | None
) -> tuple[pl.DataFrame, pl.DataFrame | None, list[Issue]]:
    """Return (positions without inline account columns, accounts, problems).

    ``table`` is the positions table as read (for labels and the row unit); ``accounts`` the
    validated accounts file, if one was given.
    """
    inline = [c.name for c in ACCOUNT_FIELDS if c.name in positions.columns]
    checks = [
        Check(
            table.label(name),
            f"one account, different {name} values on its positions",
            (pl.col(name).drop_nulls().n_unique().over("account_id") > 1) & pl.col(name).is_not_null(),
            pl.format("{}={}", _ACCOUNT, pl.col(name)),
        )
        for name in inline
    ]
    if accounts is None and "equity" not in inline:
        return positions, None, row_issues(positions, checks, table.unit)
    if accounts is not None and not inline:
        # nothing to merge: only check that every position's account is in the file (on the
        # integer ids when both files store integers: columns.ACCOUNT_KEY, four times faster)
        ids = pl.col(ACCOUNT_KEY) if joins_on_account_key(positions.schema, accounts.schema) else _ACCOUNT
        known_ids = accounts.get_column(ids.meta.output_name()).unique().implode()
        unknown = ids.is_not_null() & ~ids.is_in(known_ids)
        check = Check(table.label("account_id"), f"account not in {accounts_source}", unknown, _ACCOUNT)
        return positions, _shape(accounts), row_issues(positions, [check], table.unit)
    first = (
        positions.filter(_ACCOUNT.is_not_null())
        .group_by("account_id")
        .agg(pl.col(name).sort_by(SOURCE, ROW).drop_nulls().first() for name in inline)
        .sort("account_id")
    )
    if accounts is None:
        no_equity = pl.col("equity").is_null().all().over("account_id") & _ACCOUNT.is_not_null()
        why = "the account has no equity on any of its positions"
        checks.append(Check(table.label("equity"), why, no_equity, _ACCOUNT))
        merged = first
    else:
        # the accounts frame has every contract column (null where the file has none)
        known = accounts.unique("account_id", keep="first", maintain_order=True)
        unknown = _ACCOUNT.is_not_null() & ~_ACCOUNT.is_in(known.get_column("account_id").implode())
        checks.append(
            Check(table.label("account_id"), f"account not in {accounts_source}", unknown, _ACCOUNT)
        )
        file_values = known.select(_ACCOUNT, *(pl.col(n).alias(f"__file_{n}") for n in inline))
        positions = positions.join(file_values, on="account_id", how="left", maintain_order="left")
        checks += [
            Check(
                table.label(name),
                f"differs from the account's {name} in {accounts_source}",
                pl.col(name) != pl.col(f"__file_{name}"),
                pl.format("{}={} vs {}", _ACCOUNT, pl.col(name), pl.col(f"__file_{name}")),
            )
            for name in inline
        ]
        merged = accounts.join(first, on="account_id", how="left", suffix="__inline", maintain_order="left")
        merged = merged.with_columns(pl.coalesce(n, f"{n}__inline").alias(n) for n in inline)
        merged = merged.drop(f"{n}__inline" for n in inline)
    issues = row_issues(positions, checks, table.unit)
    positions = positions.drop(*inline, *(c for c in positions.columns if c.startswith("__file_")))
    return positions, _shape(merged), issues


def _shape(accounts: pl.DataFrame) -> pl.DataFrame:
    """Contract columns first, in contract order (missing ones null), then the user's own columns."""
    ours = [c.name for c in ACCOUNT_COLUMNS]
    missing = [
        pl.lit(None, dtype=DTYPES[c.type]).alias(c.name)
        for c in ACCOUNT_COLUMNS
        if c.name not in accounts.columns
    ]
    extras = [c for c in accounts.columns if c not in ours and c not in (ROW, SOURCE)]
    return accounts.with_columns(missing).select(*ours, *extras)
