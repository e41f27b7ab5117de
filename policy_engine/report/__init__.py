"""The self-contained HTML compliance report (issue 3).

    view.py     RunResult -> view model (plain text and numbers; every decision made in Python)
    clients.py  per-client sections          charts.py  inline SVG geometry
    findings.py findings as table rows       extras.py  optional sections from result.extra
    render.py   Jinja2 (autoescape, StrictUndefined) over policy_engine/templates/report*.html
"""

from __future__ import annotations

from policy_engine.report.render import render_report, write_report

__all__ = ["render_report", "write_report"]
