"""Policy documents: YAML and JSON in, a normalised document or an error naming the field out.

Pure: no database. The shipped packs are read from governance/policies/packs/.
"""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.assessments import results_json
from governance.policies import clauses, document
from governance.policies.checks import REGISTRY
from governance.policies.checks.records import SAFE_FORMATS
from governance.policies.errors import PolicyDocumentError
from governance.services import policies as policy_service

PACKS = sorted(policy_service.PACK_DIR.glob("*.yaml"))


def minimal(**top: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "p",
        "scope": {"risk_tiers": ["high"], "target_stages": ["production"]},
        "checks": [{"id": "safe", "type": "artifact_safety"}],
    }
    data.update(top)
    return data


def with_check(**check: Any) -> dict[str, Any]:
    return minimal(checks=[{"id": "c", **check}])


def refusal(data: Any) -> PolicyDocumentError:
    with pytest.raises(PolicyDocumentError) as caught:
        document.parse(data)
    error = caught.value
    assert error.code == "invalid_policy"
    assert str(error).startswith(f"{error.field}: ")
    assert error.extra == {"field": error.field}
    return error


# --- formats ---------------------------------------------------------------------------------

YAML_SOURCE = """\
name: credit-high
title: "  High-risk credit models  "
scope:
  risk_tiers: [high]
  target_stages: [production, staging]
checks:
  - id: auc
    type: metric_threshold
    metric: roc_auc
    min: 1
    clauses: [eu-ai-act:art-15, eu-ai-act:art-15, sr-26-2:validation]
"""


def test_yaml_and_json_sources_give_the_same_normalised_document() -> None:
    from_yaml = document.parse(document.load_source(YAML_SOURCE, "yaml"))
    as_json = json.dumps(yaml.safe_load(YAML_SOURCE))
    from_json = document.parse(document.load_source(as_json, "json"))

    assert from_yaml == from_json
    assert from_yaml["name"] == "credit-high"
    assert from_yaml["title"] == "High-risk credit models"


def test_normalisation_fills_defaults_orders_scope_and_deduplicates_clauses() -> None:
    parsed = document.parse(document.load_source(YAML_SOURCE, "yaml"))

    assert parsed["description"] == ""
    assert parsed["enabled"] is True
    assert parsed["scope"] == {"risk_tiers": ["high"], "target_stages": ["staging", "production"]}
    (auc,) = parsed["checks"]
    assert auc == {
        "id": "auc",
        "type": "metric_threshold",
        "title": "roc_auc >= 1",
        "description": "",
        "clauses": ["eu-ai-act:art-15", "sr-26-2:validation"],
        "params": {"metric": "roc_auc", "min": 1.0},
    }
    assert isinstance(auc["params"]["min"], float)


@pytest.mark.parametrize(
    ("check", "defaults"),
    [
        ({"type": "artifact_safety"}, {"allowed_formats": list(SAFE_FORMATS)}),
        ({"type": "lineage_complete"}, {"require": ["training_dataset", "code_reference"]}),
        (
            {"type": "evidence_freshness", "max_age_days": 90},
            {"max_age_days": 90, "kinds": ["performance", "fairness", "explainability"]},
        ),
        ({"type": "explainability"}, {"require_additivity": True}),
        (
            {"type": "fairness_threshold", "metric": "equalized_odds_difference", "max": 0.1},
            {"metric": "equalized_odds_difference", "max": 0.1, "use_confidence_bound": False},
        ),
        ({"type": "approvals", "roles": {"validator": 2}}, {"roles": {"validator": 2}}),
        ({"type": "approval_validity", "days": 30}, {"days": 30}),
        (
            {"type": "documentation_complete", "fields": [" title ", "limitations"]},
            {"fields": ["title", "limitations"]},
        ),
    ],
)
def test_each_check_type_gets_its_defaults_filled_in(
    check: dict[str, Any], defaults: dict[str, Any]
) -> None:
    (parsed,) = document.parse(with_check(**check))["checks"]

    assert parsed["params"] == defaults
    assert parsed["title"]  # a default title is derived
    assert parsed["clauses"] == []


