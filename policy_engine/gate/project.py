"""Project a trade list onto a book: the positions as they would stand after the trades.

Only the positions the trades touch are visited from Python: the book is split once (a semi-join
on the traded (account, symbol) pairs), the trades are applied in trade-list order to that small
set, and the changed rows replace theirs in the book. Cases (docs/gate.md has a worked example of
each); Q, EP, M, L = quantity, entry price, isolated margin, leverage of the position; q, p = the
trade's quantity and price; m = the trade's explicit isolated_margin (0 when empty):

* open (no position):        Q = q, EP = p, L = the trade's; M = q*p/L + m (isolated), or m alone without L
* increase (same side):      Q' = Q + q, EP' = (Q*EP + q*p) / Q', M' = M + q*p/L + m
* reduce (opposite, q < Q):  Q' = Q - q, EP' = EP, M' = M * Q'/Q + m (margin released in proportion)
* close (opposite, q = Q):   the position is removed
* flip (opposite, q > Q):    the position is removed; a new one opens on the other side with q - Q at p

The reported liquidation price of a changed position is dropped (the engine computes it for the new
size), and so are its maintenance rate and amount when market brackets cover the symbol. Account
equity is unchanged: realised PnL and fees are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from policy_engine.data.read import ROW, SOURCE
from policy_engine.errors import DataError, Issue

ACTIONS = ("open", "increase", "reduce", "close", "flip")
REL_TOL = 1e-9  # quantities this close count as equal: a reduce by the whole size is a close
_SYMBOL_ATTRIBUTES = ("volatility", "asset_class")  # copied onto a new position from the book
_STALE = ("liquidation_price",)
_BRACKET_FIELDS = ("maintenance_margin_rate", "maintenance_amount")

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Projection:
    positions: pl.DataFrame  # the post-trade book, the book's schema
    effects: pl.DataFrame  # one row per trade: what it did (action, price used, positions before/after)


def project(
    book: pl.DataFrame,
    trades: pl.DataFrame,
    bracket_symbols: frozenset[str] = frozenset(),
    volatility_symbols: frozenset[str] = frozenset(),
) -> Projection:
    """Apply ``trades`` (policy_engine.gate.trades.load_trades) to ``book`` (Inputs.positions).

    A new position in a symbol the book holds takes that symbol's mark price (and asset class) from
    the holder with the smallest position id, so the result does not depend on the book's row
    order; its volatility comes from the market data when that has the symbol, else from that holder.
    """
    keys = trades.select("account_id", "symbol").unique()
    touched = book.join(keys, on=["account_id", "symbol"], how="semi")
    symbols = (
        book.filter(pl.col("symbol").is_in(keys.get_column("symbol").implode()))
        .group_by("symbol")
        .agg(
            pl.col(c).sort_by("position_id").drop_nulls().first()
            for c in ("mark_price", *_SYMBOL_ATTRIBUTES)
            if c in book.columns
        )
    )
    if "volatility" in symbols.columns and volatility_symbols:
        # the market's volatility wins over one account's own override (metrics reads it when null)
        market = pl.col("symbol").is_in(pl.Series(sorted(volatility_symbols), dtype=pl.String).implode())
        symbols = symbols.with_columns(pl.when(market).then(None).otherwise(pl.col("volatility")).alias("volatility"))
    state = _State(
        live={r["position_id"]: r for r in touched.to_dicts()},
        symbols={r["symbol"]: r for r in symbols.to_dicts()},
        brackets=bracket_symbols,
        columns=book.columns,
        reserved=_reserved_ids(book, sorted(keys.get_column("account_id").unique().to_list())),
    )
    effects = [state.apply(t) for t in trades.sort("__seq").to_dicts()]
    if state.issues:
        raise DataError(state.issues)
    changed = state.changed_rows()
    kept = book.filter(
        ~pl.col("position_id").is_in(pl.Series(list(state.changed), dtype=pl.String).implode())
    )
    rows = pl.DataFrame(changed, schema=book.schema) if changed else book.clear()
    effect_frame = pl.DataFrame([e for e in effects if e is not None], schema=EFFECT_SCHEMA)
    return Projection(pl.concat([kept, rows], how="vertical"), effect_frame)


EFFECT_SCHEMA: dict[str, pl.DataType] = {
    "trade_id": pl.String(), "line": pl.Int64(), "source": pl.String(), "account_id": pl.String(),
    "symbol": pl.String(), "side": pl.String(), "quantity": pl.Float64(), "price": pl.Float64(),
    "price_source": pl.String(), "action": pl.String(), "position_id": pl.String(),
    "new_position_id": pl.String(), "sets_stop": pl.Boolean(), "margin_change": pl.Float64(),
}  # fmt: skip


class _State:
    """The touched positions, changed trade by trade; problems collected, never raised one by one."""

    def __init__(
        self, live: dict[str, Row], symbols: dict[str, Row], brackets: frozenset[str], columns: list[str],
        reserved: set[str],
    ) -> None:  # fmt: skip
        self.live = live
        self.reserved = reserved  # ids of the book a new position must not take
        self.symbols = symbols
        self.brackets = brackets
        self.columns = columns
        self.changed: set[str] = set()  # ids whose book row is replaced or removed
        self.issues: list[Issue] = []

    def changed_rows(self) -> list[Row]:
        return [row for pid, row in self.live.items() if pid in self.changed]

    def problem(self, t: Row, column: str, message: str) -> None:
        self.issues.append(Issue(t[SOURCE], message, t[ROW], where=column))

    def apply(self, t: Row) -> Row | None:
        target = self._target(t)
        if target is False:
            return None
        price, price_source = t["price"], "trade"
        if price is None:
            price_source = "mark"
            price = target["mark_price"] if target else self.symbols.get(t["symbol"], {}).get("mark_price")
            if price is None:
                why = f"no position in the book holds {t['symbol']}, so there is no mark price to default to"
                self.problem(t, "price", f"price is required: {why}")
                return None
        effect = {k: t[k] for k in ("trade_id", "account_id", "symbol", "side", "quantity")} | {
            "line": t[ROW], "source": t[SOURCE], "price": price, "price_source": price_source,
            "position_id": target["position_id"] if target else None,
            "sets_stop": t["stop_loss_price"] is not None, "margin_change": t["isolated_margin"],
        }  # fmt: skip
        result = self._open(t, price) if not target else self._trade(t, target, price)
        if result is None:
            return None
        action, new_id = result
        return {**effect, "action": action, "new_position_id": new_id}

    def _target(self, t: Row) -> Row | None | bool:
        """The live position the trade acts on; None to open one; False after reporting a problem."""
        rows = [
            r for r in self.live.values() if r["account_id"] == t["account_id"] and r["symbol"] == t["symbol"]
        ]
        for name in ("position_id", "venue"):
            if t[name] is not None:
                rows = [r for r in rows if r[name] == t[name]]
        if t["position_id"] is not None and not rows:
            self.problem(
                t,
                "position_id",
                f"no open position {t['position_id']!r} of {t['account_id']} in {t['symbol']}",
            )
            return False
        if len(rows) > 1:
            ids = ", ".join(sorted(r["position_id"] for r in rows))
            self.problem(
                t,
                "position_id",
                f"{t['account_id']} holds {len(rows)} {t['symbol']} positions ({ids}): "
                "give position_id (or venue) to say which one the trade is for",
            )
            return False
        return rows[0] if rows else None

    def _trade(self, t: Row, row: Row, price: float) -> tuple[str, str | None] | None:
        q, size = t["quantity"], row["quantity"]
        same_side = (t["side"] == "buy") == (row["side"] == "long")
        if not self._consistent(t, row, flip=not same_side and q > size * (1 + REL_TOL)):
            return None
        lev = _leverage(row)
        pid = row["position_id"]
        if same_side:
            entry = (size * row["entry_price"] + q * price) / (size + q)
            new = {**row, "quantity": size + q, "entry_price": entry}
            if row["isolated_margin"] is not None or t["isolated_margin"] is not None:
                new["isolated_margin"] = _margin(row) + q * price / lev + (t["isolated_margin"] or 0.0)
            return self._replace(t, new, "increase", pid)
        if abs(q - size) <= REL_TOL * max(q, size):
            del self.live[pid]
            self.changed.add(pid)
            return "close", None
        if q < size:
            left = size - q
            new = {**row, "quantity": left}
            if row["isolated_margin"] is not None or t["isolated_margin"] is not None:
                new["isolated_margin"] = _margin(row) * left / size + (t["isolated_margin"] or 0.0)
                if new["isolated_margin"] <= 0:
                    kept = f"{_margin(row) * left / size:,.2f} after the reduce"
                    self.problem(
                        t, "isolated_margin", f"releases more margin than the position keeps ({kept})"
                    )
                    return None
            return self._replace(t, new, "reduce", pid)
        del self.live[pid]
        self.changed.add(pid)
        opened = self._new_position(
            t, price, q - size, t["leverage"] or lev, t["margin_mode"] or row["margin_mode"], row
        )
        return None if opened is None else ("flip", opened)

    def _open(self, t: Row, price: float) -> tuple[str, str | None] | None:
        mode = t["margin_mode"] or "isolated"
        if t["leverage"] is None and (mode == "cross" or t["isolated_margin"] is None):
            need = "leverage" if mode == "cross" else "leverage or isolated_margin"
            self.problem(
                t, "leverage", f"opens a new {t['symbol']} position in {t['account_id']}: give {need}"
            )
            return None
        opened = self._new_position(t, price, t["quantity"], t["leverage"], mode, None)
        return None if opened is None else ("open", opened)

    def _new_position(
        self, t: Row, price: float, q: float, lev: float | None, mode: str, old: Row | None
    ) -> str | None:
        extra = t["isolated_margin"]
        if mode == "cross" and extra is not None:
            self.problem(
                t, "isolated_margin", "a cross-margin position has no isolated margin to add or release"
            )
            return None
        margin = None
        if mode == "isolated":
            margin = (q * price / lev if lev else 0.0) + (extra or 0.0)
            if margin <= 0:
                self.problem(t, "isolated_margin", f"leaves the new position with no margin ({margin:,.2f})")
                return None
        side = "long" if t["side"] == "buy" else "short"
        base = dict(old) if old else {c: None for c in self.columns}
        for name in _SYMBOL_ATTRIBUTES:
            if name in self.columns and base.get(name) is None:
                base[name] = self.symbols.get(t["symbol"], {}).get(name)
        venue = t["venue"] if t["venue"] is not None else base.get("venue")
        mark = (old or {}).get("mark_price") or self.symbols.get(t["symbol"], {}).get("mark_price") or price
        new = {**base, "account_id": t["account_id"], "symbol": t["symbol"], "side": side, "quantity": q,
               "entry_price": price, "mark_price": mark, "leverage": lev, "margin_mode": mode, "venue": venue,
               "isolated_margin": margin, "stop_loss_price": t["stop_loss_price"], "take_profit_price": None,
               "maintenance_margin_rate": None, "maintenance_amount": None, "liquidation_price": None,
               ROW: t[ROW], SOURCE: t[SOURCE]}  # fmt: skip
        key = ":".join(str(v) for v in (t["account_id"], venue or "-", t["symbol"], side, mode))
        pid, n = key, 1
        while pid in self.live or pid in self.changed or pid in self.reserved:
            n += 1
            pid = f"{key}#{n}"
        new["position_id"] = pid
        self.live[pid] = new
        self.changed.add(pid)
        return pid

    def _replace(self, t: Row, new: Row, action: str, pid: str) -> tuple[str, str]:
        if t["stop_loss_price"] is not None:
            new["stop_loss_price"] = t["stop_loss_price"]
        for name in _STALE:
            new[name] = None
        if new["symbol"] in self.brackets:
            for name in _BRACKET_FIELDS:
                new[name] = None
        self.live[pid] = new
        self.changed.add(pid)
        return action, pid

    def _consistent(self, t: Row, row: Row, flip: bool) -> bool:
        """leverage and margin_mode set a new position up; on an existing one they must agree with it."""
        if flip:
            return True
        ok = True
        if t["leverage"] is not None and (
            row["leverage"] is None or abs(t["leverage"] - row["leverage"]) > 1e-9
        ):
            has = "no leverage set" if row["leverage"] is None else f"{row['leverage']:g}x"
            self.problem(
                t,
                "leverage",
                f"leverage applies to a position the trade opens; {row['position_id']} "
                f"has {has} (leave the cell empty to trade at the position's leverage)",
            )
            ok = False
        if t["margin_mode"] is not None and t["margin_mode"] != row["margin_mode"]:
            self.problem(
                t,
                "margin_mode",
                f"{row['position_id']} is {row['margin_mode']}; a trade cannot change "
                "the margin mode of an open position",
            )
            ok = False
        if t["isolated_margin"] is not None and row["margin_mode"] == "cross":
            self.problem(
                t,
                "isolated_margin",
                f"{row['position_id']} is cross margin: no isolated margin to add or release",
            )
            ok = False
        return ok


def _leverage(row: Row) -> float:
    lev = row["leverage"]
    return float(lev) if lev is not None else row["quantity"] * row["entry_price"] / row["isolated_margin"]


def _margin(row: Row) -> float:
    m = row["isolated_margin"]
    return float(m) if m is not None else row["quantity"] * row["entry_price"] / _leverage(row)


def _reserved_ids(book: pl.DataFrame, accounts: list[str]) -> set[str]:
    """Book ids a derived id could collide with: those starting with 'account:' of a traded account."""
    if not accounts:
        return set()
    starts = pl.any_horizontal(pl.col("position_id").str.starts_with(f"{a}:") for a in accounts)
    return set(book.filter(starts).get_column("position_id").to_list())
