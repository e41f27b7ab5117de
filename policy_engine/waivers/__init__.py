"""Waivers: accepted breaches, each with a reason, an approver, a ticket and an expiry date.

    load.py   waiver files -> validated ``Waivers`` (errors at file:line:column)
    apply.py  ``apply_waivers(result, waivers)``: waived findings leave the findings; expired,
              expiring and stale waivers are listed in ``result.extra``

The same functions serve check, gate and scheduled runs, so the semantics cannot drift apart.
The file format and the rules are in docs/waivers.md.
"""

from __future__ import annotations

from policy_engine.waivers.apply import DEFAULT_WARNING_DAYS, apply_waivers, as_of_date, waiver_warnings
from policy_engine.waivers.load import Waiver, WaiverError, Waivers, load_waivers, parse_expiry, waiver_schema

__all__ = [
    "DEFAULT_WARNING_DAYS", "Waiver", "WaiverError", "Waivers", "apply_waivers", "as_of_date", "load_waivers",
    "parse_expiry", "waiver_schema", "waiver_warnings",
]