def test_a_default_list_is_not_shared_between_documents() -> None:
    first = document.parse(with_check(type="lineage_complete"))
    first["checks"][0]["params"]["require"].append("parent_version")

    second = document.parse(with_check(type="lineage_complete"))

    assert second["checks"][0]["params"]["require"] == ["training_dataset", "code_reference"]


def test_a_given_title_and_description_are_kept_stripped() -> None:
    (parsed,) = document.parse(
        with_check(type="artifact_safety", title="Safe artifact", description="  why  ")
    )["checks"]

    assert (parsed["title"], parsed["description"]) == ("Safe artifact", "why")


def test_enabled_false_is_kept() -> None:
    assert document.parse(minimal(enabled=False))["enabled"] is False


def test_parsing_does_not_modify_its_input() -> None:
    data = yaml.safe_load(YAML_SOURCE)
    before = copy.deepcopy(data)

    document.parse(data)

    assert data == before


def test_the_normalised_document_is_canonical_json() -> None:
    parsed = document.parse(document.load_source(YAML_SOURCE, "yaml"))

    assert json.loads(results_json.dumps(parsed)) == parsed


# --- errors that name the field --------------------------------------------------------------

CASES: list[tuple[str, Any, str, str]] = [
    # (case, document, field, fragment of the message)
    ("not a mapping", ["name", "p"], "document", "must be a mapping"),
    ("unknown top-level key", minimal(owner="x"), "owner", "is not a policy field"),
    ("missing name", {k: v for k, v in minimal().items() if k != "name"}, "name", "slug"),
    ("name not a string", minimal(name=7), "name", "slug"),
    ("name with capitals", minimal(name="High-Risk"), "name", "slug"),
    ("name with a space", minimal(name="high risk"), "name", "slug"),
    ("name with a trailing newline", minimal(name="high\n"), "name", "slug"),
    ("name too long", minimal(name="a" * 101), "name", "at most 100"),
    ("title not a string", minimal(title=["x"]), "title", "must be a string"),
    ("enabled as a string", minimal(enabled="yes"), "enabled", "true or false"),
    ("scope missing", {k: v for k, v in minimal().items() if k != "scope"}, "scope", "required"),
    ("scope a list", minimal(scope=["high"]), "scope", "required"),
    (
        "scope unknown key",
        minimal(scope={"risk_tiers": ["high"], "target_stages": ["production"], "teams": []}),
        "scope.teams",
        "not a scope field",
    ),
    (
        "risk tiers missing",
        minimal(scope={"target_stages": ["production"]}),
        "scope.risk_tiers",
        "non-empty list",
    ),
    (
        "risk tiers empty",
        minimal(scope={"risk_tiers": [], "target_stages": ["production"]}),
        "scope.risk_tiers",
        "non-empty list",
    ),
    (
        "risk tiers a string",
        minimal(scope={"risk_tiers": "high", "target_stages": ["production"]}),
        "scope.risk_tiers",
        "non-empty list",
    ),
    (
        "unknown risk tier",
        minimal(scope={"risk_tiers": ["high", "extreme"], "target_stages": ["production"]}),
        "scope.risk_tiers[1]",
        "'extreme' is not one of minimal, limited, high",
    ),
    (
        "duplicate risk tier",
        minimal(scope={"risk_tiers": ["high", "high"], "target_stages": ["production"]}),
        "scope.risk_tiers",
        "more than once",
    ),
    (
        "target stages empty",
        minimal(scope={"risk_tiers": ["high"], "target_stages": []}),
        "scope.target_stages",
        "non-empty list",
    ),
    (
        "unknown target stage",
        minimal(scope={"risk_tiers": ["high"], "target_stages": ["archived"]}),
        "scope.target_stages[0]",
        "'archived' is not one of staging, production",
    ),
    (
        "duplicate target stage",
        minimal(scope={"risk_tiers": ["high"], "target_stages": ["staging", "staging"]}),
        "scope.target_stages",
        "more than once",
    ),
    (
        "checks missing",
        {k: v for k, v in minimal().items() if k != "checks"},
        "checks",
        "non-empty",
    ),
    ("checks empty", minimal(checks=[]), "checks", "non-empty list"),
    ("checks a mapping", minimal(checks={"id": "a"}), "checks", "non-empty list"),
    (
        "too many checks",
        minimal(checks=[{"id": f"c{i}", "type": "artifact_safety"} for i in range(201)]),
        "checks",
        "more than 200",
    ),
    ("check not a mapping", minimal(checks=["artifact_safety"]), "checks[0]", "mapping"),
    ("check without id", minimal(checks=[{"type": "artifact_safety"}]), "checks[0].id", "slug"),
    (
        "check id not a slug",
        minimal(checks=[{"id": "Bad Id", "type": "artifact_safety"}]),
        "checks[0].id",
        "slug",
    ),
    (
        "duplicate check id",
        minimal(
            checks=[{"id": "a", "type": "artifact_safety"}, {"id": "a", "type": "artifact_safety"}]
        ),
        "checks[1].id",
        "'a' is used by another check",
    ),
    ("check without type", with_check(), "checks[0] (c).type", "None is not a check type"),
    ("unknown check type", with_check(type="vibes"), "checks[0] (c).type", "'vibes' is not"),
    ("check type a list", with_check(type=["approvals"]), "checks[0] (c).type", "not a check type"),
    (
        "unknown parameter",
        with_check(type="artifact_safety", max=1),
        "checks[0] (c).max",
        "is not a parameter of this check type (known: allowed_formats)",
    ),
    (
        "missing required parameter",
        with_check(type="metric_threshold", min=0.8),
        "checks[0] (c).metric",
        "is required",
    ),
    (
        "required parameter null",
        with_check(type="approval_validity", days=None),
        "checks[0] (c).days",
        "is required",
    ),
    (
        "number given as a string",
        with_check(type="metric_threshold", metric="roc_auc", min="0.8"),
        "checks[0] (c).min",
        "must be a number, not str",
    ),
    (
        "bool given as a number",
        with_check(type="metric_threshold", metric="roc_auc", min=True),
        "checks[0] (c).min",
        "must be a number, not bool",
    ),
    (
        "bool given as an integer",
        with_check(type="approval_validity", days=True),
        "checks[0] (c).days",
        "must be an integer, not bool",
    ),
    (
        "float given as an integer",
        with_check(type="approval_validity", days=1.5),
        "checks[0] (c).days",
        "must be an integer, not float",
    ),
    (
        "non-finite number",
        with_check(type="metric_threshold", metric="roc_auc", min=float("nan")),
        "checks[0] (c).min",
        "finite",
    ),
    (
        "integer beyond any float",
        with_check(type="metric_threshold", metric="roc_auc", min=10**400),
        "checks[0] (c).min",
        "finite",
    ),
    (
        "list given as a string",
        with_check(type="metric_threshold", metric=["roc_auc"], min=0.8),
        "checks[0] (c).metric",
        "must be a non-empty string",
    ),
    (
        "string given as a list",
        with_check(type="documentation_complete", fields="title"),
        "checks[0] (c).fields",
        "must be a non-empty list of strings",
    ),
    (
        "list item not a string",
        with_check(type="documentation_complete", fields=["title", 3]),
        "checks[0] (c).fields[1]",
        "non-empty string",
    ),
    (
        "list item repeated",
        with_check(type="documentation_complete", fields=["title", "title"]),
        "checks[0] (c).fields",
        "more than once",
    ),
    (
        "choice not allowed",
        with_check(type="metric_threshold", metric="vibes", min=0.8),
        "checks[0] (c).metric",
        "'vibes' is not one of",
    ),
    (
        "list choice not allowed",
        with_check(type="evidence_freshness", max_age_days=9, kinds=["performance", "gossip"]),
        "checks[0] (c).kinds",
        "'gossip' is not one of",
    ),
    (
        "negative regression",
        with_check(type="metric_threshold", metric="roc_auc", max_regression=-0.01),
        "checks[0] (c).max_regression",
        "must be at least 0",
    ),
    (
        "ratio minimum above 1",
        with_check(type="fairness_threshold", metric="demographic_parity_ratio", min=1.5),
        "checks[0] (c).min",
        "must be at most 1",
    ),
    (
        "share above 1",
        with_check(type="explainability", max_sensitive_share=2),
        "checks[0] (c).max_sensitive_share",
        "must be at most 1",
    ),
    (
        "zero days",
        with_check(type="approval_validity", days=0),
        "checks[0] (c).days",
        "must be at least 1",
    ),
    (
        "zero freshness days",
        with_check(type="evidence_freshness", max_age_days=0),
        "checks[0] (c).max_age_days",
        "must be at least 1",
    ),
    (
        "zero group size",
        with_check(
            type="fairness_threshold",
            metric="demographic_parity_difference",
            max=0.1,
            min_group_size=0,
        ),
        "checks[0] (c).min_group_size",
        "must be at least 1",
    ),
    (
        "roles not a mapping",
        with_check(type="approvals", roles=["validator"]),
        "checks[0] (c).roles",
        "must map roles to counts",
    ),
    (
        "unknown role",
        with_check(type="approvals", roles={"auditor": 1}),
        "checks[0] (c).roles.auditor",
        "not a reviewing role",
    ),
    (
        "zero approvals",
        with_check(type="approvals", roles={"validator": 0}),
        "checks[0] (c).roles.validator",
        "must be at least 1",
    ),
    (
        "role count a string",
        with_check(type="approvals", roles={"validator": "1"}),
        "checks[0] (c).roles.validator",
        "must be an integer, not str",
    ),
    (
        "metric threshold without a bound",
        with_check(type="metric_threshold", metric="roc_auc"),
        "checks[0] (c)",
        "give min, max or max_regression",
    ),
    (
        "metric threshold with min above max",
        with_check(type="metric_threshold", metric="log_loss", min=0.5, max=0.4),
        "checks[0] (c).max",
        "is below min",
    ),
    (
        "fairness difference without max",
        with_check(type="fairness_threshold", metric="equalized_odds_difference"),
        "checks[0] (c).max",
        "is required for equalized_odds_difference",
    ),
    (
        "fairness difference with min",
        with_check(type="fairness_threshold", metric="equalized_odds_difference", max=0.1, min=0.0),
        "checks[0] (c).min",
        "does not apply",
    ),
    (
        "fairness ratio without min",
        with_check(type="fairness_threshold", metric="demographic_parity_ratio"),
        "checks[0] (c).min",
        "is required for demographic_parity_ratio",
    ),
    (
        "fairness ratio with max",
        with_check(type="fairness_threshold", metric="demographic_parity_ratio", min=0.8, max=1),
        "checks[0] (c).max",
        "does not apply",
    ),
    (
        "unknown clause tag",
        with_check(type="artifact_safety", clauses=["eu-ai-act:art-15", "eu-ai-act:art-99"]),
        "checks[0] (c).clauses[1]",
        "'eu-ai-act:art-99' is not a known clause",
    ),
    (
        "unknown framework",
        with_check(type="artifact_safety", clauses=["gdpr:art-22"]),
        "checks[0] (c).clauses[0]",
        "not a known clause",
    ),
    (
        "clauses a string",
        with_check(type="artifact_safety", clauses="eu-ai-act:art-15"),
        "checks[0] (c).clauses",
        "must be a list of clause tags",
    ),
    (
        "check title not a string",
        with_check(type="artifact_safety", title=["x"]),
        "checks[0] (c).title",
        "must be a string",
    ),
    (
        "check description not a string",
        with_check(type="artifact_safety", description=3),
        "checks[0] (c).description",
        "must be a string",
    ),
]


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_bad_document_is_refused_with_the_field_named(
    data: Any, field: str, fragment: str
) -> None:
    error = refusal(data)

    assert error.field == field
    assert fragment in str(error)


