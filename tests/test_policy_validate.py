"""Validating policies: every problem reported, each with file:line:column, scope and the fix.

The YAML of each case is written to a real file; the envelope takes lines 1-4, so a case's
first line is line 5. Columns are 1-based, as an editor shows them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Mapping

import pytest

from policy_engine.errors import Issue, PolicyError
from policy_engine.expr import ExprError, parse
from policy_engine.model import Policy
from policy_engine.policy import load_pack, validate_paths
from policy_engine.policy.pack import load
from policy_engine.rules import RULE_KINDS, RuleKind
from policy_engine.rules.limits import limit_schema

POLICIES = Path(__file__).parent / "policies"
ENVELOPE = 'id: p\nversion: "1"\ndescription: test policy\nowner: tests\n'
RULE_KEYS = "id, kind, severity, description, where, warn_at, params"


def check(tmp_path: Path, body: str, envelope: str = ENVELOPE, name: str = "p.yaml") -> list[Issue]:
    path = tmp_path / name
    path.write_text(envelope + textwrap.dedent(body), encoding="utf-8")
    return validate_paths(path)


def located(issues: list[Issue]) -> list[tuple[int | None, int | None, str]]:
    return [(i.line, i.column, i.message) for i in issues]


def one(issues: list[Issue], fragment: str) -> Issue:
    found = [i for i in issues if fragment in i.message]
    assert len(found) == 1, [i.render() for i in issues]
    return found[0]


def parse_offset(text: str) -> int:
    with pytest.raises(ExprError) as caught:
        parse(text)
    return caught.value.offset


# --- pass 1: the envelope -----------------------------------------------------------------------


def test_unknown_rule_key_did_you_mean_replaces_the_missing_key_message(tmp_path: Path) -> None:
    issues = check(
        tmp_path,
        """\
        rules:
          - id: r
            kind: max_allocation
            sevrity: breach
            params: {limit: 0.05}
        """,
    )
    assert located(issues) == [
        (8, 5, f"unknown key 'sevrity'; did you mean 'severity'? allowed: {RULE_KEYS}"),
    ]
    assert issues[0].where == "policy p / rule r"
    assert issues[0].render().startswith(f"{tmp_path / 'p.yaml'}:8:5: [policy p / rule r] unknown key")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    envelope = ENVELOPE.replace("owner:", "onwer:")
    issues = check(
        tmp_path, "rules: [{id: r, kind: max_allocation, severity: info, params: {limit: 1}}]\n", envelope
    )
    assert located(issues) == [
        (
            4,
            1,
            "unknown key 'onwer'; did you mean 'owner'? allowed: id, version, description, "
            "owner, profiles, volatility_tiers, unknown_volatility_tier, columns, defaults, "
            "rules",
        )
    ]
    assert issues[0].where == "policy p"


def test_missing_keys_are_each_named(tmp_path: Path) -> None:
    issues = check(tmp_path, "rules:\n  - id: r\n    kind: max_allocation\n", envelope="id: p\n")
    required = "required: id, version, description, owner, rules"
    assert located(issues) == [
        (1, 1, f"missing required key 'description' in the policy; {required}"),
        (1, 1, f"missing required key 'owner' in the policy; {required}"),
        (1, 1, f"missing required key 'version' in the policy; {required}"),
        (3, 5, "missing required key 'params' in the rule; required: id, kind, severity, params"),
        (3, 5, "missing required key 'severity' in the rule; required: id, kind, severity, params"),
    ]


def test_wrong_types_each_at_their_value(tmp_path: Path) -> None:
    envelope = ENVELOPE.replace('version: "1"', "version: 1.2")
    issues = check(
        tmp_path,
        """\
        profiles: conservative
        rules:
          - id: r
            kind: max_allocation
            severity: breach
            warn_at: "80%"
            params: 0.05
        """,
        envelope,
    )
    assert located(issues) == [
        (2, 10, "version must be text, got the number 1.2; put it in quotes to make it text"),
        (5, 11, "profiles must be a list, got the text 'conservative'"),
        (10, 14, "warn_at must be a number, got the text '80%'"),
        (11, 13, "params must be a mapping, got the number 0.05"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("severity: fatal", "severity 'fatal' is not allowed; allowed: info, warning, breach, critical"),
        (
            "severity: critcal",
            "severity 'critcal' is not allowed; did you mean 'critical'? "
            "allowed: info, warning, breach, critical",
        ),
        ("severity: breach\n    warn_at: 1", "warn_at must be < 1, got 1"),
        ("severity: breach\n    where: ''", "where must not be empty"),
    ],
)
def test_rule_values(tmp_path: Path, line: str, message: str) -> None:
    issues = check(
        tmp_path, f"rules:\n  - id: r\n    kind: max_allocation\n    {line}\n    params: {{limit: 1}}\n"
    )
    assert [i.message for i in issues] == [message]


ID_HINT = "use letters a-z or A-Z, digits, '.', '_' and '-', starting with a letter or digit"


def test_id_patterns_and_an_empty_rule_list(tmp_path: Path) -> None:
    issues = check(tmp_path, "rules: []\n", envelope=ENVELOPE.replace("id: p", "id: Core Risk"))
    hint = ID_HINT
    assert located(issues) == [
        (1, 5, f"id 'Core Risk' is not valid: {hint}"),
        (5, 8, "rules must have at least 1 item, got 0"),
    ]
    assert issues[0].where == "policy Core Risk"


def test_upper_case_ids_are_accepted_and_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        ENVELOPE.replace("id: p", "id: Desk-A")
        + "rules:\n  - {id: R1-max-allocation, kind: max_allocation, severity: breach, params: {limit: 1}}\n"
        + "  - {id: r2.Leverage_Cap, kind: max_allocation, severity: info, params: {limit: 2}}\n",
        encoding="utf-8",
    )
    assert validate_paths(path) == []
    (policy,) = load_pack(path).policies
    assert policy.id == "Desk-A"
    assert [r.id for r in policy.rules] == ["R1-max-allocation", "r2.Leverage_Cap"]


@pytest.mark.parametrize(
    "rule_id",
    [
        "R1 max-allocation",
        "-R1-max-allocation",
        ".r1",
        "R1/max",
        "R1-max-allocation\u00e9",
        '"R1\\t"',
        '"R1\\n"',  # Python's '$' would match before the newline: the pattern guards against it
    ],
)
def test_malformed_rule_ids_are_still_rejected(tmp_path: Path, rule_id: str) -> None:
    rule = f"  - id: {rule_id}\n    kind: max_allocation\n    severity: breach\n    params: {{limit: 1}}\n"
    issues = check(tmp_path, "rules:\n" + rule)
    (issue,) = issues
    assert (issue.line, issue.column) == (6, 9)
    assert issue.message.startswith("id ") and issue.message.endswith(f"is not valid: {ID_HINT}")


def test_rule_ids_that_differ_only_in_case_are_duplicates(tmp_path: Path) -> None:
    issues = check(
        tmp_path,
        """\
        rules:
          - {id: R1-max-allocation, kind: max_allocation, severity: info, params: {limit: 1}}
          - {id: r2, kind: max_allocation, severity: info, params: {limit: 1}}
          - {id: r1-max-allocation, kind: max_allocation, severity: breach, params: {limit: 2}}
        """,
    )
    assert located(issues) == [
        (
            8,
            10,
            (
                "duplicate rule id 'r1-max-allocation' (line 8): the rule at line 6 is 'R1-max-allocation', "
                "which differs only in case; rule ids must differ by more than case in a policy"
            ),
        )
    ]
    assert issues[0].where == "policy p / rule r1-max-allocation"


def test_the_same_rule_id_may_differ_in_case_across_policies(tmp_path: Path) -> None:
    rule = "rules: [{id: RULE, kind: max_allocation, severity: info, params: {limit: 1}}]\n"
    (tmp_path / "a.yaml").write_text(ENVELOPE.replace("id: p", "id: a") + rule.replace("RULE", "R1"))
    (tmp_path / "b.yaml").write_text(ENVELOPE.replace("id: p", "id: b") + rule.replace("RULE", "r1"))
    assert validate_paths(tmp_path) == []  # rule ids are unique within a policy, not across the pack


# --- pass 2: kinds and their params -------------------------------------------------------------


def test_unknown_kind_did_you_mean_lists_the_known_kinds(tmp_path: Path) -> None:
    issues = check(
        tmp_path, "rules:\n  - id: r\n    kind: max_alocation\n    severity: breach\n    params: {}\n"
    )
    known = ", ".join(sorted(RULE_KINDS))
    assert located(issues) == [
        (7, 11, f"unknown rule kind 'max_alocation'; did you mean 'max_allocation'? known kinds: {known}"),
    ]


def test_bad_params_are_reported_at_their_own_lines(tmp_path: Path) -> None:
    issues = check(
        tmp_path,
        """\
        rules:
          - id: r
            kind: max_allocation
            severity: breach
            params:
              basis: margn
              limit:
                conservative: 0.02
                moderate: "5%"
          - id: s
            kind: leverage_tiers
            severity: breach
            params:
              max_leverage: 0.5
          - id: t
            kind: max_allocation
            severity: breach
            params: {limt: 0.05}
          - id: u
            kind: max_allocation
            severity: breach
            params: {limit: 5%}
          - id: v
            kind: leverage_tiers
            severity: breach
            params:
              max_leverage: {by_tier: {low: 10, high: {conservative: lots}}}
        """,
    )
    forms = (
        "a number, a profile map ({conservative: 0.02, default: 0.05}) or a tier map ({by_tier: {low: ...}})"
    )
    assert located(issues) == [
        (10, 14, "params.basis 'margn' is not allowed; did you mean 'margin'? allowed: margin, notional"),
        (13, 19, "params.limit.moderate must be a number, got the text '5%'"),
        (18, 21, "params.max_leverage must be >= 1, got 0.5"),
        (22, 14, "unknown key 'limt' in params; did you mean 'limit'? allowed: basis, limit"),
        (26, 21, f"params.limit must be {forms}, got the text '5%'"),
        (31, 62, "params.max_leverage.by_tier.high.conservative must be a number, got the text 'lots'"),
    ]
    assert [i.where for i in issues] == [f"policy p / rule {r}" for r in "rrstuv"]


# --- pass 3: semantics --------------------------------------------------------------------------


def test_duplicate_rule_ids(tmp_path: Path) -> None:
    issues = check(
        tmp_path,
        """\
        rules:
          - {id: r, kind: max_allocation, severity: info, params: {limit: 1}}
          - {id: r, kind: max_allocation, severity: breach, params: {limit: 2}}
        """,
    )
    assert located(issues) == [
        (
            7,
            10,
            "duplicate rule id 'r': already used by the rule at line 6; rule ids must be unique in a policy",
        )
    ]


def test_duplicate_policy_ids_across_files(tmp_path: Path) -> None:
    rule = "rules: [{id: r, kind: max_allocation, severity: info, params: {limit: 1}}]\n"
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(ENVELOPE + rule)
    (issue,) = validate_paths(tmp_path)
    assert (issue.source, issue.line, issue.column) == (str(tmp_path / "b.yaml"), 1, 5)
    assert issue.message == (
        f"duplicate policy id 'p': already defined at {tmp_path / 'a.yaml'}:1:5; "
        "policy ids must be unique in a pack"
    )


def test_policy_ids_that_differ_only_in_case_are_duplicates(tmp_path: Path) -> None:
    rule = "rules: [{id: r, kind: max_allocation, severity: info, params: {limit: 1}}]\n"
    (tmp_path / "a.yaml").write_text(ENVELOPE.replace("id: p", "id: Desk-A") + rule)
    (tmp_path / "b.yaml").write_text(ENVELOPE.replace("id: p", "id: desk-a") + rule)
    (issue,) = validate_paths(tmp_path)
    assert (issue.source, issue.line, issue.column) == (str(tmp_path / "b.yaml"), 1, 5)
    assert issue.message == (
        f"duplicate policy id 'desk-a' ({tmp_path / 'b.yaml'}:1:5): the policy at {tmp_path / 'a.yaml'}:1:5 "
        "is 'Desk-A', which differs only in case; policy ids must differ by more than case in a pack"
    )


def where_rule(where_line: str) -> str:
    rule = "  - id: r\n    kind: max_allocation\n    severity: breach\n"
    return f"rules:\n{rule}    {where_line}\n    params: {{limit: 1}}\n"


def test_sql_payload_in_where_is_an_invalid_policy(tmp_path: Path) -> None:
    payload = "x IN (SELECT a FROM read_csv('/etc/hostname'))"
    (tmp_path / "p.yaml").write_text(ENVELOPE + where_rule(f'where: "{payload}"'))
    with pytest.raises(PolicyError) as caught:
        load_pack(tmp_path / "p.yaml")
    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (9, 13 + parse_offset(payload))  # the opening quote is column 12
    assert issue.message.startswith("invalid expression in where: ")
    assert "SELECT" in issue.message


@pytest.mark.parametrize(
    ("yaml_value", "first_column"),
    [("leverage >> 3", 12), ("'leverage >> 3'", 13), ('"leverage >> 3"', 13)],
)
def test_expression_errors_point_at_the_offending_character(
    tmp_path: Path, yaml_value: str, first_column: int
) -> None:
    (issue,) = check(tmp_path, where_rule(f"where: {yaml_value}"))
    assert (issue.line, issue.column) == (9, first_column + parse_offset("leverage >> 3"))
    assert "(at character" not in issue.message


def test_expression_errors_in_multi_line_values_give_the_offset(tmp_path: Path) -> None:
    text = "leverage > 3 and\nnotional >"
    (issue,) = check(tmp_path, where_rule("where: |-\n      leverage > 3 and\n      notional >"))
    assert (issue.line, issue.column) == (9, 12)
    assert issue.message.endswith(f"(at character {parse_offset(text) + 1} of the expression)")


def test_unknown_columns_with_did_you_mean_and_custom_columns(tmp_path: Path) -> None:
    levrage, sector = check(tmp_path, where_rule("where: \"levrage > 3 and sector = 'l1'\""))
    assert (levrage.line, levrage.column, sector.line, sector.column) == (9, 12, 9, 12)
    assert levrage.message.startswith("where: unknown column 'levrage'; did you mean 'leverage'?")
    assert sector.message.startswith("where: unknown column 'sector'")
    assert sector.message.endswith("(custom columns are declared in the policy's 'columns')")
    issues = check(tmp_path, "columns: [sector]\n" + where_rule("where: \"leverage > 3 and sector = 'l1'\""))
    assert issues == []


def test_expression_params_of_kinds_are_checked(tmp_path: Path) -> None:
    issues = check(
        tmp_path,
        """\
        columns: [sector]
        rules:
          - id: e
            kind: expression
            severity: info
            params: {require: "leverage <"}
          - id: s
            kind: stop_loss
            severity: breach
            params: {required_when: "sectr = 'defi'"}
        """,
    )
    assert located(issues) == [
        (
            10,
            24 + parse_offset("leverage <"),
            "invalid expression in params.require: " + "unexpected end of expression: expected a value: "
            "a column, a number, 'text', true/false/null, a function call or '('",
        ),
        (
            14,
            29,
            "params.required_when: unknown column 'sectr'; did you mean 'sector'? "
            "(custom columns are declared in the policy's 'columns')",
        ),
    ]


def test_did_you_mean_prefers_a_name_that_differs_only_in_case(tmp_path: Path) -> None:
    issues = check(
        tmp_path,
        """\
        volatility_tiers: [{name: low, below: 0.5}, {name: slow, below: 0.8}, {name: ALL}]
        unknown_volatility_tier: LOW
        rules: [{id: r, kind: max_allocation, severity: info, params: {limit: 1}}]
        """,
    )
    # difflib alone finds nothing close to 'LOW' (it compares case-sensitively)
    assert [i.message for i in issues] == [
        "unknown_volatility_tier 'LOW' is not a volatility tier; did you mean 'low'? tiers: low, slow, ALL"
    ]


def test_tiers_profiles_and_unknown_volatility_tier(tmp_path: Path) -> None:
    issues = check(
        tmp_path,
        """\
        profiles: [conservative, moderate]
        volatility_tiers:
          - {name: calm, below: 0.6}
          - {name: wild}
        unknown_volatility_tier: wld
        rules:
          - id: lev
            kind: leverage_tiers
            severity: breach
            params:
              max_leverage:
                by_tier:
                  calm: {conservative: 3, agressive: 10}
                  wilde: 2
        """,
    )
    assert located(issues) == [
        (
            9,
            26,
            "unknown_volatility_tier 'wld' is not a volatility tier; did you mean 'wild'? tiers: calm, wild",
        ),
        (
            17,
            35,
            "profile 'agressive' is not declared in the policy's profiles; "
            "profiles: conservative, moderate (or 'default')",
        ),
        (
            18,
            11,
            "unknown volatility tier 'wilde' in params.max_leverage; did you mean 'wild'? tiers: calm, wild",
        ),
    ]


def test_volatility_bands_must_be_ordered_with_only_the_last_open(tmp_path: Path) -> None:
    issues = check(
        tmp_path,
        """\
        volatility_tiers:
          - {name: low, below: 0.5}
          - {name: mid}
          - {name: low, below: 0.4}
          - {name: top, below: 2}
        rules: [{id: r, kind: max_allocation, severity: info, params: {limit: 1}}]
        """,
    )
    assert located(issues) == [
        (7, 5, "volatility tier 'mid' needs 'below': only the last tier is open-ended"),
        (8, 12, "volatility tier 'low' is declared twice; tier names must be unique"),
        (
            8,
            24,
            "volatility tier 'low' has below 0.4, which is not above the previous tier's 0.5; "
            "'below' must strictly increase",
        ),
        (
            9,
            17,
            "the last volatility tier 'top' must not have 'below': "
            "it takes every volatility above the previous band",
        ),
    ]


def test_a_kinds_own_semantic_check_is_located(tmp_path: Path) -> None:
    issues = check(
        tmp_path,
        """\
        rules:
          - id: lev
            kind: leverage_tiers
            severity: breach
            params:
              max_leverage: 3
              unknown_volatility_tier: nope
        """,
    )
    (issue,) = issues
    assert (issue.line, issue.column, issue.where) == (11, 32, "policy p / rule lev")
    assert issue.message.startswith("params.unknown_volatility_tier: ") and "'nope'" in issue.message


def test_pack_settings_must_agree(tmp_path: Path) -> None:
    rule = "rules: [{id: r, kind: max_allocation, severity: info, params: {limit: 1}}]\n"
    (tmp_path / "a.yaml").write_text(ENVELOPE + "defaults: {liquidation_model: bybit}\n" + rule)
    (tmp_path / "b.yaml").write_text(
        ENVELOPE.replace("id: p", "id: q") + "defaults: {liquidation_model: binance}\n" + rule
    )
    (issue,) = validate_paths(tmp_path)
    assert (issue.source, issue.line, issue.column) == (str(tmp_path / "b.yaml"), 5, 31)
    assert issue.message == (
        f"defaults.liquidation_model is 'binance' here but 'bybit' in policy p "
        f"({tmp_path / 'a.yaml'}:1:5); pack-wide settings must agree"
    )


# --- all problems, one error ----------------------------------------------------------------------


def test_problems_across_two_files_are_all_in_one_policy_error() -> None:
    with pytest.raises(PolicyError) as caught:
        load_pack(POLICIES / "invalid")
    one_file, two_file = str(POLICIES / "invalid" / "one.yaml"), str(POLICIES / "invalid" / "two.yaml")
    assert [(i.source, i.line, i.column) for i in caught.value.issues] == [
        (one_file, 8, 5),
        (two_file, 7, 11),
        (two_file, 13, 12),
        (two_file, 14, 21),
    ]
    issues = caught.value.issues
    assert "unknown key 'sevrity'" in issues[0].message
    assert "unknown rule kind 'leverage_tier'; did you mean 'leverage_tiers'?" in issues[1].message
    assert "unknown column 'levrage'" in issues[2].message
    assert "params.limit must be a number" in issues[3].message
    assert [i.where for i in issues] == [
        "policy desk-one / rule max-allocation",
        "policy desk-two / rule leverage",
        "policy desk-two / rule big",
        "policy desk-two / rule big",
    ]
    assert str(caught.value).startswith("invalid policy: 4 problems found\n")


# --- the kind contract, with a kind made here ---------------------------------------------------


def _toy_check(params: Mapping[str, Any], policy: Policy) -> list[tuple[tuple[str | int, ...], str]]:
    steps = params["steps"]
    return [
        (("steps", i), f"step {i} must be above step {i - 1}")
        for i in range(1, len(steps))
        if steps[i] <= steps[i - 1]
    ]


TOY = RuleKind(
    name="toy",
    summary="a kind for tests",
    params_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "steps": {"type": "array", "items": {"type": "number"}},
            "brackets": {"type": "array", "items": {"type": "object", "properties": {"cap": limit_schema()}}},
            "when": {"type": "string"},
        },
    },
    build=lambda rule, ctx: (),
    expression_params=("when",),
    semantic_check=_toy_check,
)


def test_any_kind_gets_expression_limit_and_semantic_checks(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        ENVELOPE
        + textwrap.dedent("""\
        profiles: [calm]
        rules:
          - id: t
            kind: toy
            severity: info
            params:
              when: "leverage >"
              steps: [1, 3, 2]
              brackets:
                - {cap: 1}
                - {cap: {by_tier: {low: 1, lowe: 2}}}
                - {cap: {calm: 1, wild: 2}}
        """)
    )
    pack, issues = load(tmp_path / "p.yaml", {"toy": TOY})
    assert pack is None
    assert [(i.line, i.column) for i in issues] == [
        (11, 14 + parse_offset("leverage >")),
        (12, 21),
        (15, 36),
        (16, 27),
    ]
    assert issues[1].message == "params.steps[2]: step 2 must be above step 1"
    assert issues[2].message.startswith(
        "unknown volatility tier 'lowe' in params.brackets[1].cap; did you mean 'low'?"
    )
    assert issues[3].message.startswith("profile 'wild' is not declared")


def test_nan_and_infinite_numbers_are_rejected_where_they_are(tmp_path: Path) -> None:
    # YAML's .nan passes JSON Schema's `minimum` (NaN compares false), and a NaN limit would let
    # every position pass: it must be an error, with its line, like any other bad value.
    issues = check(
        tmp_path,
        """\
        rules:
          - id: lev
            kind: leverage_tiers
            severity: breach
            params:
              max_leverage: {by_tier: {low: .nan, medium: 5, high: 3, extreme: 2}}
          - id: alloc
            kind: max_allocation
            severity: breach
            warn_at: .inf
            params: {limit: 0.05}
        """,
    )
    assert [(i.line, i.message) for i in issues if i.line == 10] == [
        (10, "params.max_leverage.by_tier.low: nan is not a usable number; limits and parameters must be finite numbers")
    ]
    # warn_at's schema ('< 1') already reports the infinity: one message per mistake
    assert [i.message for i in issues if i.line == 14] == ["warn_at must be < 1, got inf"]
