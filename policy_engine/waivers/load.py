"""Waiver files: YAML -> validated, frozen ``Waiver`` values, every problem at file:line:column.

Read with the policy loader's YAML source (line numbers, duplicate keys rejected), checked against
a JSON Schema (unknown keys with did-you-mean, missing keys, types) and then by hand: what a waiver
selects, and its expiry date. A missing or malformed ``expires`` is an error, never "no expiry".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from policy_engine.errors import Issue, PolicyEngineError
from policy_engine.model import SourceRef
from policy_engine.policy.humanize import describe, humanize, merge
from policy_engine.policy.yaml_source import Document, JsonPath, read_documents

SUFFIXES = (".yaml", ".yml")
REQUIRED = ("id", "reason", "approved_by", "ticket", "expires")
SELECTORS = ("rule", "account", "position", "symbol", "finding_id")
DATE_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_HINT = "write the last day the waiver applies as YYYY-MM-DD, e.g. 2026-12-31 (inclusive, UTC)"


class WaiverError(PolicyEngineError):
    """A waiver file that cannot be read or does not validate (exit code 2)."""

    kind = "invalid waivers"


@dataclass(frozen=True, slots=True)
class Waiver:
    id: str
    reason: str
    approved_by: str
    ticket: str
    expires: dt.date  # the last day on which the waiver applies
    source: SourceRef
    rule: str | None = None  # "policy_id/rule_id", or a rule id alone
    account: str | None = None
    position: str | None = None
    symbol: str | None = None
    finding_id: str | None = None
    rule_source: SourceRef | None = None

    @property
    def where(self) -> str:
        return f"{self.source.file}:{self.source.line}"


@dataclass(frozen=True, slots=True)
class Waivers:
    waivers: tuple[Waiver, ...]
    files: tuple[str, ...]


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description}


@lru_cache(maxsize=1)
def waiver_schema() -> dict[str, Any]:
    waiver = {
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED),
        "properties": {
            "id": _text("waiver id, unique across the waiver files, e.g. W-2026-014"),
            "rule": _text("policy_id/rule_id, or a rule id that is unique in the pack"),
            "account": _text("account id"),
            "position": _text("position id (optional)"),
            "symbol": _text("symbol (optional)"),
            "finding_id": _text("one finding's stable id, instead of rule + account"),
            "reason": _text("why the breach is accepted"),
            "approved_by": _text("who approved it"),
            "ticket": _text("the ticket or decision reference"),
            "expires": {"description": "last day the waiver applies, YYYY-MM-DD (inclusive, UTC)"},
        },
    }
    return {"type": "object", "additionalProperties": False, "required": ["waivers"],
            "properties": {"waivers": {"type": "array", "items": waiver}}}


def parse_expiry(value: Any) -> tuple[dt.date | None, str | None]:
    """(date, None), or (None, what is wrong). Only a calendar date is an expiry."""
    if isinstance(value, dt.datetime):
        return None, (f"expires must be a date without a time, got {value.isoformat()}: a waiver applies "
                      f"through the whole of its last day; {DATE_HINT}")
    if isinstance(value, dt.date):
        return value, None
    if value is None:
        return None, f"expires is empty: every waiver needs an expiry date, there is no 'never'; {DATE_HINT}"
    if isinstance(value, str) and DATE_FORM.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip()), None
        except ValueError as exc:
            return None, f"expires {value!r} is not a real date ({exc}); {DATE_HINT}"
    return None, f"expires must be a date, got {describe(value)}; {DATE_HINT}"


def _ref(doc: Document, path: JsonPath, key: bool = False) -> SourceRef:
    line, column = doc.position(path, key=key)
    return SourceRef(doc.source, line, column)


class _Checker:
    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.waivers: list[Waiver] = []
        self.first: dict[str, str] = {}  # waiver id -> file:line where it was first used

    def add(self, doc: Document, path: JsonPath, message: str, key: bool = False) -> None:
        if any(path[: len(u)] == u for u in doc.unreadable):
            return  # the YAML reader already said what is wrong here
        items = doc.value.get("waivers") if isinstance(doc.value, dict) else None
        index = path[1] if len(path) >= 2 and isinstance(path[1], int) else None
        where = None
        if index is not None and isinstance(items, list) and index < len(items):
            wid = items[index].get("id") if isinstance(items[index], dict) else None
            where = f"waiver {wid}" if isinstance(wid, str) else f"waiver #{index + 1}"
        line, column = doc.position(path, key=key)
        self.issues.append(Issue(doc.source, message, line, column, where))

    def document(self, doc: Document) -> None:
        before = len(self.issues)
        errors = Draft202012Validator(waiver_schema()).iter_errors(doc.value)
        for p in merge([p for error in errors for p in humanize(error)]):
            self.add(doc, p.path, p.message, key=p.at_key)
        items = doc.value.get("waivers") if isinstance(doc.value, dict) else None
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                self.waiver(doc, ("waivers", i), item, clean=len(self.issues) == before)

    def waiver(self, doc: Document, path: JsonPath, item: dict[str, Any], clean: bool) -> None:
        problems = len(self.issues)
        has = {k for k in SELECTORS if item.get(k) is not None}
        if set(item) - set(waiver_schema()["properties"]["waivers"]["items"]["properties"]):
            pass  # an unknown key (a misspelt selector?) is reported already, with a did-you-mean
        elif "finding_id" in has and has - {"finding_id"}:
            self.add(doc, (*path, "finding_id"), "finding_id selects one finding by itself: do not combine it "
                     f"with {', '.join(sorted(has - {'finding_id'}))}", key=True)
        elif "finding_id" not in has and not {"rule", "account"} <= has:
            missing = " and ".join(k for k in ("rule", "account") if k not in has)
            self.add(doc, path, f"missing {missing}: a waiver selects findings by rule and account (optionally "
                     "position or symbol), or by finding_id")
        if {"position", "symbol"} <= has:
            self.add(doc, (*path, "symbol"), "give position or symbol, not both: a position has one symbol", key=True)
        expires, problem = parse_expiry(item.get("expires"))
        if problem and "expires" in item:
            self.add(doc, (*path, "expires"), problem)
        wid = item.get("id")
        if isinstance(wid, str) and wid in self.first:
            self.add(doc, (*path, "id"), f"duplicate waiver id '{wid}': already used at {self.first[wid]}; "
                     "waiver ids must be unique across the waiver files")
        elif isinstance(wid, str):
            self.first[wid] = f"{doc.source}:{doc.position((*path, 'id'))[0]}"
        if expires is None or not clean or len(self.issues) > problems:
            return
        waiver = Waiver(
            id=item["id"], reason=item["reason"], approved_by=item["approved_by"], ticket=item["ticket"],
            expires=expires, source=_ref(doc, path), rule=item.get("rule"), account=item.get("account"),
            position=item.get("position"), symbol=item.get("symbol"), finding_id=item.get("finding_id"),
            rule_source=_ref(doc, (*path, "rule")) if item.get("rule") else None,
        )
        self.waivers.append(waiver)


def _read(source: str, text: str) -> tuple[list[Document], list[Issue]]:
    docs, issues = read_documents(source, text)
    if not docs and [i.message[:13] for i in issues] == ["file is empty"]:
        issues = [Issue(source, "file is empty: expected `waivers:` and a list of waivers", 1, 1)]
    return docs, issues


def _files(root: Path) -> tuple[list[Path], list[Issue]]:
    if root.is_file():
        return [root], []
    if not root.is_dir():
        return [], [Issue(str(root), "no such file or directory: expected a waiver file or a directory of them")]
    files = sorted((p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file()), key=lambda p: p.as_posix())
    return files, [] if files else [Issue(str(root), "no waiver files (*.yaml, *.yml) in this directory")]


def load_waivers(path: str | Path) -> Waivers:
    """Every waiver in the file or directory at ``path``; ``WaiverError`` listing every problem."""
    files, issues = _files(Path(path))
    checker = _Checker()
    for file in files:
        try:
            text = file.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue(str(file), f"cannot read the waiver file: {exc}"))
            continue
        docs, read_issues = _read(str(file), text)
        issues.extend(read_issues)
        for doc in docs:
            checker.document(doc)
    issues.extend(checker.issues)
    if issues:
        raise WaiverError(issues)
    return Waivers(tuple(checker.waivers), tuple(str(f) for f in files))
