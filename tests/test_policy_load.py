"""Loading policy packs: files and directories, YAML reading, the built model, the content hash.

Every test writes real files (tmp_path or tests/policies/); line and column numbers in the
assertions can be counted in the YAML text next to them.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.errors import Issue, PolicyError
from policy_engine.model import (
    DEFAULT_VOLATILITY_TIERS,
    MetricSettings,
    Severity,
    SourceRef,
    VolatilityBand,
)
from policy_engine.policy import load_pack, validate_paths
from policy_engine.policy.yaml_source import read_documents

POLICIES = Path(__file__).parent / "policies"

ENVELOPE = """\
id: p
version: "1"
description: test policy
owner: tests
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def policy_text(body: str) -> str:
    """The envelope (lines 1-4) followed by ``body`` (from line 5 on)."""
    return ENVELOPE + textwrap.dedent(body)


def only_issue(path: Path) -> Issue:
    issues = validate_paths(path)
    assert len(issues) == 1, [i.render() for i in issues]
    return issues[0]


# --- the valid pack -----------------------------------------------------------------------------


def test_valid_pack_loads_into_the_expected_model_objects() -> None:
    pack = load_pack(POLICIES / "valid")
    core_file = str(POLICIES / "valid" / "core-risk.yaml")
    desks_file = str(POLICIES / "valid" / "desks" / "desks.yaml")
    assert pack.files == (core_file, desks_file)  # recursive, in relative-path order
    assert [p.id for p in pack.policies] == ["core-risk", "desk-a", "desk-b"]

    core = pack.policies[0]
    assert (core.version, core.owner) == ("1.2.0", "risk-office@example.com")
    assert core.description == "Practitioners' rules for isolated-margin crypto books."
    assert core.profiles == ("conservative", "moderate", "aggressive")
    assert core.volatility_tiers == (
        VolatilityBand("low", 0.5),
        VolatilityBand("medium", 0.8),
        VolatilityBand("high", 1.2),
        VolatilityBand("extreme", None),
    )
    assert core.unknown_volatility_tier == "extreme"
    assert core.source == SourceRef(core_file, 2, 1)

    alloc = core.rules[0]
    assert (alloc.id, alloc.kind, alloc.severity) == ("max-allocation", "max_allocation", Severity.BREACH)
    assert alloc.description == "One isolated position may tie up at most a few percent of equity."
    assert alloc.where == "margin_mode = 'isolated'"
    assert alloc.warn_at == 0.8
    assert alloc.params == {
        "basis": "margin",
        "limit": {"conservative": 0.02, "moderate": 0.05, "aggressive": 0.10},
    }
    assert alloc.source == SourceRef(core_file, 18, 5)
    assert [r.severity for r in core.rules] == [Severity.BREACH, Severity.CRITICAL, Severity.WARNING]

    desk_a, desk_b = pack.policies[1:]
    assert desk_a.volatility_tiers == DEFAULT_VOLATILITY_TIERS and desk_a.unknown_volatility_tier is None
    assert (
        desk_a.rules[0].where is None
        and desk_a.rules[0].warn_at is None
        and desk_a.rules[0].description == ""
    )
    assert desk_b.source == SourceRef(desks_file, 15, 1)
    # the merge key copied kind from the anchored rule; explicit keys overrode id, severity, params
    merged = desk_b.rules[1]
    assert (merged.id, merged.kind, merged.severity) == (
        "liquidation-buffer-early-warning",
        "liquidation_buffer",
        Severity.WARNING,
    )
    assert merged.params == {"k": 4, "horizon_days": 1}
    assert merged.source == SourceRef(desks_file, 25, 5)

    # defaults of core-risk and desk-a agree and are merged; the rest keep the model's defaults
    assert pack.settings == MetricSettings(
        maintenance_margin_rate=0.005, liquidation_model="binance", annualization_days=365.0
    )
    assert len(pack.content_hash) == 64


def test_rule_params_are_frozen() -> None:
    rule = load_pack(POLICIES / "valid").policies[0].rules[1]
    assert isinstance(rule.params, MappingProxyType)
    with pytest.raises(TypeError):
        rule.params["max_leverage"] = 1  # type: ignore[index]
    assert rule.params["max_leverage"]["by_tier"]["low"] == {"conservative": 5, "default": 10}


