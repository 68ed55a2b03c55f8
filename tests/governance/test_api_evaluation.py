"""REST API of policy evaluation: a dry run for a target stage stores an immutable evaluation
with every check's verdict and evidence, pinned to policy versions, artifact and assessments;
without evidence (or without any policy) the gate fails closed with its reasons."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from governance.models import CheckResult, PolicyEvaluation, PolicyVersion
from governance.services import evaluation, policies
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(team, data_scientist, risk_officer):
    g.install_default_pack(risk_officer)
    return g.governed_version(registrant=data_scientist, team=team)


def evaluate_url(version) -> str:
    return f"/api/v1/models/{version.model.name}/versions/{version.version}/evaluation/"


def evaluations_url(version) -> str:
    return f"/api/v1/models/{version.model.name}/versions/{version.version}/evaluations/"


def fresh(user):
    return type(user).objects.get(pk=user.pk)


def test_a_version_without_evidence_fails_closed_with_every_reason(api, version, data_scientist):
    response = api(data_scientist).post(
        evaluate_url(version), {"target_stage": "production"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    stored = PolicyEvaluation.objects.get()
    assert body["id"] == stored.pk and body["passed"] is False and stored.passed is False
    assert body["url"] == f"http://testserver/api/v1/evaluations/{stored.pk}/"
    assert response["Location"] == body["url"]
    assert (body["model"], body["version"], body["target_stage"]) == (
        version.model.name,
        1,
        "production",
    )
    assert body["purpose"] == "dry_run" and body["evaluated_by"] == "dana"
    assert body["artifact_sha256"] == version.artifact_sha256 and body["risk_tier"] == "high"
    high = PolicyVersion.objects.get(policy__name="high-risk")
    assert body["policy_versions"] == [
        {
            "name": "high-risk",
            "version": 1,
            "sha256": high.sha256,
            "url": "http://testserver/api/v1/policies/high-risk/versions/1/",
        }
    ]
    assert body["assessments"] == [] and body["baseline_version"] is None
    assert len(body["checks"]) == len(high.checks) == CheckResult.objects.count()

    checks = {c["check_id"]: c for c in body["checks"]}
    for check_id, kind in [
        ("roc-auc", "performance"),
        ("fairness-demographic-parity", "fairness"),
        ("explainability", "explainability"),
    ]:
        assert checks[check_id]["passed"] is False
        assert f"no succeeded {kind} assessment" in checks[check_id]["reason"]
    assert checks["evidence-fresh"]["passed"] is False
    assert checks["artifact-safety"]["passed"] is True
    assert checks["lineage"]["passed"] is True
    auc = checks["roc-auc"]
    assert auc["policy"] == "high-risk" and auc["policy_version"] == 1
    assert auc["type"] == "metric_threshold" and auc["threshold"]["min"] == 0.8
    assert "eu-ai-act:art-15" in auc["clauses"]

    failed = [c for c in body["checks"] if not c["passed"]]
    assert [(b["check"], b["reason"]) for b in body["blocking"]] == [
        (c["check_id"], c["reason"]) for c in failed
    ]
    assert body["failed_count"] == len(failed) == stored.failed_count
    event = AuditEvent.objects.get(action="policy.evaluated")
    assert event.target_id == str(stored.pk) and event.data["passed"] is False


def test_with_full_evidence_only_the_approvals_block_a_dry_run(api, version, data_scientist):
    assessments = g.full_evidence(version)

    body = (
        api(data_scientist)
        .post(evaluate_url(version), {"target_stage": "production"}, format="json")
        .json()
    )

    assert body["passed"] is False
    assert [b["check"] for b in body["blocking"]] == ["approvals"]
    assert "no promotion request yet" in body["blocking"][0]["reason"]
    assert [(a["id"], a["kind"]) for a in body["assessments"]] == [
        (a.pk, a.kind) for a in assessments
    ]
    assert (
        body["assessments"][0]["url"]
        == f"http://testserver/api/v1/assessments/{assessments[0].pk}/"
    )
    auc = next(c for c in body["checks"] if c["check_id"] == "roc-auc")
    assert auc["passed"] is True and auc["observed"] is not None
    assert assessments[0].pk in auc["evidence"]["assessments"]


def test_a_policy_without_approval_checks_can_pass_a_dry_run(
    api, team, data_scientist, risk_officer
):
    policies.save_policy(
        by=risk_officer,
        source={
            "name": "staging-basics",
            "scope": {"risk_tiers": ["high"], "target_stages": ["staging"]},
            "checks": [
                {"id": "safe", "type": "artifact_safety"},
                {"id": "auc", "type": "metric_threshold", "metric": "roc_auc", "min": 0.8},
            ],
        },
    )
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version)

    body = (
        api(data_scientist)
        .post(evaluate_url(version), {"target_stage": "staging"}, format="json")
        .json()
    )

    assert body["passed"] is True and body["blocking"] == [] and body["failed_count"] == 0
    assert all(c["passed"] for c in body["checks"])


def test_without_any_applicable_policy_the_gate_fails_closed(api, team, data_scientist):
    version = g.governed_version(registrant=data_scientist, team=team)

    body = (
        api(data_scientist)
        .post(evaluate_url(version), {"target_stage": "staging"}, format="json")
        .json()
    )

    assert body["passed"] is False and body["policy_versions"] == []
    [check] = body["checks"]
    assert check["policy"] is None and check["policy_version"] is None
    assert check["check_id"] == "policy-coverage" and "no enabled policy" in check["reason"]
    assert body["blocking"] == [
        {
            "policy": None,
            "check": "policy-coverage",
            "type": "policy_coverage",
            "title": "at least one policy applies",
            "reason": check["reason"],
        }
    ]


@pytest.mark.parametrize("who", ["validator", "risk_officer", "admin_user", "data_scientist"])
def test_the_team_reviewers_and_admins_may_evaluate(api, request, version, who):
    response = api(request.getfixturevalue(who)).post(
        evaluate_url(version), {"target_stage": "staging"}, format="json"
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("who", ["auditor", "other_data_scientist", "outsider"])
def test_others_may_not_evaluate_and_nothing_is_stored(api, request, version, who):
    events = AuditEvent.objects.count()

    response = api(request.getfixturevalue(who)).post(
        evaluate_url(version), {"target_stage": "production"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not PolicyEvaluation.objects.exists()
    if who == "outsider":  # no role at all: the API turns them away before the service
        assert AuditEvent.objects.count() == events
        return
    # Only the refused attempt is written, to the audit trail.
    assert AuditEvent.objects.count() == events + 1
    refused = AuditEvent.objects.latest("id")
    assert (refused.action, refused.target_id) == ("policy.evaluation_refused", str(version.pk))


def test_reading_evaluations_needs_a_role(api, version, data_scientist, outsider):
    created = evaluation.evaluate(version, "production", by=data_scientist)
    for path in (
        evaluations_url(version),
        "/api/v1/evaluations/",
        f"/api/v1/evaluations/{created.pk}/",
    ):
        response = api(outsider).get(path)
        assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_anonymous_clients_are_refused(api, version):
    assert api(None).post(evaluate_url(version), {"target_stage": "production"}).status_code == 401
    assert api(None).get(evaluations_url(version)).status_code == 401
    assert api(None).get("/api/v1/evaluations/").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [({"target_stage": "heaven"}, "target_stage"), ({}, "target_stage"), ({"stage": "x"}, "stage")],
)
def test_a_bad_target_stage_is_a_400(api, version, data_scientist, body, field):
    response = api(data_scientist).post(evaluate_url(version), body, format="json")

    assert response.status_code == 400
    error = response.json()
    assert field in error.get("field", "") or field in error.get("errors", {})
    assert not PolicyEvaluation.objects.exists()


def test_an_unknown_version_is_a_404(api, version, data_scientist):
    url = f"/api/v1/models/{version.model.name}/versions/9/evaluation/"
    response = api(data_scientist).post(url, {"target_stage": "production"}, format="json")
    assert response.status_code == 404


def test_a_stored_evaluation_reads_back_the_same_for_every_role(
    api, version, data_scientist, auditor, validator
):
    g.full_evidence(version)
    created = (
        api(data_scientist)
        .post(evaluate_url(version), {"target_stage": "production"}, format="json")
        .json()
    )

    for reader in (auditor, validator, data_scientist):
        shown = api(reader).get(f"/api/v1/evaluations/{created['id']}/")
        assert shown.status_code == 200
        assert shown.json() == created


def test_past_evaluations_of_a_version_list_in_constant_queries(
    api, version, data_scientist, auditor
):
    evaluation.evaluate(version, "production", by=data_scientist)
    with CaptureQueriesContext(connection) as one:
        first = api(fresh(auditor)).get(evaluations_url(version))
    for stage in ["staging", "production"] * 4 + ["staging"]:
        evaluation.evaluate(version, stage, by=data_scientist)
    with CaptureQueriesContext(connection) as ten:
        listed = api(fresh(auditor)).get(evaluations_url(version))

    assert first.status_code == listed.status_code == 200
    assert len(ten.captured_queries) == len(one.captured_queries)
    body = listed.json()
    assert body["count"] == 10
    newest = PolicyEvaluation.objects.order_by("-created_at", "-id").first()
    assert body["results"][0]["id"] == newest.pk
    assert body["results"][0]["failed_count"] == newest.failed_count
    staging = api(auditor).get(f"{evaluations_url(version)}?target_stage=staging").json()
    assert staging["count"] == 5


def test_the_evaluation_list_across_models_filters_and_shows_detail_in_constant_queries(
    api, version, team, data_scientist, auditor
):
    other = g.governed_version(registrant=data_scientist, team=team)
    evaluation.evaluate(version, "production", by=data_scientist)
    with CaptureQueriesContext(connection) as one:
        api(fresh(auditor)).get(f"/api/v1/evaluations/{PolicyEvaluation.objects.get().pk}/")
    g.full_evidence(other)
    for _ in range(3):
        evaluation.evaluate(other, "production", by=data_scientist)
    with CaptureQueriesContext(connection) as more:
        detail = api(fresh(auditor)).get(
            f"/api/v1/evaluations/{PolicyEvaluation.objects.first().pk}/"
        )
    assert detail.status_code == 200 and len(detail.json()["assessments"]) == 3
    assert len(more.captured_queries) == len(one.captured_queries)

    client = api(auditor)
    assert client.get("/api/v1/evaluations/").json()["count"] == 4
    only_other = client.get(f"/api/v1/evaluations/?model={other.model.name}").json()
    assert only_other["count"] == 3
    assert {e["model"] for e in only_other["results"]} == {other.model.name}
    assert client.get("/api/v1/evaluations/?purpose=dry_run&passed=true").json()["count"] == 0


def test_evaluations_cannot_be_changed_through_the_api(api, version, admin_user):
    created = api(admin_user).post(
        evaluate_url(version), {"target_stage": "production"}, format="json"
    )
    url = created.json()["url"]
    client = api(admin_user)
    assert client.put(url, {"passed": True}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert PolicyEvaluation.objects.get().passed is False
