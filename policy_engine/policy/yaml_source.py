"""YAML text -> plain Python values, each value and key located by line and column.

PyYAML's ``safe_load`` forgets where values were written and silently keeps the last of two
equal mapping keys. Here the text is only *composed* into a node tree with ``SafeLoader``
(never the full loader), and the tree is walked by hand: scalars go through the SafeLoader
constructor (so ``1.0`` is a float and ``yes`` is ``True``, exactly as ``safe_load`` would
have it), while every JSON path -- a tuple of keys and list indexes -- keeps its node, so that
later passes can say "file:line:column". Duplicate keys are reported, never resolved.

Mapping keys are always the key's text (``1: x`` has the key ``"1"``), as in JSON. Anchors and
aliases are allowed, including ``<<`` merge keys (explicit keys override merged ones); an alias
is expanded into a fresh copy, and a recursive alias or an expansion past ``MAX_NODES`` values
is an issue rather than a hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from policy_engine.errors import Issue

JsonPath = tuple[str | int, ...]

MERGE_TAG = "tag:yaml.org,2002:merge"
PLAIN_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")  # lists and mappings, nothing fancier
MAX_NODES = 100_000  # a policy has hundreds of values; a billion-laughs document has far more


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of one file: its value and the node behind every path."""

    source: str  # the file as shown in messages
    index: int  # 0-based position of the document in its file
    text: str = field(repr=False)  # the whole file, to map expression offsets to columns
    value: Any
    nodes: dict[JsonPath, yaml.Node] = field(default_factory=dict, repr=False)  # value nodes
    keys: dict[JsonPath, yaml.Node] = field(default_factory=dict, repr=False)  # key nodes of mapping entries
    unreadable: frozenset[JsonPath] = frozenset()  # values already reported and read as None

    def position(self, path: JsonPath, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of ``path``, or of its nearest ancestor that exists.

        ``key=True`` prefers where the key was written (``sevrity:``) over its value.
        """
        for cut in range(len(path), -1, -1):
            sub = path[:cut]
            node = (self.keys.get(sub) if key else None) or self.nodes.get(sub)
            if node is not None:
                return node.start_mark.line + 1, node.start_mark.column + 1
        return 1, 1


class _Walker:
    """Builds one document's value while recording nodes and collecting issues."""

    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.nodes: dict[JsonPath, yaml.Node] = {}
        self.keys: dict[JsonPath, yaml.Node] = {}
        self.issues: list[Issue] = []
        self.unreadable: set[JsonPath] = set()
        self.count = 0
        self.active: set[int] = set()  # ids of the collection nodes on the current path

    def issue(self, node: yaml.Node, message: str, path: JsonPath | None = None) -> None:
        if path is not None:
            self.unreadable.add(path)
        mark = node.start_mark
        self.issues.append(Issue(self.source, message, mark.line + 1, mark.column + 1))

    def too_big(self, node: yaml.Node) -> bool:
        self.count += 1
        if self.count == MAX_NODES + 1:
            self.issue(node, f"document expands to more than {MAX_NODES:,} values (aliases?)")
        return self.count > MAX_NODES

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        if self.too_big(node):
            self.unreadable.add(path)
            return None
        self.nodes[path] = node
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if node.tag not in PLAIN_TAGS:
            self.issue(node, f"cannot read value: the tag '{node.tag}' is not allowed in a policy", path)
            return None
        if id(node) in self.active:
            self.issue(node, "recursive alias: a value may not contain itself", path)
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self.issue(node, f"cannot read value: {exc.problem}", path)
            return None
        except ValueError:
            # a timestamp-shaped scalar that is no date (2026-13-01): keep the text, so the schema of
            # whatever reads it says what is wrong, where (a version may be any text; an expiry may not)
            return node.value

    def entries(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node, bool]]:
        """(key, value, merged) triples: ``<<`` sources first, then the explicit entries."""
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        explicit: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key, value in node.value:
            if key.tag != MERGE_TAG:
                explicit.append((key, value, False))
                continue
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for src in sources:
                if self.too_big(src):
                    break
                if not isinstance(src, yaml.MappingNode):
                    self.issue(src, "a '<<' merge key must refer to a mapping (or a list of mappings)")
                elif id(src) in self.active:
                    self.issue(src, "recursive alias: a value may not contain itself")
                else:
                    self.active.add(id(src))
                    merged.extend((k, v, True) for k, v in self.effective(src))
                    self.active.discard(id(src))
        return merged + explicit

    def effective(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        """The entries a merged mapping contributes (its own keys override what it merges)."""
        chosen: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value, merged in self.entries(node):
            if isinstance(key, yaml.ScalarNode) and (key.value not in chosen or not merged):
                chosen[key.value] = (key, value)
        return list(chosen.values())

    def mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        chosen: dict[str, tuple[yaml.Node, yaml.Node, bool]] = {}
        for key, value, merged in self.entries(node):
            if not isinstance(key, yaml.ScalarNode):
                self.issue(key, "a mapping key must be a plain value, not a list or mapping")
                continue
            name = key.value
            first = chosen.get(name)
            if first is not None and not (first[2] or merged):
                self.issue(
                    key,
                    f"duplicate key '{name}': first at line {first[0].start_mark.line + 1}, "
                    f"again at line {key.start_mark.line + 1}; YAML would silently keep only "
                    "the last one, so remove or rename one of them",
                )
                continue
            if first is None or not merged:  # explicit keys override merged ones; first merge wins
                chosen[name] = (key, value, merged)
        out: dict[str, Any] = {}
        for name, (key, value, _) in chosen.items():
            self.keys[(*path, name)] = key
            out[name] = self.build(value, (*path, name))
        return out


def _syntax_issue(source: str, exc: yaml.YAMLError) -> Issue:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return Issue(source, f"YAML error: {exc}")
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    if "'\\t'" in problem:
        message += "; YAML indents with spaces, never tabs"
    if mark is None:
        return Issue(source, message)
    return Issue(source, message, mark.line + 1, mark.column + 1)


def read_documents(source: str, text: str) -> tuple[list[Document], list[Issue]]:
    """Every non-empty document of one file's text, and the problems found reading it.

    Documents before a syntax error are still returned, so their own problems are reported too.
    """
    docs: list[Document] = []
    issues: list[Issue] = []
    loader = yaml.SafeLoader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
                continue  # an empty document, e.g. after a trailing '---'
            walker = _Walker(loader, source)
            value = walker.build(node, ())
            docs.append(
                Document(source, index, text, value, walker.nodes, walker.keys, frozenset(walker.unreadable))
            )
            issues.extend(walker.issues)
            index += 1
    except yaml.YAMLError as exc:
        issues.append(_syntax_issue(source, exc))
    finally:
        loader.dispose()
    if not docs and not issues:
        issues.append(
            Issue(
                source,
                "file is empty: expected a policy (a mapping with id, version, description, owner and rules)",
                1,
                1,
            )
        )
    return docs, issues