def test_the_second_check_is_named_with_its_position_and_id() -> None:
    data = minimal(
        checks=[
            {"id": "safe", "type": "artifact_safety"},
            {"id": "auc", "type": "metric_threshold", "metric": "roc_auc", "min": "high"},
        ]
    )

    error = refusal(data)

    assert str(error) == "checks[1] (auc).min: must be a number, not str"


def test_non_string_yaml_keys_in_a_check_are_refused_cleanly() -> None:
    data = document.load_source(
        "name: p\nscope: {risk_tiers: [high], target_stages: [staging]}\n"
        "checks:\n  - {id: c, type: artifact_safety, 1: x, zz: y, 2024-01-01: z}\n",
        "yaml",
    )

    error = refusal(data)

    assert error.field == "checks[0] (c).1"


def test_an_error_quotes_an_aliased_yaml_bomb_in_bounded_space() -> None:
    # 10^8 leaves from a few hundred bytes: a full repr would need gigabytes.
    anchors = ["&l0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 8)
    ]
    source = (
        "name: p\nscope: {target_stages: [" + ", ".join(anchors) + "], risk_tiers: [*l7]}\n"
        "checks: [{id: c, type: *l7}]\n"
    )

    error = refusal(document.load_source(source, "yaml"))

    assert error.field == "scope.risk_tiers[0]"
    assert len(str(error)) < 1000


