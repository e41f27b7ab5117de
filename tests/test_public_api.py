"""The public surface: a sorted __all__ of names that all resolve, and a lazy import."""

from __future__ import annotations

import subprocess
import sys

import policy_engine


def test_all_is_sorted_and_resolves() -> None:
    assert policy_engine.__all__ == sorted(policy_engine.__all__)
    for name in policy_engine.__all__:
        assert getattr(policy_engine, name) is not None


def test_importing_the_package_does_not_import_polars() -> None:
    # `policy-engine --help` must stay fast: the heavy modules load on first use only
    code = "import sys, policy_engine, policy_engine.cli; print('polars' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
