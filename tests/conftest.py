"""Shared test helpers: write small inputs as real files and run the engine on them."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

POLICY_ENVELOPE = {"id": "test-policy", "version": "1", "description": "test policy", "owner": "tests"}


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    rows = list(rows)
    fields: list[str] = []
    for row in rows:
        for key in row:
            if key not in fields:
                fields.append(key)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in fields})
    return path


def write_policy(path: Path, policy: Mapping[str, Any]) -> Path:
    doc = {**POLICY_ENVELOPE, **policy}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policy_engine", *args],
        cwd=cwd or ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300,
    )


@pytest.fixture
def root() -> Path:
    return ROOT