# --- sources ---------------------------------------------------------------------------------


def test_a_yaml_syntax_error_gives_line_and_column() -> None:
    source = "name: p\nscope:\n  risk_tiers: [high\n  target_stages: [staging]\n"

    with pytest.raises(PolicyDocumentError) as caught:
        document.load_source(source, "yaml")

    assert caught.value.field == "source"
    assert str(caught.value).startswith("source: is not valid YAML: ")
    assert "at line 4, column 16" in str(caught.value)


def test_a_json_syntax_error_gives_line_and_column() -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        document.load_source('{\n  "name": "p",\n  "scope": }', "json")

    assert caught.value.field == "source"
    assert "is not valid JSON: Expecting value at line 3, column 12" in str(caught.value)


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/apply:subprocess.call",
        "!!python/object/new:os.system",
    ],
)
def test_yaml_python_tags_are_refused_without_running_anything(tag: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f'name: p\ntitle: {tag} ["touch {marker}"]\n'

    with pytest.raises(PolicyDocumentError) as caught:
        document.load_source(source, "yaml")

    assert caught.value.field == "source"
    assert "could not determine a constructor for the tag" in str(caught.value)
    assert "line 2, column 8" in str(caught.value)
    assert not marker.exists()


def test_the_echo_payload_of_the_brief_is_a_clean_error() -> None:
    with pytest.raises(PolicyDocumentError, match="not valid YAML"):
        document.load_source('!!python/object/apply:os.system ["echo x"]', "yaml")


@pytest.mark.parametrize(
    "source",
    ["when: 2024-13-45", "n: !!int x", "b: !!bool maybe", "e: !!int ''", "t: !!timestamp x"],
)
def test_yaml_scalars_that_its_constructors_cannot_build_are_a_clean_error(source: str) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        document.load_source(source, "yaml")

    assert caught.value.field == "source"
    assert "is not valid YAML: a value cannot be read" in str(caught.value)


@pytest.mark.parametrize(("source", "source_format"), [("[" * 5000, "yaml"), ("[" * 50000, "json")])
def test_a_source_nested_beyond_the_parser_is_a_clean_error(
    source: str, source_format: str
) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        document.load_source(source, source_format)

    assert str(caught.value) == "source: is nested too deeply"


def test_an_oversize_source_is_refused_before_parsing() -> None:
    source = "name: p\ndescription: " + "x" * document.MAX_SOURCE_BYTES

    with pytest.raises(PolicyDocumentError) as caught:
        document.load_source(source, "yaml")

    assert str(caught.value) == "source: is larger than 256 KiB"


def test_the_size_limit_counts_bytes_not_characters() -> None:
    # 100k three-byte characters: under the limit in characters, over it in UTF-8.
    with pytest.raises(PolicyDocumentError, match="larger than"):
        document.load_source("d: " + "\N{EURO SIGN}" * 100_000, "yaml")


def test_an_unknown_source_format_is_refused() -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        document.load_source("name = 'p'", "toml")

    assert caught.value.field == "format"


def test_the_service_guesses_json_from_a_brace_and_yaml_otherwise() -> None:
    as_json = json.dumps(yaml.safe_load(YAML_SOURCE))

    json_doc, _, json_format = policy_service.parse_source(as_json)
    yaml_doc, text, yaml_format = policy_service.parse_source(YAML_SOURCE)

    assert (json_format, yaml_format) == ("json", "yaml")
    assert json_doc == yaml_doc
    assert text == YAML_SOURCE


# --- the shipped packs -----------------------------------------------------------------------

FRAMEWORKS_EVERY_CHECK_CITES = ("eu-ai-act", "nist-ai-rmf", "sr-26-2")


def parsed_pack(path: Path) -> dict[str, Any]:
    return document.parse(document.load_source(path.read_text(encoding="utf-8"), "yaml"))


def test_the_pack_has_one_file_per_risk_tier() -> None:
    assert [p.name for p in PACKS] == ["high-risk.yaml", "limited-risk.yaml", "minimal-risk.yaml"]


@pytest.mark.parametrize("path", PACKS, ids=lambda p: p.stem)
def test_every_pack_file_parses_under_its_file_name(path: Path) -> None:
    parsed = parsed_pack(path)

    assert parsed["name"] == path.stem
    assert parsed["enabled"] is True
    assert parsed["title"] and parsed["description"]


def test_each_tier_and_stage_is_covered_by_exactly_one_pack_policy() -> None:
    covered: dict[tuple[str, str], list[str]] = {}
    for path in PACKS:
        scope = parsed_pack(path)["scope"]
        for tier in scope["risk_tiers"]:
            for stage in scope["target_stages"]:
                covered.setdefault((tier, stage), []).append(path.stem)

    assert covered == {
        (tier, stage): [f"{tier}-risk"]
        for tier in document.RISK_TIERS
        for stage in document.TARGET_STAGES
    }


@pytest.mark.parametrize("path", PACKS, ids=lambda p: p.stem)
def test_every_pack_check_cites_the_eu_ai_act_nist_and_sr_26_2(path: Path) -> None:
    for check in parsed_pack(path)["checks"]:
        frameworks = {tag.split(":", 1)[0] for tag in check["clauses"]}
        missing = [f for f in FRAMEWORKS_EVERY_CHECK_CITES if f not in frameworks]
        assert not missing, f"{path.name} {check['id']} cites no {missing}"
        assert all(clauses.title_of(tag) for tag in check["clauses"])


def test_the_high_risk_pack_holds_the_full_set_of_controls() -> None:
    checks = {c["id"]: c for c in parsed_pack(policy_service.PACK_DIR / "high-risk.yaml")["checks"]}

    assert {c["type"] for c in checks.values()} == set(REGISTRY)
    assert checks["roc-auc"]["params"] == {"metric": "roc_auc", "min": 0.8, "max_regression": 0.01}
    assert checks["fairness-demographic-parity"]["params"]["min_group_size"] == 30
    assert checks["approvals"]["params"]["roles"] == {"validator": 1, "risk officer": 1}
    assert checks["approval-validity"]["params"]["days"] == 30
    assert checks["no-open-findings"]["params"] == {"min_severity": "high"}
    assert checks["lineage"]["params"]["require"] == [
        "training_dataset",
        "code_reference",
        "evaluation_dataset",
    ]
    for check in checks.values():
        tags = check["clauses"]
        assert any(t.startswith("eu-ai-act:") for t in tags), check["id"]
        assert any(t.startswith("sr-26-2:") for t in tags), check["id"]


def test_the_pack_cites_eu_ai_act_articles_9_to_15() -> None:
    cited = {
        tag for path in PACKS for check in parsed_pack(path)["checks"] for tag in check["clauses"]
    }

    assert {f"eu-ai-act:art-{n}" for n in range(9, 16)} <= cited
    assert {f"sr-26-2:{theme}" for theme in clauses.BY_KEY["sr-26-2"].clauses} <= cited


def test_the_clause_catalogue_resolves_known_tags_and_nothing_else() -> None:
    tags = clauses.known_tags()

    assert len(tags) == len(set(tags))
    assert all(clauses.title_of(tag) for tag in tags)
    assert clauses.title_of("eu-ai-act:art-10") == "Article 10: data and data governance"
    for unknown in ("eu-ai-act", "eu-ai-act:", "eu-ai-act:art-99", "sr-11-7:validation", ""):
        assert clauses.title_of(unknown) is None


# --- properties ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

# Keys and values the parser knows, so that generated documents reach deep into validation.
KEYS = sorted(
    document.TOP_LEVEL
    | {"risk_tiers", "target_stages", "id", "type", "params"}
    | {name for cls in REGISTRY.values() for name in cls.params}
)
WORDS = sorted(
    set(REGISTRY)
    | set(document.RISK_TIERS)
    | set(document.TARGET_STAGES)
    | set(clauses.known_tags()[:5])
    | {"roc_auc", "log_loss", "demographic_parity_difference", "equalized_odds_ratio"}
    | {"validator", "risk officer", "sex", "race", "title", "performance", "skops", "p", "c"}
)
# YAML also produces non-string keys (1:, true:, null:).
yaml_keys = st.sampled_from(KEYS) | st.text(max_size=6) | st.integers() | st.booleans() | st.none()
near_values = st.recursive(
    json_scalars | st.sampled_from(WORDS) | st.floats(min_value=0, max_value=1),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(yaml_keys, children, max_size=6)
    ),
    max_leaves=30,
)


