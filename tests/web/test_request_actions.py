"""The request page's actions through the Django test client: decide, re-evaluate, queue
missing evidence, retry the gate, withdraw. Every refusal comes from the service (with the
API's status) and refused attempts are in the audit trail."""

import re
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from core import roles
from governance.models import (
    Assessment,
    AssessmentStatus,
    EvaluationPurpose,
    PolicyEvaluation,
    PromotionRequest,
    Review,
)
from governance.services import promotions
from registry.services.models import update_model
from tests.factories import (
    DatasetFactory,
    DatasetVersionFactory,
    RegisteredModelFactory,
    UserFactory,
)
from tests.governance import gate_setup as g
from tests.web.test_request_page import JUSTIFY, Scene, build_scene, selectors_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(team: Any, data_scientist: Any, risk_officer: Any) -> Scene:
    g.install_default_pack(risk_officer)
    return build_scene(team, data_scientist, risk_officer)


def action(name: str, request: PromotionRequest) -> str:
    return reverse(f"web:{name}", args=[request.pk])


def post(client: Any, user: Any, url: str, data: dict[str, str], **headers: Any) -> Any:
    client.force_login(user)
    return client.post(url, data, **headers)


def refusals(request: PromotionRequest) -> list[dict[str, Any]]:
    return list(
        AuditEvent.objects.filter(
            action="promotion.refused",
            target_type="governance.promotionrequest",
            target_id=str(request.pk),
        )
        .order_by("id")
        .values_list("data", flat=True)
    )


def status_of(request: PromotionRequest) -> str:
    return PromotionRequest.objects.get(pk=request.pk).status


# --- deciding ----------------------------------------------------------------------------------


def test_a_validator_approves_through_the_form(client, scene, validator):
    url = action("request-review", scene.request)
    response = post(client, validator, url, {"decision": "approve", "comment": "evidence ok"})

    assert response.status_code == 302
    assert response["Location"] == scene.url
    review = Review.objects.get(request=scene.request)
    assert (review.reviewer, review.decision, review.role, review.comment) == (
        validator,
        "approve",
        "validator",
        "evidence ok",
    )
    assert status_of(scene.request) == "open"  # the risk officer's approval is still missing
    page = client.get(scene.url).content.decode()
    assert "Approved request" in page  # the message
    assert '<span data-testid="approval-given">vera</span>' in page


def test_a_risk_officer_rejects_through_the_form(client, scene, risk_officer):
    url = action("request-review", scene.request)
    response = post(client, risk_officer, url, {"decision": "reject", "comment": "race gap"})

    assert response.status_code == 302
    assert status_of(scene.request) == "rejected"
    html = client.get(scene.url).content.decode()
    assert re.search(r'data-testid="request-status">rejected<', html)
    assert 'data-testid="decision-form"' not in html


def test_a_decision_without_a_comment_is_refused_and_changes_nothing(client, scene, validator):
    url = action("request-review", scene.request)
    response = post(client, validator, url, {"decision": "approve", "comment": "  "})

    assert response.status_code == 400
    assert "a comment is required" in response.content.decode()
    assert not Review.objects.exists()


def test_a_forged_post_from_the_requester_is_refused_and_audited(client, scene, data_scientist):
    url = action("request-review", scene.request)
    response = post(client, data_scientist, url, {"decision": "approve", "comment": "mine"})

    assert response.status_code == 403
    html = response.content.decode()
    assert re.search(r'data-testid="refusal-reason" data-code="self_review">[^<]*you made', html)
    assert not Review.objects.exists()
    assert status_of(scene.request) == "open"
    [refusal] = refusals(scene.request)
    assert refusal["code"] == "self_review" and refusal["decision"] == "approve"
    assert AuditEvent.objects.filter(action="promotion.refused").get().actor_username == "dana"


