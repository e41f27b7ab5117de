"""Load and validate the input data: positions, accounts and market data.

The first stage of the pipeline. Nothing is evaluated on data that has not passed here: every
problem in every input file is collected and raised as one DataError, each located by file,
column and row. The data contract is docs/data-contract.md; the columns are policy_engine.columns.

    read (read.py) -> type and check (validate.py) -> merge accounts (accounts.py); market.py
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, TypeVar

import polars as pl

from policy_engine import progress
from policy_engine.columns import ACCOUNT_KEY, joins_on_account_key
from policy_engine.data.accounts import merge_accounts
from policy_engine.data.files import file_sha256, load_column_map
from policy_engine.data.market import Market, load_market
from policy_engine.data.read import Table, read, read_table
from policy_engine.data.validate import check_accounts, check_positions
from policy_engine.errors import DataError, Issue

__all__ = [
    "AccountKeys", "Inputs", "file_sha256", "load_column_map", "load_inputs", "read_table",
    "validated_inputs",
]  # fmt: skip

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Inputs:
    """Validated input data.

    ``positions``: every contract column typed (absent optional ones null), ``margin_mode``
    defaulted to isolated, ``position_id`` derived where absent, the user's other columns as
    given, then ``__row`` (CSV line or 1-based record) and ``__source`` (file) of each row.
    ``accounts``: the account columns, one row per account, or None when no input has equity.
    ``account_keys``: the files' integer account ids, when both files store integers (see AccountKeys).
    """

    positions: pl.DataFrame
    accounts: pl.DataFrame | None
    volatility: pl.DataFrame | None
    brackets: pl.DataFrame | None
    files: tuple[tuple[str, str], ...]
    # Not an argument: dataclasses.replace() makes an Inputs without it, so keys never outlive the
    # frames they were taken from (a gate's projected book, a caller's edited book join on text).
    account_keys: AccountKeys | None = field(default=None, init=False, repr=False, compare=False)

    def keyed_frames(self) -> tuple[pl.LazyFrame, pl.LazyFrame | None]:
        """positions and accounts, lazily; with their account keys as a column (columns.ACCOUNT_KEY,
        which metrics.derive joins on) when there are keys."""
        keys = self.account_keys
        if self.accounts is None or keys is None:
            return self.positions.lazy(), None if self.accounts is None else self.accounts.lazy()
        positions = self.positions.with_columns(keys.positions)
        return positions.lazy(), self.accounts.with_columns(keys.accounts).lazy()


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """The files' integer account ids (columns.ACCOUNT_KEY), row for row with Inputs.positions and
    Inputs.accounts: the same ids as their text, joined in a third of the time."""

    positions: pl.Series
    accounts: pl.Series


def validated_inputs(
    positions: pl.DataFrame,
    accounts: pl.DataFrame | None,
    volatility: pl.DataFrame | None,
    brackets: pl.DataFrame | None,
    files: tuple[tuple[str, str], ...],
) -> Inputs:
    """Inputs from validated frames, whose account keys (if any) move out of the frames into
    Inputs.account_keys: kept when both frames have them with one dtype, dropped otherwise."""
    keys: AccountKeys | None = None
    if accounts is not None and joins_on_account_key(positions.schema, accounts.schema):
        keys = AccountKeys(positions.get_column(ACCOUNT_KEY), accounts.get_column(ACCOUNT_KEY))
    positions = positions.drop(ACCOUNT_KEY, strict=False)
    accounts = None if accounts is None else accounts.drop(ACCOUNT_KEY, strict=False)
    inputs = Inputs(positions, accounts, volatility, brackets, files)
    object.__setattr__(inputs, "account_keys", keys)  # frozen: set once, here
    return inputs


def load_inputs(
    positions: str | Path,
    accounts: str | Path | None = None,
    market: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
) -> Inputs:
    """Read, type and validate the input files; raise one DataError listing every problem."""
    issues: list[Issue] = []
    files = [("positions", str(positions))]
    account_frame: pl.DataFrame | None = None
    account_table: Table | None = None
    if accounts is not None:
        files.append(("accounts", str(accounts)))
        with progress.stage("loading", str(accounts)):
            account_table = _collect(lambda: read(accounts, "accounts", column_map), issues)
        if account_table is not None:
            with progress.stage("validating", f"{account_table.frame.height:,} accounts"):
                account_frame, more = check_accounts(account_table)
            issues += more
    position_frame = pl.DataFrame()
    with progress.stage("loading", str(positions)):
        table = _collect(lambda: read(positions, "positions", column_map), issues)
    if table is not None:
        with progress.stage("validating", f"{table.frame.height:,} positions"):
            position_frame, more = check_positions(table)
            issues += more
            if accounts is None or account_table is not None:  # else the unreadable file is the problem
                source = str(accounts) if accounts is not None else None
                position_frame, account_frame, more = merge_accounts(
                    position_frame, table, account_frame, source
                )
                issues += more
    market_data = Market(None, None)
    if market is not None:
        files.append(("market", str(market)))
        market_data = _collect(lambda: load_market(market, column_map), issues) or market_data
    if issues:
        raise DataError(issues)
    market_frames = (market_data.volatility, market_data.brackets)
    return validated_inputs(position_frame, account_frame, *market_frames, tuple(files))


def _collect(step: Callable[[], T], issues: list[Issue]) -> T | None:
    """Run one step; on a DataError keep its issues and go on, so all files are reported together."""
    try:
        return step()
    except DataError as exc:
        issues.extend(exc.issues)
        return None