GOOD_CHECKS: dict[str, dict[str, Any]] = {
    "metric_threshold": {"metric": "roc_auc", "min": 0.8, "max_regression": 0.01},
    "fairness_threshold": {
        "metric": "equalized_odds_difference",
        "max": 0.1,
        "features": ["sex", "race"],
        "use_confidence_bound": True,
        "min_group_size": 30,
    },
    "explainability": {"max_sensitive_share": 0.1, "features": ["sex"]},
    "evidence_freshness": {"max_age_days": 90, "kinds": ["performance"]},
    "lineage_complete": {"require": ["training_dataset"]},
    "documentation_complete": {"fields": ["title"]},
    "artifact_safety": {"allowed_formats": ["skops"]},
    "approvals": {"roles": {"validator": 1, "risk officer": 1}},
    "approval_validity": {"days": 30},
}


def damaged(draw: st.DrawFn, value: Any, keys: list[Any], odds: int = 2) -> Any:
    """`value` as is, or (one time in `odds`) with one key replaced, dropped or added."""
    if not isinstance(value, dict) or draw(st.integers(0, odds - 1)) != 0:
        return value
    value = dict(value)
    how = draw(st.sampled_from(["replace", "drop", "add"]))
    if how == "add" or not value:
        value[draw(yaml_keys | st.sampled_from(keys))] = draw(near_values)
    else:
        key = draw(st.sampled_from(sorted(value, key=str)))
        if how == "drop":
            del value[key]
        else:
            value[key] = draw(near_values)
    return value