def test_a_forged_htmx_post_from_the_auditor_gets_the_refusal_fragment(client, scene, auditor):
    url = action("request-review", scene.request)
    response = post(
        client, auditor, url, {"decision": "reject", "comment": "no"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 403
    html = response.content.decode()
    assert "<html" not in html
    assert 'data-code="not_a_reviewer"' in html
    assert [r["code"] for r in refusals(scene.request)] == ["not_a_reviewer"]
    assert status_of(scene.request) == "open"


def test_a_second_decision_by_the_same_reviewer_is_a_409(client, scene, validator):
    promotions.review(by=validator, request=scene.request, decision="approve", comment="ok")
    url = action("request-review", scene.request)

    response = post(client, validator, url, {"decision": "reject", "comment": "changed mind"})

    assert response.status_code == 409
    assert 'data-code="already_reviewed"' in response.content.decode()
    assert [r["code"] for r in refusals(scene.request)] == ["already_reviewed"]


def test_decisions_are_post_only(client, scene, validator):
    client.force_login(validator)
    assert client.get(action("request-review", scene.request)).status_code == 405


# --- re-evaluating -----------------------------------------------------------------------------


def test_re_evaluate_with_htmx_returns_the_dry_run_checks_only(client, scene, validator):
    url = action("request-evaluate", scene.request)
    response = post(client, validator, url, {}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert 'data-testid="dry-run-checks"' in html
    assert re.search(r'data-check-id="fairness-demographic-parity" data-passed="false"', html)
    dry_run = PolicyEvaluation.objects.filter(purpose=EvaluationPurpose.DRY_RUN).get()
    assert dry_run.promotion_request == scene.request
    assert dry_run.evaluated_by == validator
    assert f"Dry run #{dry_run.pk}" in html
    # The request's page now shows that evaluation as the latest.
    page = client.get(scene.url).content.decode()
    assert f'data-testid="checks" data-evaluation-id="{dry_run.pk}"' in page


def test_re_evaluate_without_javascript_renders_the_page_with_the_result(client, scene, validator):
    response = post(client, validator, action("request-evaluate", scene.request), {})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert {"dry-run-checks", "checks", "decision-form"} <= selectors_in(html)
    assert re.search(r'<div id="dry-run" data-testid="dry-run"[^>]*>\s*<h3>Dry run #', html)


def test_the_auditor_cannot_re_evaluate_and_the_attempt_is_recorded(client, scene, auditor):
    url = action("request-evaluate", scene.request)
    response = post(client, auditor, url, {}, HTTP_HX_REQUEST="true")

    assert response.status_code == 403
    assert not PolicyEvaluation.objects.filter(purpose=EvaluationPurpose.DRY_RUN).exists()
    assert AuditEvent.objects.filter(action="policy.evaluation_refused").count() == 1


# --- missing evidence --------------------------------------------------------------------------


@pytest.fixture
def assessable(team: Any, data_scientist: Any, risk_officer: Any) -> PromotionRequest:
    """An open request whose version has no evidence, on an evaluation dataset the version's
    features, a target and the declared sensitive features are columns of."""
    g.install_default_pack(risk_officer)
    columns = ["age", "hours", "sex", "race", "income"]
    dataset = DatasetVersionFactory(
        dataset=DatasetFactory(name="adult-eval", created_by=data_scientist),
        created_by=data_scientist,
        schema=[{"name": n, "dtype": "integer", "nullable": False} for n in columns],
        row_count=100,
        target_column="income",
        sensitive_features=["sex", "race"],
    )
    version = g.governed_version(
        registrant=data_scientist,
        team=team,
        evaluation_dataset=dataset,
        feature_names=["age", "hours", "sex", "race"],
    )
    return promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )


def test_queueing_missing_evidence_with_htmx_shows_its_progress(
    client, assessable, validator, django_capture_on_commit_callbacks
):
    url = action("request-assess", assessable)
    # The job is sent after commit: not running the callback keeps it queued, as a busy worker
    # would, without running a model here.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client, validator, url, {"kind": "fairness"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert len(callbacks) == 1
    queued = Assessment.objects.get()
    assert (queued.kind, queued.status, queued.requested_by) == ("fairness", "queued", validator)
    evaluated_on = assessable.model_version.upstream_edges.get(kind="evaluated_on")
    assert queued.dataset_version == evaluated_on.object_dataset_version
    assert queued.sensitive_features == ["sex", "race"]
    html = response.content.decode()
    assert re.search(r'<progress [^>]*data-testid="assessment-progress" max="100" value="0"', html)
    assert f'hx-get="{reverse("web:assessment-progress", args=[queued.pk])}"' in html
    assert 'hx-trigger="every 1s"' in html

    # The page shows the running assessment instead of the button, and refuses a duplicate.
    page = client.get(assessable_url(assessable)).content.decode()
    assert "Run fairness assessment" not in page
    assert "Run performance assessment" in page
    assert 'data-testid="assessment-progress"' in page
    again = post(client, validator, url, {"kind": "fairness"})
    assert again.status_code == 409
    assert 'data-code="duplicate_assessment"' in again.content.decode()


def assessable_url(request: PromotionRequest) -> str:
    return reverse("web:request", args=[request.pk])


def test_queueing_without_javascript_redirects_back_to_the_evidence(
    client, assessable, data_scientist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = post(
            client, data_scientist, action("request-assess", assessable), {"kind": "performance"}
        )

    assert response.status_code == 302
    assert response["Location"] == assessable_url(assessable) + "#missing-evidence"
    assert Assessment.objects.get().status == AssessmentStatus.QUEUED


def test_queueing_is_refused_to_auditors_and_for_unknown_kinds(
    client, assessable, auditor, validator
):
    url = action("request-assess", assessable)

    assert post(client, auditor, url, {"kind": "performance"}).status_code == 403
    unknown = post(client, validator, url, {"kind": "astrology"})
    assert unknown.status_code == 400
    assert 'data-code="invalid_kind"' in unknown.content.decode()
    assert not Assessment.objects.exists()


def test_queueing_needs_a_declared_evaluation_dataset(client, team, data_scientist, risk_officer):
    g.install_default_pack(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)
    version.upstream_edges.filter(kind="evaluated_on").delete()
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )

    response = post(client, data_scientist, action("request-assess", request), {"kind": "fairness"})

    assert response.status_code == 400
    assert 'data-code="no_evaluation_dataset"' in response.content.decode()
    assert not Assessment.objects.exists()


def test_who_may_not_assess_learns_that_before_anything_about_the_data(
    client, team, data_scientist, risk_officer, auditor
):
    g.install_default_pack(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)
    version.upstream_edges.filter(kind="evaluated_on").delete()
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )
    version_assess = reverse("web:version-assess", args=[version.model.name, version.version])

    for url in (action("request-assess", request), version_assess):
        response = post(client, auditor, url, {"kind": "fairness"})
        assert response.status_code == 403
        assert "auditors read assessments but do not run them" in response.content.decode()
    assert not Assessment.objects.exists()


# --- retry and withdraw ------------------------------------------------------------------------


def test_the_requester_retries_a_blocked_request_once_the_block_is_fixed(
    client, team, data_scientist, validator, risk_officer
):
    g.simple_policy(
        risk_officer,
        checks=[{"id": "card", "type": "documentation_complete", "fields": ["limitations"]}],
    )
    model = RegisteredModelFactory(
        owner_team=team, risk_tier="high", created_by=data_scientist, limitations=""
    )
    version = g.governed_version(registrant=data_scientist, team=team, model=model)
    g.full_evidence(version)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )
    request = promotions.review(by=validator, request=request, decision="approve", comment="ok")
    assert request.status == "approved"
    page_url = assessable_url(request)

    client.force_login(data_scientist)
    html = client.get(page_url).content.decode()
    assert 'data-testid="retry-form"' in html
    assert 'data-testid="request-blocking"' in html
    client.force_login(validator)
    assert 'data-testid="retry-form"' in client.get(page_url).content.decode()
    # Another validator may still reject the blocked request, not approve it.
    client.force_login(UserFactory(username="val2", roles=[roles.VALIDATOR]))
    html = client.get(page_url).content.decode()
    assert 'data-testid="decision-form"' in html
    assert 'value="reject"' in html and 'value="approve"' not in html
    assert 'data-testid="approve-refusal" data-code="approvals_complete"' in html

    still_blocked = post(client, data_scientist, action("request-promote", request), {})
    assert still_blocked.status_code == 409
    assert 'data-code="gate_blocked"' in still_blocked.content.decode()

    update_model(model, by=data_scientist, limitations="Trained on 1994 US census data.")
    response = post(client, data_scientist, action("request-promote", request), {})
    assert response.status_code == 302
    assert status_of(request) == "completed"
    version.refresh_from_db()
    assert version.stage == "production"


def test_a_retry_by_the_auditor_is_refused_and_audited(client, scene, auditor):
    response = post(client, auditor, action("request-promote", scene.request), {})

    assert response.status_code == 403
    assert [r["action"] for r in refusals(scene.request)] == ["promote"]


def test_the_requester_withdraws_the_request(client, scene, data_scientist):
    url = action("request-withdraw", scene.request)
    response = post(client, data_scientist, url, {"reason": "superseded by v3"})

    assert response.status_code == 302
    request = PromotionRequest.objects.get(pk=scene.request.pk)
    assert (request.status, request.status_reason) == ("withdrawn", "superseded by v3")
    html = client.get(scene.url).content.decode()
    assert 'data-testid="withdraw-form"' not in html
    assert 'data-action="promotion.withdrawn"' in html


def test_a_validator_cannot_withdraw_and_sees_no_withdraw_form(client, scene, validator):
    client.force_login(validator)
    assert 'data-testid="withdraw-form"' not in client.get(scene.url).content.decode()

    response = post(client, validator, action("request-withdraw", scene.request), {})

    assert response.status_code == 403
    assert status_of(scene.request) == "open"
    assert [r["action"] for r in refusals(scene.request)] == ["withdraw"]
