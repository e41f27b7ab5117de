"""Collecting issues for one YAML document, each placed at file:line:column and scoped.

Every validation pass reports through an ``IssueSink``: it turns a JSON path into the line and
column where the value (or its key) was written, and names the policy and rule the path is in,
so no pass has to. It also remembers which paths already have problems, so that later passes can
skip checks that would only repeat them.
"""

from __future__ import annotations

from typing import Any

from policy_engine.errors import Issue
from policy_engine.policy.yaml_source import Document, JsonPath


def _rule_id(value: Any, index: int) -> str:
    rid = value.get("id") if isinstance(value, dict) else None
    return rid if isinstance(rid, str) and rid else f"#{index + 1}"


class IssueSink:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.issues: list[Issue] = []
        self.paths: list[JsonPath] = []

    def where(self, path: JsonPath) -> str:
        """``policy <id> / rule <rule id>``: the logical place of ``path``."""
        value = self.doc.value
        pid = value.get("id") if isinstance(value, dict) else None
        scope = (
            f"policy {pid}" if isinstance(pid, str) and pid else f"policy #{self.doc.index + 1} of the file"
        )
        rules = value.get("rules") if isinstance(value, dict) else None
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int) and isinstance(rules, list):
            if path[1] < len(rules):
                scope += f" / rule {_rule_id(rules[path[1]], path[1])}"
        return scope

    def add(
        self, path: JsonPath, message: str, *, at_key: bool = False, position: tuple[int, int] | None = None
    ) -> None:
        if any(path[: len(u)] == u for u in self.doc.unreadable):
            return  # the YAML reader already reported this value
        line, column = position or self.doc.position(path, key=at_key)
        self.paths.append(path)
        self.issues.append(Issue(self.doc.source, message, line, column, self.where(path)))

    def has_issues(self, prefix: JsonPath = ()) -> bool:
        """Whether a problem was reported at ``prefix`` or anywhere inside it."""
        return any(p[: len(prefix)] == prefix for p in self.paths)

    def line(self, path: JsonPath) -> int:
        return self.doc.position(path)[0]