@st.composite
def near_documents(draw: st.DrawFn) -> Any:
    """A valid policy with random damage at one or more places, so that generated documents
    reach every check type's validation, not only the first field."""
    checks = []
    for index in range(draw(st.integers(1, 3))):
        check_type = draw(st.sampled_from(sorted(GOOD_CHECKS)))
        check = {"id": f"c{index}", "type": check_type, **GOOD_CHECKS[check_type]}
        if draw(st.booleans()):
            check["clauses"] = draw(st.lists(st.sampled_from(clauses.known_tags()), max_size=3))
        checks.append(damaged(draw, check, KEYS))
    data = {
        "name": "p",
        "scope": damaged(
            draw, {"risk_tiers": ["high"], "target_stages": ["staging"]}, ["risk_tiers"], odds=5
        ),
        "checks": checks,
    }
    return damaged(draw, data, KEYS, odds=5)


def assert_parses_or_refuses(data: Any) -> None:
    try:
        parsed = document.parse(data)
    except PolicyDocumentError as error:
        assert str(error).startswith(f"{error.field}: ")
        return
    # A document that parses is canonical JSON and re-cleans to itself.
    assert json.loads(results_json.dumps(parsed)) == parsed
    for index, check in enumerate(parsed["checks"]):
        cls = REGISTRY[check["type"]]
        again = cls.clean(
            {"id": check["id"], "type": check["type"], **check["params"]}, f"[{index}]"
        )
        assert again == check["params"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_value_parses_or_is_refused_as_a_policy_error(data: Any) -> None:
    assert_parses_or_refuses(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_documents())
def test_any_damaged_document_parses_or_is_refused_as_a_policy_error(data: Any) -> None:
    assert_parses_or_refuses(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["yaml", "json"]))
def test_any_source_text_loads_or_is_refused_as_a_policy_error(source: str, fmt: str) -> None:
    try:
        data = document.load_source(source, fmt)
    except PolicyDocumentError as error:
        assert error.field == "source"
        return
    assert_parses_or_refuses(data)
