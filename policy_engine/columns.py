"""The column vocabulary: the data contract's columns and the derived metrics.

One place that names every column the engine knows, so that the data validator, the metrics
stage and the expression language agree. Types: "str", "float", "int".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # str | float
    required: bool = False
    positive: bool = False  # must be > 0 where present
    doc: str = ""


POSITION_COLUMNS: tuple[Column, ...] = (
    Column("account_id", "str", True, doc="account the position belongs to"),
    Column("symbol", "str", True, doc="instrument, e.g. BTCUSDT"),
    Column("side", "str", True, doc="long | short"),
    Column("quantity", "float", True, True, "size in base units (> 0); direction is carried by side"),
    Column("entry_price", "float", True, True, "average entry price (> 0)"),
    Column("mark_price", "float", True, True, "mark price (> 0); liquidation is triggered by it"),
    Column("leverage", "float", False, True, "leverage set on the position (>= 1); required unless isolated_margin"),
    Column("position_id", "str", doc="stable id; derived from account, venue, symbol, side, margin mode when absent"),
    Column("asset_class", "str", doc="crypto | equity | ... (equity annualises volatility with 252 days)"),
    Column("venue", "str", doc="exchange or broker"),
    Column("margin_mode", "str", doc="isolated | cross (default isolated)"),
    Column("isolated_margin", "float", False, True, "collateral assigned to the position"),
    Column("maintenance_margin_rate", "float", doc="mmr of the position's bracket, e.g. 0.005"),
    Column("maintenance_amount", "float", doc="maintenance amount (Binance cum)"),
    Column("liquidation_price", "float", doc="the venue's liquidation price, when it reports one"),
    Column("stop_loss_price", "float", False, True, "stop-loss trigger price"),
    Column("take_profit_price", "float", False, True, "take-profit trigger price"),
    Column("volatility", "float", doc="annualised volatility, e.g. 0.65 for 65%"),
)

ACCOUNT_COLUMNS: tuple[Column, ...] = (
    Column("account_id", "str", True, doc="account id"),
    Column("equity", "float", True, True, "account equity (> 0)"),
    Column("risk_profile", "str", doc="conservative | moderate | aggressive, or a profile the pack defines"),
    Column("client_name", "str", doc="client's name, shown in the report"),
    Column("advisor", "str", doc="advisor responsible for the account"),
    Column("currency", "str", doc="account currency (default USDT)"),
)

# Derived per position by policy_engine.metrics; documented in docs/metrics.md.
DERIVED_COLUMNS: tuple[Column, ...] = (
    Column("notional", "float", doc="quantity x mark_price"),
    Column("entry_notional", "float", doc="quantity x entry_price"),
    Column("initial_margin", "float", doc="quantity x entry_price / leverage"),
    Column("margin", "float", doc="isolated_margin when given, else initial_margin"),
    Column("allocation", "float", doc="margin / equity"),
    Column("allocation_notional", "float", doc="notional / equity"),
    Column("effective_leverage", "float", doc="notional / margin"),
    Column("unrealized_pnl", "float", doc="side x quantity x (mark_price - entry_price)"),
    Column("mmr", "float", doc="maintenance margin rate used for the liquidation price"),
    Column("cum", "float", doc="maintenance amount used for the liquidation price"),
    Column("reported_liquidation_price", "float", doc="the venue's liquidation price as given"),
    Column("liquidation_price_source", "str", doc="venue | computed | none"),
    Column("liq_distance", "float", doc="|mark_price - liquidation_price| / mark_price"),
    Column("annualization_days", "float", doc="365 for crypto, 252 for equities"),
    Column("sigma_daily", "float", doc="volatility x sqrt(1 / annualization_days)"),
    Column("volatility_tier", "str", doc="tier of volatility under the default bands"),
    Column("loss_at_stop", "float", doc="quantity x |mark_price - stop_loss_price|"),
    Column("risk_per_trade", "float", doc="loss_at_stop / equity"),
    Column("gross_exposure", "float", doc="sum of notional over the account"),
    Column("account_leverage", "float", doc="gross_exposure / equity"),
)

# The file's integer account ids, kept beside their text by validation (data/validate.py) when a
# file stores them as integers: joining positions to accounts on integers instead of text takes a
# third of the time at 1e7 positions (benchmarks/README.md). Upper case, so no user column can
# have the name (read.normalise_name lowers every header). load_inputs moves the keys out of the
# frames into Inputs.account_keys; metrics.derive joins on them when both sides carry one dtype.
ACCOUNT_KEY = "__ACCOUNT_KEY"


def joins_on_account_key(positions: Mapping[str, object], accounts: Mapping[str, object]) -> bool:
    """Whether positions and accounts (their schemas) both carry ACCOUNT_KEY, with one dtype: only
    then do the integers match exactly the rows their text would."""
    both = ACCOUNT_KEY in positions and ACCOUNT_KEY in accounts
    return both and positions[ACCOUNT_KEY] == accounts[ACCOUNT_KEY]

KNOWN_COLUMNS: frozenset[str] = frozenset(
    c.name for c in (*POSITION_COLUMNS, *ACCOUNT_COLUMNS, *DERIVED_COLUMNS)
)
