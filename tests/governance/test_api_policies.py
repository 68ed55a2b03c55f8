"""REST API of policies: create from a JSON document, YAML/JSON text or a raw YAML body; every
change a new immutable version; validation errors name the field; only risk officers and admins
write; a policy change makes open promotion requests stale."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from governance.models import Policy, PolicyVersion, PromotionStatus
from governance.policies.document import MAX_SOURCE_BYTES
from governance.services import promotions
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db

LIST = "/api/v1/policies/"
DETAIL = "/api/v1/policies/auc-floor/"


def document(**changes):
    doc = {
        "name": "auc-floor",
        "title": "ROC AUC floor",
        "scope": {"risk_tiers": ["high"], "target_stages": ["production"]},
        "checks": [
            {"id": "safe", "type": "artifact_safety"},
            {
                "id": "auc",
                "type": "metric_threshold",
                "metric": "roc_auc",
                "min": 0.8,
                "clauses": ["eu-ai-act:art-15"],
            },
        ],
    }
    doc.update(changes)
    return doc


YAML_SOURCE = """\
name: auc-floor
title: ROC AUC floor
# comments survive in the stored source
scope:
  risk_tiers: [high]
  target_stages: [production]
checks:
  - id: safe
    type: artifact_safety
  - id: auc
    type: metric_threshold
    metric: roc_auc
    min: 0.8
    clauses: [eu-ai-act:art-15]