def test_a_single_file_is_a_pack(tmp_path: Path) -> None:
    src = POLICIES / "valid" / "desks" / "desks.yaml"
    pack = load_pack(src)
    assert [p.id for p in pack.policies] == ["desk-a", "desk-b"]
    assert pack.files == (str(src),)


def test_validate_paths_is_empty_for_a_valid_pack_and_lists_issues_otherwise() -> None:
    assert validate_paths(POLICIES / "valid") == []
    assert validate_paths([POLICIES / "valid", POLICIES / "valid" / "core-risk.yaml"]) == []
    assert len(validate_paths([POLICIES / "valid", POLICIES / "invalid"])) == 4


# --- content hash -------------------------------------------------------------------------------


def test_content_hash_is_stable_and_changes_when_a_file_changes(tmp_path: Path) -> None:
    pack_dir = tmp_path / "pack"
    shutil.copytree(POLICIES / "valid", pack_dir)
    first = load_pack(pack_dir).content_hash
    assert load_pack(pack_dir).content_hash == first
    assert load_pack(POLICIES / "valid").content_hash == first  # the path of the root does not count

    core = pack_dir / "core-risk.yaml"
    core.write_text(core.read_text().replace('version: "1.2.0"', 'version: "1.2.1"'))
    changed = load_pack(pack_dir).content_hash
    assert changed != first

    core.rename(pack_dir / "core.yaml")  # same bytes, another relative path
    assert load_pack(pack_dir).content_hash not in (first, changed)


# --- YAML reading -------------------------------------------------------------------------------


def test_duplicate_keys_are_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        policy_text("""\
        rules:
          - id: r
            kind: max_allocation
            severity: breach
            params: {limit: 0.05}
            severity: critical
        """),
    )
    issue = only_issue(path)
    assert (issue.source, issue.line, issue.column) == (str(path), 10, 5)
    assert "duplicate key 'severity'" in issue.message
    assert "first at line 8, again at line 10" in issue.message


def test_yaml_syntax_error_gives_file_line_column_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", ENVELOPE + "rules: [\n  {id: r, kind: max_allocation\n")
    with pytest.raises(PolicyError) as caught:
        load_pack(path)
    (issue,) = caught.value.issues
    assert (issue.source, issue.line, issue.column) == (str(path), 7, 1)
    assert issue.message.startswith("YAML syntax error: expected ',' or '}'")
    assert "Traceback" not in str(caught.value)
    assert str(caught.value).splitlines()[1].strip().startswith(f"{path}:7:1: YAML syntax error")


def test_tabs_get_a_hint(tmp_path: Path) -> None:
    issue = only_issue(write(tmp_path, "p.yaml", "id: p\nrules:\n\t- id: r\n"))
    assert (issue.line, issue.column) == (3, 1)
    assert "never tabs" in issue.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("# only a comment\n", "file is empty"),
        ("- a\n- b\n", "the policy must be a mapping, got a list"),
        ("just text\n", "the policy must be a mapping, got the text 'just text'"),
    ],
)
def test_empty_or_non_mapping_files_are_issues(tmp_path: Path, text: str, message: str) -> None:
    issue = only_issue(write(tmp_path, "p.yaml", text))
    assert message in issue.message
    assert (issue.line, issue.column) == (1, 1)


def test_python_tags_are_not_constructed(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", ENVELOPE + "rules: !!python/object/apply:os.system ['true']\n")
    issue = only_issue(path)
    assert (issue.line, issue.column) == (5, 8)
    assert issue.message == (
        "cannot read value: the tag 'tag:yaml.org,2002:python/object/apply:os.system' "
        "is not allowed in a policy"
    )
    issue = only_issue(write(tmp_path, "q.yaml", ENVELOPE + "rules: [!!python/name:os.system x]\n"))
    assert (issue.line, issue.column) == (5, 9)
    assert issue.message.startswith("cannot read value: could not determine a constructor")


def test_recursive_alias_and_alias_bombs_are_issues() -> None:
    _, (issue,) = read_documents("r.yaml", "a: &a [*a]\n")
    assert (issue.line, issue.column, issue.message) == (
        1,
        4,
        "recursive alias: a value may not contain itself",
    )
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
    )  # 10**7 values once expanded
    _, (issue,) = read_documents("bomb.yaml", bomb)
    assert "expands to more than 100,000 values" in issue.message


