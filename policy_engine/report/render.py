"""Render the view model with Jinja2: autoescape on, undefined variables an error, no I/O but the file.

The templates (policy_engine/templates/report*.html, report.css, report.js) are package data. CSS
and JavaScript are inlined, so the report is one file that needs no network.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from policy_engine.api import RunResult
from policy_engine.report.view import build_view


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("policy_engine", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_report(result: RunResult, now: dt.datetime | None = None) -> str:
    """The report as one HTML document; byte-identical for the same result and clock."""
    return environment().get_template("report.html").render(view=build_view(result, now))


def write_report(result: RunResult, path: str | Path, now: dt.datetime | None = None) -> Path:
    """Write the report (creating its directory); ``now`` defaults to the run's generation time."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(result, now), encoding="utf-8", newline="\n")
    return out
