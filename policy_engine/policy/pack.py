"""A policy pack: a file or a directory of policy files, read, validated and built as one.

Files are ``*.yaml`` / ``*.yml`` found recursively under a directory, taken in the order of
their relative paths. Each YAML document in a file is one policy. Every document goes through
the three passes (shape.py, semantics.py); then the pack-wide checks run (policy ids unique
across files, also ignoring case; ``defaults`` that agree). Only a pack without a single issue is built.

The content hash identifies exactly what was checked: sha256 over, for each file in order,
``<relative path>\\0<byte length>\\0`` followed by the file's bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from policy_engine.errors import Issue
from policy_engine.model import PolicyPack
from policy_engine.policy.build import build_policy, build_settings
from policy_engine.policy.envelope import id_clashes
from policy_engine.policy.semantics import check_semantics
from policy_engine.policy.shape import check_envelope, check_kinds
from policy_engine.policy.sink import IssueSink
from policy_engine.policy.yaml_source import read_documents
from policy_engine.rules import RuleKind

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class PackFile:
    relative: str  # posix path relative to the pack root: the key of the content hash
    path: Path
    data: bytes

    @property
    def source(self) -> str:
        return str(self.path)


def discover(root: Path) -> tuple[list[Path], list[Issue]]:
    """The policy files of a pack, in relative-path order."""
    if root.is_file():
        return [root], []
    if not root.is_dir():
        return [], [
            Issue(str(root), "no such file or directory: expected a policy file or a directory of them")
        ]
    files = sorted(
        (p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file()),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not files:
        return [], [Issue(str(root), "no policy files (*.yaml, *.yml) in this directory")]
    return files, []


def read_files(root: Path) -> tuple[list[PackFile], list[Issue]]:
    paths, issues = discover(root)
    files = []
    for path in paths:
        relative = path.name if path == root else path.relative_to(root).as_posix()
        try:
            files.append(PackFile(relative, path, path.read_bytes()))
        except OSError as exc:
            issues.append(Issue(str(path), f"cannot read file: {exc.strerror or exc}"))
    return files, issues


def content_hash(files: list[PackFile]) -> str:
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relative):
        digest.update(f"{f.relative}\0{len(f.data)}\0".encode())
        digest.update(f.data)
    return digest.hexdigest()


def _where(sink: IssueSink) -> str:
    line, column = sink.doc.position(("id",))
    return f"{sink.doc.source}:{line}:{column}"


def _unique_policy_ids(sinks: list[IssueSink]) -> None:
    """Unique in the pack, also ignoring case: ids are case-sensitive, but ``Core`` and ``core`` in
    one pack are almost certainly a mistake, and readers would take them for one policy."""
    for sink, pid, other, other_id in id_clashes((s, s.doc.value.get("id")) for s in sinks):
        if other_id == pid:
            message = (
                f"duplicate policy id '{pid}': already defined at {_where(other)}; "
                "policy ids must be unique in a pack"
            )
        else:
            message = (
                f"duplicate policy id '{pid}' ({_where(sink)}): the policy at {_where(other)} is "
                f"'{other_id}', which differs only in case; "
                "policy ids must differ by more than case in a pack"
            )
        sink.add(("id",), message)


def _merged_settings(sinks: list[IssueSink]) -> dict[str, Any]:
    merged: dict[str, tuple[Any, IssueSink]] = {}
    for sink in sinks:
        defaults = sink.doc.value.get("defaults")
        if not isinstance(defaults, dict) or sink.has_issues(("defaults",)):
            continue
        for key, value in defaults.items():
            if key not in merged:
                merged[key] = (value, sink)
            elif merged[key][0] != value:
                other, at = merged[key]
                sink.add(
                    ("defaults", key),
                    f"defaults.{key} is {value!r} here but {other!r} in "
                    f"{at.where(())} ({_where(at)}); pack-wide settings must agree",
                )
    return {k: v for k, (v, _) in merged.items()}


def load(root: str | Path, kinds: Mapping[str, RuleKind]) -> tuple[PolicyPack | None, list[Issue]]:
    """The pack at ``root`` and every issue found in it; the pack is None unless issues are none."""
    files, issues = read_files(Path(root))
    sinks: list[IssueSink] = []
    for f in files:
        try:
            text = f.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            issues.append(Issue(f.source, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"))
            continue
        docs, read_issues = read_documents(f.source, text)
        issues.extend(read_issues)
        for doc in docs:
            sink = IssueSink(doc)
            check_envelope(sink)
            check_semantics(sink, kinds, check_kinds(sink, kinds))
            sinks.append(sink)
    policy_sinks = [s for s in sinks if isinstance(s.doc.value, dict)]
    _unique_policy_ids(policy_sinks)
    settings = _merged_settings(policy_sinks)
    issues.extend(i for s in sinks for i in s.issues)
    if issues:
        return None, sorted(issues, key=Issue.sort_key)
    pack = PolicyPack(
        policies=tuple(build_policy(s.doc) for s in sinks),
        settings=build_settings(settings),
        files=tuple(f.source for f in files),
        content_hash=content_hash(files),
    )
    return pack, []
