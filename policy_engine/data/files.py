"""Files as files: reading text and YAML safely, the column map, content hashes.

Every failure is a DataError naming the file, never a traceback.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from policy_engine.errors import DataError, Issue


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that rejects duplicate keys: a repeated key silently overwrites otherwise."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` object hook: an object that repeats a key is refused, since one value would
    win silently (the last in Python's json, the first in Polars' NDJSON reader)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def load_yaml(path: Path, source: str) -> Any:
    """yaml.safe_load with duplicate keys refused; every failure is a DataError naming the file."""
    text = read_text(path, source)
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise DataError([Issue(source, f"invalid YAML: {problem}", line, column)]) from None


def read_text(path: Path, source: str) -> str:
    if not path.exists():
        raise DataError([Issue(source, "file does not exist")])
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError([Issue(source, f"cannot be read: {exc}")]) from None


def load_column_map(path: str | Path) -> dict[str, str]:
    """Read a column mapping file (YAML or JSON): ``{their_name: our_name}``."""
    source = str(path)
    doc = load_yaml(Path(path), source)
    if not isinstance(doc, dict):
        raise DataError([Issue(source, "a column map is a mapping {their_name: our_name}")])
    issues = [
        Issue(source, f"entry {k!r}: {v!r}: names must be non-empty text (quote them in YAML)")
        for k, v in doc.items()
        if not (isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip())
    ]
    if issues:
        raise DataError(issues)
    return {k: v for k, v in doc.items()}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file; for a directory, sha256 over "relative path, digest" of its files in path order.

    The relative path is part of the digest because hive partition directories carry data.
    """
    p = Path(path)
    if p.is_file():
        return _digest(p)
    if not p.is_dir():
        raise DataError([Issue(str(path), "file does not exist")])
    files = sorted(
        (f for f in p.rglob("*") if f.is_file() and not hidden(f.relative_to(p))),
        key=lambda f: f.relative_to(p).as_posix(),
    )
    outer = hashlib.sha256()
    for f in files:
        outer.update(f"{f.relative_to(p).as_posix()}\0{_digest(f)}\n".encode())
    return outer.hexdigest()


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hidden(relative: Path) -> bool:
    return any(part.startswith((".", "_")) for part in relative.parts)
