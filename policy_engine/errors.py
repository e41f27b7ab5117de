"""Errors: what stops a run before it can produce findings.

Findings are data and never raised. Errors are a small tree under one base class, and the
CLI maps every one of them to exit code 2 (fail closed):

* PolicyEngineError                 base; ``issues`` lists every problem found
  x PolicyError                     a policy pack that cannot be loaded or is invalid
  x DataError                       a positions / accounts / market / trades file that is invalid
  x UsageError                      a command line that cannot be carried out

Each error carries *all* the problems found (``issues``), never only the first, so a user
fixes a file in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in one input, located as precisely as the input allows.

    ``line``/``column`` are 1-based positions in a text file (a YAML policy, a CSV row);
    ``row`` is a 1-based data row for formats without lines (Parquet). ``where`` names the
    logical place: a policy/rule id, a column name.
    """

    source: str
    message: str
    line: int | None = None
    column: int | None = None
    where: str | None = None

    def render(self) -> str:
        """One line: ``file:line:column: [where] message``; data quoted in it cannot break the line."""
        from policy_engine.textsafe import printable

        loc = printable(self.source)
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        prefix = f"{loc}: " if loc else ""
        scope = f"[{printable(self.where)}] " if self.where else ""
        return f"{prefix}{scope}{printable(self.message)}"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.source, self.line or 0, self.column or 0, self.message)


class PolicyEngineError(Exception):
    """Base of every error the engine raises on bad input; exit code 2."""

    kind = "error"

    def __init__(self, issues: list[Issue] | tuple[Issue, ...] | str) -> None:
        if isinstance(issues, str):
            issues = [Issue(source="", message=issues)]
        self.issues: tuple[Issue, ...] = tuple(sorted(issues, key=Issue.sort_key))
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.issues)
        head = f"{self.kind}: {n} problem{'s' if n != 1 else ''} found"
        return "\n".join([head, *("  " + i.render() for i in self.issues)])


class PolicyError(PolicyEngineError):
    """A policy pack that cannot be loaded or does not validate."""

    kind = "invalid policy"


class DataError(PolicyEngineError):
    """An input data file (positions, accounts, market data, trades) that is invalid."""

    kind = "invalid data"


class UsageError(PolicyEngineError):
    """A command line that cannot be carried out (missing file, bad option)."""

    kind = "usage error"