"""


def fresh(user):
    """The user as a new request would load it (roles not cached yet)."""
    return type(user).objects.get(pk=user.pk)


def written() -> tuple[int, int]:
    return PolicyVersion.objects.count(), AuditEvent.objects.count()


def test_a_risk_officer_creates_a_policy_from_a_json_document(api, risk_officer):
    response = api(risk_officer).post(LIST, {"document": document()}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    version = PolicyVersion.objects.get()
    assert body["name"] == "auc-floor" and body["version"] == 1 and body["is_current"] is True
    assert body["sha256"] == version.sha256 and len(body["sha256"]) == 64
    assert body["scope"] == {"risk_tiers": ["high"], "target_stages": ["production"]}
    assert [c["id"] for c in body["checks"]] == ["safe", "auc"]
    assert body["checks"][1]["params"]["min"] == 0.8
    assert body["document"] == version.document
    assert body["source_format"] == "json" and body["created_by"] == "rita"
    assert body["url"] == "http://testserver/api/v1/policies/auc-floor/versions/1/"
    assert response["Location"] == body["url"]
    assert Policy.objects.get().current_version == version
    event = AuditEvent.objects.get(action="policy.version_created")
    assert event.actor_username == "rita" and event.data["sha256"] == version.sha256


def test_yaml_text_in_a_json_body_is_kept_verbatim_as_the_source(api, risk_officer):
    response = api(risk_officer).post(
        LIST, {"source": YAML_SOURCE, "format": "yaml", "change_note": "first"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["source"] == YAML_SOURCE and body["source_format"] == "yaml"
    assert body["change_note"] == "first"
    assert PolicyVersion.objects.get().source == YAML_SOURCE


@pytest.mark.parametrize("content_type", ["application/yaml", "text/yaml", "application/x-yaml"])
def test_a_raw_yaml_body_is_a_policy_source(api, risk_officer, content_type):
    response = api(risk_officer).generic(
        "POST", f"{LIST}?change_note=from+a+file", YAML_SOURCE.encode(), content_type
    )

    assert response.status_code == 201, response.content
    version = PolicyVersion.objects.get()
    assert version.source == YAML_SOURCE and version.source_format == "yaml"
    assert version.change_note == "from a file"


def test_json_text_is_recognised_without_a_format(api, risk_officer):
    import json

    response = api(risk_officer).post(LIST, {"source": json.dumps(document())}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["source_format"] == "json"


def test_an_admin_may_write_policies_too(api, admin_user):
    assert api(admin_user).post(LIST, {"document": document()}, format="json").status_code == 201


@pytest.mark.parametrize("who", ["data_scientist", "other_data_scientist", "validator", "auditor"])
def test_other_roles_cannot_create_or_change_policies(api, request, risk_officer, who):
    g.simple_policy(risk_officer, name="auc-floor")
    before = written()
    client = api(request.getfixturevalue(who))

    created = client.post(LIST, {"document": document(name="other")}, format="json")
    changed = client.put(DETAIL, {"document": document()}, format="json")
    raw = client.generic("POST", LIST, YAML_SOURCE.encode(), "application/yaml")

    for response in (created, changed, raw):
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "permission_denied"
    # Nothing written but the three refused attempts, on the audit trail.
    assert PolicyVersion.objects.count() == before[0]
    refused = AuditEvent.objects.filter(action="policy.write_refused").order_by("id")
    assert refused.count() == 3 == AuditEvent.objects.count() - before[1]
    assert {e.data["code"] for e in refused} == {"permission_denied"}


def test_reading_needs_a_role(api, risk_officer, outsider):
    g.simple_policy(risk_officer, name="auc-floor")
    for path in (LIST, DETAIL, f"{DETAIL}versions/", f"{DETAIL}versions/1/"):
        assert api(None).get(path).status_code == 401
        roleless = api(outsider).get(path)
        assert roleless.status_code == 403 and roleless.json()["code"] == "permission_denied"


@pytest.mark.parametrize("who", ["auditor", "data_scientist", "validator", "risk_officer"])
def test_every_role_reads_policies(api, request, risk_officer, who):
    g.simple_policy(risk_officer, name="auc-floor")
    client = api(request.getfixturevalue(who))
    assert client.get(LIST).status_code == 200
    assert client.get(DETAIL).status_code == 200


MALFORMED = [
    pytest.param(
        {"source": "name: auc-floor\nscope: [high\nchecks: []\n", "format": "yaml"},
        "source",
        "is not valid YAML",
        id="yaml-syntax-error",
    ),
    pytest.param(
        {"source": '{"name": "auc-floor",', "format": "json"},
        "source",
        "is not valid JSON",
        id="json-syntax-error",
    ),
    pytest.param(
        {"document": document(checks=[{"id": "x", "type": "horoscope"}])},
        "checks[0] (x).type",
        "'horoscope' is not a check type",
        id="unknown-check-type",
    ),
    pytest.param(
        {
            "document": document(
                checks=[{"id": "safe", "type": "artifact_safety", "clauses": ["eu-ai-act:art-99"]}]
            )
        },
        "checks[0] (safe).clauses[0]",
        "'eu-ai-act:art-99' is not a known clause",
        id="unknown-clause-tag",
    ),
    pytest.param(
        {
            "document": document(
                checks=[
                    {"id": "safe", "type": "artifact_safety"},
                    {"id": "auc", "type": "metric_threshold", "metric": "roc_auc", "min": "high"},
                ]
            )
        },
        "checks[1] (auc).min",
        "must be a number, not str",
        id="wrong-type",
    ),
    pytest.param(
        {"document": document(scope={"risk_tiers": ["extreme"], "target_stages": ["production"]})},
        "scope.risk_tiers[0]",
        "'extreme' is not one of minimal, limited, high",
        id="unknown-risk-tier",
    ),
    pytest.param(
        {"document": document(owner="me")},
        "owner",
        "is not a policy field",
        id="unknown-top-level-field",
    ),
    pytest.param(
        {"document": ["not", "a", "mapping"]},
        "document",
        "must be a mapping",
        id="document-not-an-object",
    ),
    pytest.param({"source": "", "format": "yaml"}, "source", "is empty", id="empty-source"),
    pytest.param(
        {"source": YAML_SOURCE, "format": "toml"}, "format", "must be yaml or json", id="format"
    ),
]


@pytest.mark.parametrize(("body", "field", "message"), MALFORMED)
def test_a_malformed_policy_is_refused_with_the_field_named(
    api, risk_officer, body, field, message
):
    before = written()

    response = api(risk_officer).post(LIST, body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "invalid_policy"
    assert error["field"] == field
    assert error["detail"].startswith(f"{field}: ") and message in error["detail"]
    assert written() == before


def test_a_yaml_syntax_error_in_a_raw_body_names_the_line(api, risk_officer):
    source = YAML_SOURCE.replace("  risk_tiers: [high]", "  risk_tiers: [high")

    response = api(risk_officer).generic("POST", LIST, source.encode(), "application/yaml")

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid_policy" and error["field"] == "source"
    assert "line" in error["detail"]
    assert not PolicyVersion.objects.exists()


def test_a_raw_body_over_the_size_limit_is_refused_unread(api, risk_officer):
    source = YAML_SOURCE + "#" * MAX_SOURCE_BYTES

    response = api(risk_officer).generic("POST", LIST, source.encode(), "application/yaml")

    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert not PolicyVersion.objects.exists()


def test_a_body_needs_either_a_document_or_a_source(api, risk_officer):
    client = api(risk_officer)
    neither = client.post(LIST, {"change_note": "?"}, format="json")
    both = client.post(LIST, {"document": document(), "source": YAML_SOURCE}, format="json")
    unknown = client.post(LIST, document(), format="json")

    for response in (neither, both, unknown):
        assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not PolicyVersion.objects.exists()


def test_a_second_post_of_the_same_name_is_a_conflict(api, risk_officer):
    client = api(risk_officer)
    client.post(LIST, {"document": document()}, format="json")

    response = client.post(LIST, {"document": document(title="again")}, format="json")

    assert response.status_code == 409 and response.json()["code"] == "policy_exists"
    assert PolicyVersion.objects.count() == 1


def test_put_makes_a_new_version_and_keeps_the_old_one(api, risk_officer):
    client = api(risk_officer)
    client.post(LIST, {"document": document()}, format="json")
    first = PolicyVersion.objects.get()

    response = client.put(
        DETAIL, {"document": document(title="Stricter"), "change_note": "tighter"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 2 and body["title"] == "Stricter" and body["change_note"] == "tighter"
    assert body["url"].endswith("/api/v1/policies/auc-floor/versions/2/")
    assert Policy.objects.get().current_version.version == 2
    first.refresh_from_db()
    assert first.title == "ROC AUC floor"

    detail = client.get(DETAIL).json()
    assert detail["version"] == 2 and detail["title"] == "Stricter"
    assert detail["source"] and detail["document"]["title"] == "Stricter"
    assert [(v["version"], v["created_by"], v["change_note"]) for v in detail["versions"]] == [
        (2, "rita", "tighter"),
        (1, "rita", ""),
    ]
    assert detail["versions"][1]["sha256"] == first.sha256

    old = client.get(f"{DETAIL}versions/1/").json()
    assert old["title"] == "ROC AUC floor" and old["is_current"] is False
    assert old["sha256"] == first.sha256
    listed = client.get(f"{DETAIL}versions/").json()
    assert [v["version"] for v in listed["results"]] == [2, 1]


def test_put_of_a_raw_yaml_body_with_a_change_note(api, risk_officer):
    client = api(risk_officer)
    client.post(LIST, {"document": document()}, format="json")

    response = client.generic(
        "PUT",
        f"{DETAIL}?change_note=AUC+0.85",
        YAML_SOURCE.replace("min: 0.8", "min: 0.85").encode(),
        "text/yaml",
    )

    assert response.status_code == 200, response.content
    assert response.json()["checks"][1]["params"]["min"] == 0.85
    assert PolicyVersion.objects.get(version=2).change_note == "AUC 0.85"


def test_put_of_an_identical_document_is_a_conflict_and_writes_nothing(api, risk_officer):
    client = api(risk_officer)
    client.post(LIST, {"document": document()}, format="json")
    before = written()

    # The same document as YAML text: the digest is over the normalised form.
    response = client.put(DETAIL, {"source": YAML_SOURCE}, format="json")

    assert response.status_code == 409 and response.json()["code"] == "policy_unchanged"
    assert written() == before


def test_put_refuses_a_document_named_after_another_policy(api, risk_officer):
    client = api(risk_officer)
    client.post(LIST, {"document": document()}, format="json")

    response = client.put(DETAIL, {"document": document(name="renamed")}, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "name"
    assert PolicyVersion.objects.count() == 1


def test_put_of_an_unknown_policy_and_get_of_unknown_versions_are_404(api, risk_officer):
    client = api(risk_officer)
    missing = client.put(
        "/api/v1/policies/nope/", {"document": document(name="nope")}, format="json"
    )
    assert missing.status_code == 404
    assert client.get("/api/v1/policies/nope/").status_code == 404
    client.post(LIST, {"document": document()}, format="json")
    assert client.get(f"{DETAIL}versions/7/").status_code == 404


def test_the_list_shows_each_policy_current_version_in_constant_queries(
    api, risk_officer, validator
):
    g.simple_policy(risk_officer, name="p-0")

    with CaptureQueriesContext(connection) as one:
        first = api(fresh(validator)).get(LIST)
    for i in range(1, 10):
        g.simple_policy(risk_officer, name=f"p-{i}", tiers=("high",), stages=("production",))
    with CaptureQueriesContext(connection) as ten:
        listed = api(fresh(validator)).get(LIST)

    assert first.status_code == listed.status_code == 200
    assert len(ten.captured_queries) == len(one.captured_queries)
    body = listed.json()
    assert body["count"] == 10
    row = body["results"][1]
    assert row["name"] == "p-1" and row["version"] == 1 and row["enabled"] is True
    assert row["scope"] == {"risk_tiers": ["high"], "target_stages": ["production"]}
    assert row["updated_by"] == "rita" and row["updated_at"] and row["check_count"] == 3
    assert row["url"] == "http://testserver/api/v1/policies/p-1/"


def test_the_list_filters_by_scope_and_enabled(api, risk_officer, validator):
    g.simple_policy(risk_officer, name="everywhere")
    g.simple_policy(risk_officer, name="high-only", tiers=("high",), stages=("production",))
    client = api(validator)

    def names(query: str) -> list[str]:
        return [p["name"] for p in client.get(f"{LIST}?{query}").json()["results"]]

    assert names("risk_tier=high") == ["everywhere", "high-only"]
    assert names("risk_tier=minimal") == ["everywhere"]
    assert names("target_stage=staging") == ["everywhere"]
    assert names("enabled=true") == ["everywhere", "high-only"]
    assert names("enabled=false") == []


def test_a_policy_change_makes_an_open_request_stale(
    api, team, data_scientist, validator, risk_officer
):
    g.simple_policy(risk_officer, name="auc-floor", roles={"validator": 1})
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification="ready"
    )
    stricter = document(
        scope={
            "risk_tiers": ["minimal", "limited", "high"],
            "target_stages": ["staging", "production"],
        },
        checks=[
            {"id": "safe", "type": "artifact_safety"},
            {"id": "auc", "type": "metric_threshold", "metric": "roc_auc", "min": 0.95},
            {"id": "approvals", "type": "approvals", "roles": {"validator": 1}},
        ],
    )

    response = api(risk_officer).put(DETAIL, {"document": stricter}, format="json")

    assert response.status_code == 200, response.content
    shown = api(validator).get(f"/api/v1/promotion-requests/{request.pk}/").json()
    assert shown["status"] == PromotionStatus.STALE
    assert "auc-floor v2" in shown["status_reason"]
    assert shown["can_review"] is False
    assert AuditEvent.objects.filter(action="promotion.stale", target_id=str(request.pk)).exists()