def test_a_missing_path_and_an_empty_directory_are_issues(tmp_path: Path) -> None:
    (issue,) = validate_paths(tmp_path / "nope")
    assert issue.message.startswith("no such file or directory")
    (issue,) = validate_paths(tmp_path)
    assert issue.message == "no policy files (*.yaml, *.yml) in this directory"


def test_non_utf8_file_is_an_issue(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"id: caf\xe9\n")
    assert "not UTF-8 text" in only_issue(path).message


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_like)
def test_values_are_read_exactly_as_safe_load_reads_them(value: object) -> None:
    text = yaml.safe_dump({"v": value}, allow_unicode=True)
    docs, issues = read_documents("x.yaml", text)
    assert issues == []
    assert docs[0].value == yaml.safe_load(text)


def test_scalars_follow_yaml_1_1_like_safe_load() -> None:
    text = "a: 1.0\nb: yes\nc: 0x10\nd: '1.0'\ne: ~\nf: 2024-01-02\n"
    (doc,), _ = read_documents("x.yaml", text)
    assert doc.value == yaml.safe_load(text)
    assert isinstance(doc.value["a"], float) and doc.value["b"] is True and doc.value["c"] == 16


def test_anchors_and_merge_keys_resolve_like_safe_load() -> None:
    text = textwrap.dedent("""\
        base: &b {x: 1, y: 1}
        mid: &m
          <<: *b
          y: 2
        top:
          <<: [*m, {z: 3, x: 9}]
          z: 4
        copy: *m
        """)
    (doc,), issues = read_documents("x.yaml", text)
    assert issues == []
    assert doc.value == yaml.safe_load(text)
    assert doc.value["top"] == {"x": 1, "y": 2, "z": 4}
    assert doc.position(("top", "y")) == (4, 6)  # where the merged value was written
    # an alias is a fresh copy: no shared mutable value between two places of a policy
    assert doc.value["copy"] == doc.value["mid"] and doc.value["copy"] is not doc.value["mid"]


def test_positions_are_recorded_for_values_and_keys() -> None:
    (doc,), _ = read_documents("x.yaml", "a:\n  - {b: 1,  c: [x, y]}\n")
    assert doc.position(("a", 0, "c", 1)) == (2, 20)
    assert doc.position(("a", 0, "c"), key=True) == (2, 13)
    assert doc.position(("a", 0, "zzz")) == (2, 5)  # nearest existing ancestor


def test_multiple_documents_with_empty_ones_between(tmp_path: Path) -> None:
    rule = "rules: [{id: r, kind: max_allocation, severity: info, params: {limit: 0.1}}]\n"
    text = "---\n" + ENVELOPE + rule + "---\n---\n" + ENVELOPE.replace("id: p", "id: q") + rule + "---\n"
    pack = load_pack(write(tmp_path, "p.yaml", text))
    assert [(p.id, p.source.line if p.source else 0) for p in pack.policies] == [("p", 2), ("q", 9)]


def test_impossible_date_stays_text_for_the_schema_to_judge(tmp_path) -> None:
    from policy_engine.errors import PolicyError
    from policy_engine.policy import load_pack

    # 2026-13-01 looks like a YAML timestamp but is no date: PyYAML raises a bare ValueError
    path = tmp_path / "p.yaml"
    rule = "  - {id: r, kind: max_allocation, severity: breach, warn_at: 2026-13-01, params: {limit: 0.1}}\n"
    path.write_text("id: p\nversion: 2026-13-01\ndescription: d\nowner: o\nrules:\n" + rule, encoding="utf-8")
    try:
        load_pack(path)
    except PolicyError as exc:
        assert [i.line for i in exc.issues] == [6], exc.render()  # the version is text and fine; warn_at is not
        assert "2026-13-01" in exc.issues[0].message
    else:
        raise AssertionError("warn_at: 2026-13-01 must be rejected")
