"""policy-engine: declarative YAML risk policies compiled into one Polars plan over position snapshots.

The public names are imported on first use (PEP 562), so that ``policy-engine --help`` does not
pay for importing Polars.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "DataError": "policy_engine.errors",
    "Issue": "policy_engine.errors",
    "Policy": "policy_engine.model",
    "PolicyEngineError": "policy_engine.errors",
    "PolicyError": "policy_engine.errors",
    "PolicyPack": "policy_engine.model",
    "Rule": "policy_engine.model",
    "RunInfo": "policy_engine.api",
    "RunResult": "policy_engine.api",
    "Severity": "policy_engine.model",
    "UsageError": "policy_engine.errors",
    "check": "policy_engine.api",
    "metrics": "policy_engine.api",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:
    from policy_engine.api import RunInfo, RunResult, check, metrics
    from policy_engine.errors import DataError, Issue, PolicyEngineError, PolicyError, UsageError
    from policy_engine.model import Policy, PolicyPack, Rule, Severity


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'policy_engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
