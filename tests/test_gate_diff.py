"""Diff classification and attribution (policy_engine/gate/diff.py) on a small book.

Policy tests/data/gate/policy.yaml: alloc = margin / equity <= 5% (warning from 4%), max-leverage
(leverage <= 5), gross (account_leverage <= 3, warning, account scope), stop (required above 2x).
A1 equity 1,000,000; A2 equity 100,000.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from policy_engine.gate.diff import classify, expression_bounds
from policy_engine.policy import load_pack
from tests.test_gate_helpers import POLICY, finding, gate

BOOK = [
    # alloc 30,000 / 1,000,000 = 3%: no finding
    {
        "position_id": "P1",
        "account_id": "A1",
        "symbol": "BTCUSDT",
        "side": "long",
        "quantity": 1,
        "entry_price": 60000,
        "mark_price": 60000,
        "leverage": 2,
        "isolated_margin": 30000,
    },
    # alloc 60,000 / 1,000,000 = 6% > 5%: a pre-existing breach
    {
        "position_id": "P2",
        "account_id": "A1",
        "symbol": "ETHUSDT",
        "side": "long",
        "quantity": 20,
        "entry_price": 3000,
        "mark_price": 3000,
        "leverage": 1,
        "isolated_margin": 60000,
    },
    # alloc 5,000 / 100,000 = 5%: at the limit, inside the 4% warning band -> near-limit warning
    {
        "position_id": "P3",
        "account_id": "A2",
        "symbol": "SOLUSDT",
        "side": "long",
        "quantity": 100,
        "entry_price": 150,
        "mark_price": 150,
        "leverage": 3,
        "isolated_margin": 5000,
        "stop_loss_price": 140,
    },
    # 10x > 5x: a pre-existing max-leverage breach
    {
        "position_id": "P4",
        "account_id": "A2",
        "symbol": "BTCUSDT",
        "side": "short",
        "quantity": 0.1,
        "entry_price": 60000,
        "mark_price": 60000,
        "leverage": 10,
        "isolated_margin": 600,
        "stop_loss_price": 62000,
    },
]
TRADES = [
    # T1 reduces P2: 18 ETH, M = 60,000 x 18/20 = 54,000 = 5.4%: still a breach, but smaller -> unchanged
    {"trade_id": "T1", "account_id": "A1", "symbol": "ETHUSDT", "side": "sell", "quantity": 2},
    # T2 doubles P1: M = 30,000 + 1 x 60,000 / 2 = 60,000 = 6% -> a new breach
    {"trade_id": "T2", "account_id": "A1", "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "price": 60000},
    # T3 adds to P3: M = 5,000 + 10 x 150 / 3 = 5,500 = 5.5%: near-limit warning -> breach: worsened
    {"trade_id": "T3", "account_id": "A2", "symbol": "SOLUSDT", "side": "buy", "quantity": 10, "price": 150},
    # T4 closes P4: its max-leverage breach is resolved
    {"trade_id": "T4", "account_id": "A2", "symbol": "BTCUSDT", "side": "buy", "quantity": 0.1},
    # T5 opens DOGE at 8x without a stop: max-leverage and stop are new breaches
    # (alloc 1,000 x 0.3 / 8 = 37.5 = 0.004%: none)
    {
        "trade_id": "T5",
        "account_id": "A1",
        "symbol": "DOGEUSDT",
        "side": "buy",
        "quantity": 1000,
        "price": 0.3,
        "leverage": 8,
    },
]
DOGE = "A1:-:DOGEUSDT:long:isolated"


def test_classification_and_attribution(tmp_path: Path) -> None:
    g = gate(tmp_path, BOOK, TRADES)
    reduced = finding(g, "alloc", "P2")
    assert (reduced["change"], reduced["blocking"], reduced["trade_ids"]) == ("unchanged", False, ["T1"])
    assert (reduced["observed_before"], reduced["observed"]) == (0.06, 0.054)
    new = finding(g, "alloc", "P1")
    assert (new["change"], new["blocking"], new["trade_ids"], new["trade_lines"], new["observed"]) == (
        "new",
        True,
        ["T2"],
        [3],
        0.06,
    )
    worse = finding(g, "alloc", "P3")
    assert (
        worse["change"],
        worse["severity_before"],
        worse["severity"],
        worse["blocking"],
        worse["trade_ids"],
    ) == ("worsened", "warning", "breach", True, ["T3"])
    resolved = finding(g, "max-leverage", "P4")
    assert (resolved["change"], resolved["blocking"], resolved["trade_ids"]) == ("resolved", False, ["T4"])
    for rule in ("max-leverage", "stop"):
        f = finding(g, rule, DOGE)
        assert (f["change"], f["blocking"], f["trade_ids"], f["trade_lines"]) == ("new", True, ["T5"], [6])
    assert g.counts() == {"new": 3, "worsened": 1, "unchanged": 1, "resolved": 1, "blocking": 4, "trades": 5}
    assert g.exit_code == 1
    by_trade = {t["trade_id"]: t for t in g.result.extra["gate"]}
    assert by_trade["T1"]["blocked"] is False and by_trade["T1"]["action"] == "reduce"
    assert len(by_trade["T5"]["findings_caused"]) == 2 and by_trade["T5"]["blocked"] is True
    assert by_trade["T4"]["findings_caused"] == [] and by_trade["T4"]["action"] == "close"


def test_the_breach_reducing_trade_alone_passes(tmp_path: Path) -> None:
    g = gate(tmp_path, BOOK, TRADES[:1])
    assert g.exit_code == 0 and g.blocking.height == 0
    assert finding(g, "alloc", "P2")["change"] == "unchanged"
    strict = gate(tmp_path, BOOK, TRADES[:1], strict=True)  # --strict: the pre-existing breach blocks
    assert strict.exit_code == 1
    assert finding(strict, "alloc", "P2")["blocking"] is True
    assert finding(strict, "max-leverage", "P4")["blocking"] is True


def test_worse_observed_value_at_the_same_severity_is_worsened(tmp_path: Path) -> None:
    # P2: 2 more ETH at 3,000 and 1x: M = 60,000 + 6,000 = 66,000 = 6.6% (was 6%)
    g = gate(
        tmp_path,
        BOOK,
        [{"trade_id": "T", "account_id": "A1", "symbol": "ETHUSDT", "side": "buy", "quantity": 2}],
    )
    f = finding(g, "alloc", "P2")
    assert (f["change"], f["observed_before"], f["blocking"]) == ("worsened", 0.06, True)


def test_same_value_is_unchanged_and_fail_on_filters(tmp_path: Path) -> None:
    # P4 at 10x: adding at the same leverage keeps 10x -> unchanged; nothing blocks
    g = gate(
        tmp_path,
        BOOK,
        [{"trade_id": "T", "account_id": "A2", "symbol": "BTCUSDT", "side": "sell", "quantity": 0.1}],
    )
    assert finding(g, "max-leverage", "P4")["change"] == "unchanged"
    assert g.exit_code == 0
    assert gate(tmp_path, BOOK, TRADES, fail_on="critical").exit_code == 0  # no critical rule in the pack
    assert gate(tmp_path, BOOK, TRADES, fail_on="never").exit_code == 0


def test_account_finding_names_every_trade_of_the_account(tmp_path: Path) -> None:
    # A2 gross before: (15,000 + 6,000) / 100,000 = 0.21x. S sells 1 SOL (99 x 150 = 14,850 left);
    # B buys 5.1 BTC against the 0.1 short P4: a flip to a 5 BTC long, 5 x 60,000 = 300,000:
    # (14,850 + 300,000) / 100,000 = 3.1485x > 3x -> a new account finding (warning), named S and B
    trades = [
        {"trade_id": "S", "account_id": "A2", "symbol": "SOLUSDT", "side": "sell", "quantity": 1},
        {
            "trade_id": "B",
            "account_id": "A2",
            "symbol": "BTCUSDT",
            "side": "buy",
            "quantity": 5.1,
            "price": 60000,
            "position_id": "P4",
        },
        {"trade_id": "X", "account_id": "A1", "symbol": "BTCUSDT", "side": "sell", "quantity": 0.1},
    ]
    g = gate(tmp_path, BOOK, trades)
    gross = finding(g, "gross")
    assert gross["change"] == "new" and gross["trade_ids"] == ["S", "B"]
    assert abs(gross["observed"] - 3.1485) < 1e-9
    assert gross["blocking"] is False  # a warning, below --fail-on breach
    assert gate(tmp_path, BOOK, trades, fail_on="warning").exit_code == 1


def test_expression_bound_read_from_the_rule(tmp_path: Path) -> None:
    bounds = expression_bounds(load_pack(POLICY))
    assert sorted(bounds.rows()) == [
        ("gate-test", "gross", 1.0, 3.0),
        ("gate-test", "max-leverage", 1.0, 5.0),
    ]
    # A2 over 3x before; a trade that adds exposure makes it worse, one that cuts exposure does not
    big = [
        *BOOK,
        {
            "position_id": "P5",
            "account_id": "A2",
            "symbol": "ETHUSDT",
            "side": "long",
            "quantity": 100,
            "entry_price": 3000,
            "mark_price": 3000,
            "leverage": 5,
            "isolated_margin": 60000,
            "stop_loss_price": 2900,
        },
    ]
    up = gate(tmp_path, big, [{"account_id": "A2", "symbol": "ETHUSDT", "side": "buy", "quantity": 1}])
    down = gate(tmp_path, big, [{"account_id": "A2", "symbol": "ETHUSDT", "side": "sell", "quantity": 1}])
    assert finding(up, "gross")["change"] == "worsened"
    assert finding(down, "gross")["change"] == "unchanged"


def _frame(rows: list[dict]) -> pl.DataFrame:
    base = {
        "finding_id": "f1",
        "policy_id": "p",
        "policy_version": "1",
        "rule_id": "r",
        "check": "c",
        "kind": "k",
        "severity": "breach",
        "status": "breach",
        "account_id": "A",
        "position_id": "P",
        "symbol": "S",
        "metric": "m",
        "observed": 0.06,
        "limit": 0.05,
        "message": "m",
        "remediation": "r",
        "severity_rank": 3,
    }
    return pl.DataFrame([{**base, **r} for r in rows]).with_columns(pl.col("severity_rank").cast(pl.Int8))


def _effects(action: str, **extra: object) -> pl.DataFrame:
    from policy_engine.gate.project import EFFECT_SCHEMA

    row = {
        "trade_id": "T",
        "line": 2,
        "source": "t.csv",
        "account_id": "A",
        "symbol": "S",
        "side": "sell",
        "quantity": 1.0,
        "price": 1.0,
        "price_source": "mark",
        "action": action,
        "position_id": "P",
        "new_position_id": "P",
        "sets_stop": False,
        "margin_change": None,
        **extra,
    }
    return pl.DataFrame([row], schema=EFFECT_SCHEMA)


def test_a_pure_reduction_is_never_blamed_for_a_worse_value() -> None:
    # the metric says worse (0.06 -> 0.061), but the only trade on the position is a reduce: unchanged
    pre, post = _frame([{}]), _frame([{"observed": 0.061}])
    bounds = expression_bounds(load_pack(POLICY)).clear()
    assert classify(pre, post, _effects("reduce"), bounds, 3, False).get_column("change").to_list() == [
        "unchanged"
    ]
    assert classify(pre, post, _effects("increase"), bounds, 3, False).get_column("change").to_list() == [
        "worsened"
    ]
    # a reduce that also releases margin or moves the stop can be blamed
    assert classify(pre, post, _effects("reduce", margin_change=-5.0), bounds, 3, False)[
        "change"
    ].to_list() == ["worsened"]
    assert classify(pre, post, _effects("reduce", sets_stop=True), bounds, 3, False)["change"].to_list() == [
        "worsened"
    ]


def test_direction_of_an_at_least_limit() -> None:
    # liquidation buffer style: observed >= limit; a breach at 0.04 (limit 0.05) going to 0.03 is worse
    pre, bounds = _frame([{"observed": 0.04}]), expression_bounds(load_pack(POLICY)).clear()
    worse = classify(pre, _frame([{"observed": 0.03}]), _effects("increase"), bounds, 3, False)
    better = classify(pre, _frame([{"observed": 0.045}]), _effects("increase"), bounds, 3, False)
    assert worse["change"].to_list() == ["worsened"] and better["change"].to_list() == ["unchanged"]
    # near-limit (safe side of an at-most limit, 0.045 <= 0.05): moving towards the limit is worse
    near = _frame([{"observed": 0.045, "status": "near_limit", "severity": "warning", "severity_rank": 2}])
    closer = _frame([{"observed": 0.048, "status": "near_limit", "severity": "warning", "severity_rank": 2}])
    assert classify(near, closer, _effects("increase"), bounds, 3, False)["change"].to_list() == ["worsened"]
