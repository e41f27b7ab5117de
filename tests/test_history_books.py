"""Small books for the history and waiver tests: a policy, three accounts, positions per run.

No tests here; ``Book`` writes real files and runs the engine on them, through the API (fast) or
the CLI in a subprocess (exit codes, stderr, concurrency).

The policy, with the arithmetic the tests rely on (equity 100,000 in every account):

* ``alloc`` (max_allocation, notional basis): notional = quantity x mark_price must stay <= 50% of
  equity = 50,000; inside the warning band (warn_at 0.8) above 40,000.
* ``gross`` (expression, scope account): account_leverage = sum of notionals / equity <= 2, i.e. at
  most 200,000 of notional per account; one finding per account.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from policy_engine import api
from policy_engine.api import RunResult
from policy_engine.history import record_run
from policy_engine.waivers import apply_waivers, load_waivers
from tests.conftest import run_cli, write_csv, write_policy

POLICY = {"rules": [
    {"id": "alloc", "kind": "max_allocation", "severity": "breach", "warn_at": 0.8,
     "params": {"basis": "notional", "limit": 0.5}},
    {"id": "gross", "kind": "expression", "severity": "warning",
     "params": {"require": "account_leverage <= 2", "observed": "account_leverage", "scope": "account"}},
]}
ACCOUNTS = [{"account_id": a, "equity": 100000, "risk_profile": "moderate"} for a in ("A", "B", "C")]


def pos(pid: str, account: str, quantity: float, mark: float, leverage: float = 2,
        stop: float | None = None, symbol: str = "BTCUSDT") -> dict[str, Any]:
    return {"position_id": pid, "account_id": account, "symbol": symbol, "side": "long", "quantity": quantity,
            "entry_price": 100, "mark_price": mark, "leverage": leverage, "stop_loss_price": stop}


class Book:
    def __init__(self, root: Path, policy: dict[str, Any] | None = None, accounts: list[dict[str, Any]] | None = None):
        self.root = root
        self.policy = write_policy(root / "policy.yaml", policy or POLICY)
        self.accounts = write_csv(root / "accounts.csv", accounts or ACCOUNTS)
        self.positions = root / "positions.csv"
        self.store = root / "history.db"

    def evaluate(self, positions: list[dict[str, Any]], as_of: str) -> RunResult:
        write_csv(self.positions, positions)
        return api.check(self.policy, self.positions, self.accounts, as_of=as_of)

    def run(self, positions: list[dict[str, Any]], as_of: str, waivers: Path | None = None,
            warning_days: int = 14, history: bool = True) -> RunResult:
        """Evaluate, apply waivers, record: the order check and gate use."""
        result = self.evaluate(positions, as_of)
        if waivers is not None:
            result = apply_waivers(result, load_waivers(waivers), warning_days)
        return record_run(self.store, result, "check").result if history else result

    def cli(self, positions: list[dict[str, Any]] | None, *args: str, env: dict[str, str] | None = None,
            history: bool = True) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
        """`policy-engine check` in a subprocess, JSON to a file; (process, document or None)."""
        if positions is not None:
            write_csv(self.positions, positions)
        out = self.root / f"out-{len(list(self.root.glob('out-*.json')))}.json"
        store = ("--history", str(self.store)) if history else ()
        proc = run_cli("check", "--policies", str(self.policy), "--positions", str(self.positions),
                       "--accounts", str(self.accounts), "--output", str(out), *store, *args, env=env)
        return proc, json.loads(out.read_text()) if out.exists() else None


def by_position(result: RunResult, rule: str = "alloc") -> dict[str | None, dict[str, Any]]:
    rows = result.findings.filter(result.findings["rule_id"] == rule).to_dicts()
    return {r["position_id"]: r for r in rows}


def by_account(result: RunResult, rule: str = "gross") -> dict[str, dict[str, Any]]:
    rows = result.findings.filter(result.findings["rule_id"] == rule).to_dicts()
    return {r["account_id"]: r for r in rows}


def write_waivers(path: Path, *waivers: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"waivers": list(waivers)}, sort_keys=False), encoding="utf-8")
    return path
