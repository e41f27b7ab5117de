"""Untrusted text on a terminal: control characters shown, never interpreted.

A symbol such as "BTC\\n::error file=a::pwned" must not start a new line that a CI runner reads as
a workflow command, and an ANSI escape must not repaint the terminal. Every place that prints data
(error messages, summaries) passes it through ``printable``.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """``text`` with every C0/C1 control character escaped: '\\n', '\\x1b'."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), str(text))
