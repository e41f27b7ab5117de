"""Plain frozen values exchanged between the stages (load -> validate -> compile -> evaluate).

Nothing here imports Polars: a policy is data, a finding is data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping


class Severity(enum.IntEnum):
    """Ordered severities; a higher value is worse."""

    INFO = 1
    WARNING = 2
    BREACH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> "Severity":
        return cls[text.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


SEVERITY_NAMES: tuple[str, ...] = tuple(s.label for s in Severity)


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a policy element was written: file and 1-based line/column."""

    file: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class VolatilityBand:
    """A volatility tier: annualised volatility strictly below ``below`` (None: no upper bound)."""

    name: str
    below: float | None


DEFAULT_VOLATILITY_TIERS: tuple[VolatilityBand, ...] = (
    VolatilityBand("low", 0.5),
    VolatilityBand("medium", 0.8),
    VolatilityBand("high", 1.2),
    VolatilityBand("extreme", None),
)


@dataclass(frozen=True, slots=True)
class MetricSettings:
    """Pack-wide settings that derived metrics depend on (see docs/metrics.md)."""

    maintenance_margin_rate: float = 0.005
    maintenance_amount: float = 0.0
    liquidation_model: str = "binance"  # binance | bybit
    annualization_days: float = 365.0
    equity_annualization_days: float = 252.0  # used where asset_class == 'equity'


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a policy, as validated. ``params`` is the kind's own parameter mapping."""

    id: str
    kind: str
    severity: Severity
    params: Mapping[str, Any]
    description: str = ""
    where: str | None = None
    warn_at: float | None = None  # near-limit band, a fraction of the limit (0 < warn_at < 1)
    source: SourceRef | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    version: str
    description: str
    owner: str
    rules: tuple[Rule, ...]
    profiles: tuple[str, ...] = ()
    volatility_tiers: tuple[VolatilityBand, ...] = DEFAULT_VOLATILITY_TIERS
    unknown_volatility_tier: str | None = None  # None: the strictest tier
    columns: tuple[str, ...] = ()  # custom snapshot columns the policy's expressions may reference
    source: SourceRef | None = None


@dataclass(frozen=True, slots=True)
class PolicyPack:
    policies: tuple[Policy, ...]
    settings: MetricSettings = field(default_factory=MetricSettings)
    files: tuple[str, ...] = ()
    content_hash: str = ""  # sha256 over the pack's files, in path order

    @property
    def rules(self) -> tuple[tuple[Policy, Rule], ...]:
        return tuple((p, r) for p in self.policies for r in p.rules)
