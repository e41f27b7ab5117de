"""Formatting for the report: every number becomes text here, never in a template.

The conventions follow the findings' messages (policy_engine/rules/fmt.py), so that a value in a
table reads the same as in the sentence next to it: ``12,400.50``, ``5.12%``, ``2.5x``, prices with
enough digits for PEPE (0.0000123), quantities with up to 4 decimals.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

MISSING = "—"

# Severity: a text label and a glyph whose *shape* differs, so colour never carries it alone.
SEVERITIES = ("info", "warning", "breach", "critical")  # index = rank - 1
SEVERITY_RANK = {"critical": 4, "breach": 3, "warning": 2, "info": 1}
SEVERITY_GLYPH = {"critical": "◆", "breach": "■", "warning": "▲", "info": "●"}
STATUS_TEXT = {"breach": "breach", "near_limit": "near limit"}

# How the observed value and limit of a metric read: percent of equity, leverage, price.
_PERCENT = frozenset({"allocation", "allocation_notional", "liq_distance", "risk_per_trade"})
_TIMES = frozenset({"leverage", "account_leverage", "effective_leverage"})
_PRICE = frozenset({"stop_loss_price", "liquidation_price", "mark_price", "entry_price", "take_profit_price"})


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def number(x: Any, decimals: int = 2) -> str:
    if not finite(x):
        return MISSING
    text = f"{x:,.{decimals}f}"
    if text.startswith("-") and not any(ch in "123456789" for ch in text):
        text = text[1:]  # no "-0.00"
    return text


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(x: Any, decimals: int = 2) -> str:
    return MISSING if not finite(x) else number(x * 100, decimals) + "%"


def times(x: Any) -> str:
    return MISSING if not finite(x) else _trim(number(x, 2)) + "x"


def price(x: Any) -> str:
    if not finite(x):
        return MISSING
    magnitude = abs(x)
    if magnitude >= 1:
        return number(x, 2)
    return _trim(number(x, 6 if magnitude >= 0.001 else 10)) or "0"


def quantity(x: Any) -> str:
    return MISSING if not finite(x) else (_trim(number(x, 4)) or "0")


def money(x: Any, currency: str | None = None) -> str:
    if not finite(x):
        return MISSING
    return number(x, 2) + (f" {currency}" if currency else "")


def integer(x: Any) -> str:
    return MISSING if not finite(x) else f"{int(x):,}"


def metric_value(metric: str | None, x: Any) -> str:
    """An observed value or limit, read the way its metric is: 5.12%, 3x, a price, else a number."""
    if not finite(x):
        return MISSING
    if metric in _PERCENT:
        return percent(x)
    if metric in _TIMES:
        return times(x)
    if metric in _PRICE:
        return price(x)
    return _trim(number(x, 4)) or "0"


def sort_key(x: Any) -> str | None:
    """The data-sort attribute of a numeric cell (None: sort by the text)."""
    return f"{float(x):.10g}" if finite(x) else None


def text(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return MISSING
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return _trim(number(x, 4)) or "0"
    return str(x)


def timestamp(value: str | None) -> str:
    """'2025-01-17T09:30:00Z' -> '2025-01-17 09:30:00 UTC' (other text as given)."""
    if not value:
        return "not recorded"
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]00:?00)?", value)
    if m is None:
        return value
    return f"{m.group(1)} {m.group(2)}" + (" UTC" if m.group(3) else "")


def anchor(prefix: str, key: str) -> str:
    """An HTML id from any text: readable when the text is safe, made unique by a hash when not."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")
    if slug == key and slug:
        return f"{prefix}-{slug}"
    return f"{prefix}-{slug[:40]}-{hashlib.sha256(key.encode()).hexdigest()[:8]}".replace("--", "-")


def shorten(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
