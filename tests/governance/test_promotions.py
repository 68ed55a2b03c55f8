"""Promotion requests end to end through the services: every legal and illegal transition,
separation of duties (service and database), stage history, demotion and rollback.

Each flow ends with the audit chain verified. Evidence rows come from gate_setup (the shape the
jobs write); a re-assessment goes through the job's own success path (`state.Run.succeed`).
"""

from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from audit import trail
from audit.models import AuditEvent
from core import roles
from core.errors import Conflict, Forbidden, InvalidInput
from governance.jobs import state
from governance.models import (
    Assessment,
    AssessmentStatus,
    EvaluationPurpose,
    PolicyEvaluation,
    PromotionRequest,
    Review,
    StageChange,
)
from governance.services import promotions, stages
from registry.models import EdgeKind, ModelVersion
from registry.services.models import update_model
from tests.factories import RegisteredModelFactory, UserFactory
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db

JUSTIFY = "passes validation; needed for the Q3 release"


# --- helpers (also used by the state machine) ------------------------------------------------


def ready_version(registrant: Any, team: Any, model: Any = None, **fields: Any) -> ModelVersion:
    """A governed version with passing performance, fairness and explainability evidence."""
    version = g.governed_version(registrant=registrant, team=team, model=model, **fields)
    g.full_evidence(version)
    return version


def reassess(version: ModelVersion, results: dict[str, Any], *, by: Any) -> Assessment:
    """A new assessment of `version` that finishes through the job's success path: queued row,
    claimed by a run, `Run.succeed` (which tells staleness about the new evidence)."""
    edge = version.upstream_edges.filter(kind=EdgeKind.EVALUATED_ON).first()
    dataset_version = edge.object_dataset_version
    kind = results["kind"]
    assessment = Assessment.objects.create(
        kind=kind,
        model_version=version,
        dataset_version=dataset_version,
        sensitive_features=list(g.SENSITIVE) if kind != "performance" else [],
        parameters={},
        request_key=f"reassess-{kind}-{version.pk}-{Assessment.objects.count()}",
        artifact_sha256=version.artifact_sha256,
        dataset_sha256=dataset_version.sha256,
        status=AssessmentStatus.QUEUED,
        requested_by=by,
    )
    run = state.claim(assessment.pk)
    assert run is not None
    assert run.succeed(
        results=results, results_sha256="1" * 64, provenance={}, timings={}, charts=[]
    )
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.SUCCEEDED
    return assessment


def actions(**filters: Any) -> list[str]:
    return list(
        AuditEvent.objects.filter(**filters).order_by("id").values_list("action", flat=True)
    )


def events_for(request: PromotionRequest) -> list[str]:
    return actions(target_type="governance.promotionrequest", target_id=str(request.pk))


def chain_ok() -> None:
    result = trail.verify_chain()
    assert result.valid, result.reason


def fresh(request: PromotionRequest) -> PromotionRequest:
    return PromotionRequest.objects.get(pk=request.pk)


def person(name: str, *role_names: str, team: Any = None) -> Any:
    user = UserFactory(username=name, roles=list(role_names))
    if team is not None:
        team.members.add(user)
    return user


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


@pytest.fixture
def pack(risk_officer):
    g.install_default_pack(risk_officer)


@pytest.fixture
def version(pack, data_scientist, team):
    return ready_version(data_scientist, team)


def open_production(by: Any, version: ModelVersion, **kwargs: Any) -> PromotionRequest:
    return promotions.open_request(
        by=by, version=version, target_stage="production", justification=JUSTIFY, **kwargs
    )


def approve(by: Any, request: PromotionRequest, comment: str = "evidence reviewed") -> Any:
    return promotions.review(by=by, request=request, decision="approve", comment=comment)


def promote_through(
    version: ModelVersion, requester: Any, reviewers: list[Any], stage: str = "production"
) -> PromotionRequest:
    request = promotions.open_request(
        by=requester, version=version, target_stage=stage, justification=JUSTIFY
    )
    for reviewer in reviewers:
        request = approve(reviewer, request)
    assert request.status == "completed", request.status_reason
    return request


# --- legal transitions -----------------------------------------------------------------------


def test_open_to_completed_on_the_last_required_approval(
    version, data_scientist, validator, risk_officer
):
    request = open_production(data_scientist, version)
    assert request.status == "open"
    assert request.required_approvals == {"validator": 1, "risk officer": 1}
    assert request.from_stage == "none"
    assert request.artifact_sha256 == version.artifact_sha256
    first_look = PolicyEvaluation.objects.get(promotion_request=request)
    assert first_look.purpose == EvaluationPurpose.REQUEST
    assert not first_look.passed  # the approvals check waits for reviewers
    assert {c.check_id for c in first_look.checks.filter(passed=False)} == {"approvals"}

    request = approve(validator, request)
    assert request.status == "open"
    version.refresh_from_db()
    assert version.stage == "none"
    assert StageChange.objects.count() == 0

    request = approve(risk_officer, request)
    assert request.status == "completed"
    assert request.closed_at is not None
    assert request.blocking == []
    version.refresh_from_db()
    assert version.stage == "production"
    change = StageChange.objects.get()
    assert (change.model_version, change.from_stage, change.to_stage, change.kind) == (
        version,
        "none",
        "production",
        "promotion",
    )
    assert change.promotion_request == request
    assert change.changed_by == risk_officer
    assert change.evaluation.purpose == EvaluationPurpose.PROMOTION
    assert change.evaluation.passed
    assert change.evaluation.artifact_sha256 == version.artifact_sha256
    assert change.evaluation.promotion_request == request
    assert list(Review.objects.filter(request=request).values_list("role", flat=True)) == [
        "validator",
        "risk officer",
    ]
    assert events_for(request) == [
        "promotion.requested",
        "promotion.approved",
        "promotion.completed",
    ]
    assert actions(action__startswith="promotion.reviewed") == ["promotion.reviewed"] * 2
    completed = AuditEvent.objects.get(action="promotion.completed")  # one event, not two
    assert completed.data["evaluation"] == change.evaluation.pk
    assert completed.data["artifact_sha256"] == version.artifact_sha256
    assert completed.data["reason"] == "promoted to production"
    assert actions(target_type="registry.modelversion", target_id=str(version.pk)) == [
        "registry.version.stage_changed"
    ]
    chain_ok()


def test_open_to_approved_when_blocked_then_completed_by_a_promote_retry(
    risk_officer, data_scientist, validator, team
):
    g.simple_policy(
        risk_officer,
        checks=[{"id": "card", "type": "documentation_complete", "fields": ["limitations"]}],
    )
    model = RegisteredModelFactory(
        owner_team=team, risk_tier="high", created_by=data_scientist, limitations=""
    )
    version = ready_version(data_scientist, team, model=model)
    request = open_production(data_scientist, version)

    request = approve(validator, request)
    assert request.status == "approved"
    assert request.status_reason == "approved, but the policy gate is blocked"
    assert [(b["check"], b["reason"]) for b in request.blocking] == [
        ("card", "model card fields empty: limitations")
    ]
    version.refresh_from_db()
    assert version.stage == "none"
    assert StageChange.objects.count() == 0
    assert events_for(request)[-2:] == ["promotion.approved", "promotion.blocked"]

    # Every approval is in: another approval is refused, the retry is still blocked.
    other_validator = person("val2", roles.VALIDATOR)
    with pytest.raises(Conflict) as refused:
        approve(other_validator, request)
    assert refused.value.code == "approvals_complete"
    with pytest.raises(Conflict) as blocked:
        promotions.promote(by=data_scientist, request=request)
    assert blocked.value.code == "gate_blocked"
    assert blocked.value.extra["blocking"][0]["check"] == "card"
    assert fresh(request).status == "approved"

    # Editing the model card is not a change of what the request was opened on.
    update_model(model, by=data_scientist, limitations="Trained on 1994 US census data.")
    assert fresh(request).status == "approved"

    request = promotions.promote(by=data_scientist, request=request)
    assert request.status == "completed"
    assert request.blocking == []
    version.refresh_from_db()
    assert version.stage == "production"
    change = StageChange.objects.get()
    assert change.evaluation.passed and change.promotion_request == request
    evaluations = PolicyEvaluation.objects.filter(promotion_request=request).order_by("id")
    assert [(e.purpose, e.passed) for e in evaluations] == [
        ("request", False),
        ("promotion", False),
        ("promotion", False),
        ("promotion", True),
    ]
    assert events_for(request).count("promotion.blocked") == 2
    assert events_for(request)[-1] == "promotion.completed"
    chain_ok()


def test_staging_does_not_need_production_and_does_not_archive(
    version, data_scientist, validator, risk_officer, team
):
    promote_through(version, data_scientist, [validator, risk_officer])
    candidate = ready_version(data_scientist, team, model=version.model)
    promote_through(candidate, data_scientist, [validator, risk_officer], stage="staging")
    version.refresh_from_db()
    candidate.refresh_from_db()
    assert (version.stage, candidate.stage) == ("production", "staging")
    last = StageChange.objects.filter(model_version=candidate).get()
    assert (last.from_stage, last.to_stage, last.kind) == ("none", "staging", "promotion")
    assert not StageChange.objects.filter(kind="replaced").exists()
    chain_ok()


def test_open_to_rejected(version, data_scientist, validator, risk_officer):
    request = open_production(data_scientist, version)
    approve(validator, request)
    request = promotions.review(
        by=risk_officer, request=request, decision="reject", comment="fairness evidence too thin"
    )
    assert request.status == "rejected"
    assert request.status_reason == "rejected by rita: fairness evidence too thin"
    version.refresh_from_db()
    assert version.stage == "none"
    assert not StageChange.objects.exists()
    assert Review.objects.get(request=request, reviewer=risk_officer).decision == "reject"
    assert events_for(request)[-1] == "promotion.rejected"
    chain_ok()


def test_an_approved_but_blocked_request_can_still_be_rejected(
    risk_officer, data_scientist, validator, team
):
    g.simple_policy(risk_officer, roles={"validator": 1, "risk officer": 1})
    version = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(version, "performance", g.performance_results(roc_auc=0.7))
    request = open_production(data_scientist, version)
    approve(validator, request)
    request = approve(risk_officer, request)
    assert request.status == "approved"
    second_validator = person("val2", roles.VALIDATOR)
    request = promotions.review(
        by=second_validator, request=request, decision="reject", comment="AUC too low"
    )
    assert request.status == "rejected"
    assert Review.objects.filter(request=request).count() == 3
    chain_ok()


def test_open_and_approved_requests_can_be_withdrawn(
    risk_officer, data_scientist, validator, team, outsider
):
    g.simple_policy(risk_officer)
    opened = ready_version(data_scientist, team)
    request = open_production(data_scientist, opened)
    with pytest.raises(Forbidden):
        promotions.withdraw(by=validator, request=request, reason="not mine")
    assert fresh(request).status == "open"
    request = promotions.withdraw(by=data_scientist, request=request, reason="  wrong version ")
    assert (request.status, request.status_reason) == ("withdrawn", "wrong version")
    assert events_for(request)[-2:] == ["promotion.refused", "promotion.withdrawn"]

    blocked = g.governed_version(registrant=data_scientist, team=team)  # no evidence: blocked
    request = open_production(data_scientist, blocked)
    request = approve(validator, request)
    assert request.status == "approved"
    request = promotions.withdraw(by=data_scientist, request=request)
    assert (request.status, request.status_reason) == ("withdrawn", "withdrawn")
    # A withdrawn request frees the version for a new one.
    assert open_production(data_scientist, blocked).status == "open"
    chain_ok()


# --- stale -----------------------------------------------------------------------------------


def test_a_policy_change_makes_open_and_approved_requests_stale(
    risk_officer, data_scientist, validator, team
):
    g.simple_policy(risk_officer)
    open_one = open_production(data_scientist, ready_version(data_scientist, team))
    approved_one = open_production(
        data_scientist, g.governed_version(registrant=data_scientist, team=team)
    )
    assert approve(validator, approved_one).status == "approved"  # blocked: no evidence
    unaffected = promotions.open_request(
        by=data_scientist,
        version=ready_version(data_scientist, team),
        target_stage="staging",
        justification=JUSTIFY,
    )

    # A second version of the policy, scoped to production only.
    new = g.simple_policy(risk_officer, stages=("production",), roles={"validator": 2})
    assert new.version == 2
    for request in (open_one, approved_one):
        request = fresh(request)
        assert request.status == "stale"
        assert "the applicable policies changed" in request.status_reason
        assert "test-policy v2" in request.status_reason
        assert events_for(request)[-1] == "promotion.stale"
    # The staging request's applicable set changed too (v1 no longer applies, nothing does).
    assert fresh(unaffected).status == "stale"
    # A stale request refuses reviews and retries with 409; the new request pins the new policy.
    with pytest.raises(Conflict) as refused:
        approve(person("val2", roles.VALIDATOR), open_one)
    assert refused.value.code == "request_not_open"
    renewed = open_production(data_scientist, open_one.model_version)
    assert renewed.required_approvals == {"validator": 2}
    assert list(renewed.policy_versions.all()) == [new]
    chain_ok()


def test_a_policy_that_does_not_touch_the_request_leaves_it_open(
    risk_officer, data_scientist, team
):
    g.simple_policy(risk_officer, tiers=("high",))
    request = open_production(data_scientist, ready_version(data_scientist, team))
    g.simple_policy(risk_officer, name="minimal-only", tiers=("minimal",))
    assert fresh(request).status == "open"
    chain_ok()


def test_a_risk_tier_change_makes_the_request_stale(pack, data_scientist, validator, team):
    version = ready_version(data_scientist, team)
    request = open_production(data_scientist, version)
    approve(validator, request)
    update_model(version.model, by=data_scientist, risk_tier="limited")
    request = fresh(request)
    assert request.status == "stale"
    assert request.status_reason == "the model's risk tier changed from high to limited"
    renewed = open_production(data_scientist, version)
    assert renewed.risk_tier == "limited"
    assert renewed.required_approvals == {"validator": 1}
    chain_ok()


def test_new_evidence_after_an_approval_makes_the_request_stale_through_the_job(
    version, data_scientist, validator
):
    request = open_production(data_scientist, version)
    # Before any approval, new evidence simply joins the record.
    reassess(version, g.performance_results(roc_auc=0.91), by=data_scientist)
    assert fresh(request).status == "open"

    approve(validator, request)
    assessment = reassess(version, g.performance_results(roc_auc=0.92), by=data_scientist)
    request = fresh(request)
    assert request.status == "stale"
    assert request.status_reason == (
        f"new evidence: performance assessment #{assessment.pk} finished after approvals were given"
    )
    stale_event = AuditEvent.objects.filter(action="promotion.stale").get()
    assert stale_event.actor_id is None
    chain_ok()


def test_new_evidence_makes_an_approved_blocked_request_stale(
    risk_officer, data_scientist, validator, team
):
    g.simple_policy(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(version, "performance", g.performance_results(roc_auc=0.7))
    request = approve(validator, open_production(data_scientist, version))
    assert request.status == "approved"
    reassess(version, g.performance_results(roc_auc=0.9), by=data_scientist)
    assert fresh(request).status == "stale"
    with pytest.raises(Conflict) as refused:
        promotions.promote(by=data_scientist, request=request)
    assert refused.value.code == "request_not_approved"
    chain_ok()


def test_a_demotion_makes_the_versions_open_request_stale(
    version, data_scientist, validator, risk_officer
):
    promote_through(version, data_scientist, [validator, risk_officer], stage="staging")
    request = open_production(data_scientist, version)
    assert request.from_stage == "staging"
    promotions.demote(by=risk_officer, version=version, reason="data drift found in staging")
    request = fresh(request)
    assert request.status == "stale"
    assert request.status_reason == f"{version} moved to archived"
    chain_ok()


def test_a_version_replaced_in_production_has_its_open_request_made_stale(
    version, data_scientist, validator, risk_officer, team
):
    promote_through(version, data_scientist, [validator, risk_officer])
    # A request to move the production version back to staging, open while another version
    # replaces it in production.
    back = promotions.open_request(
        by=data_scientist, version=version, target_stage="staging", justification=JUSTIFY
    )
    successor = ready_version(data_scientist, team, model=version.model)
    promote_through(successor, data_scientist, [validator, risk_officer])
    version.refresh_from_db()
    assert version.stage == "archived"
    back = fresh(back)
    assert back.status == "stale"
    assert "archived" in back.status_reason
    chain_ok()


def test_a_stale_request_found_at_review_time_is_closed_with_the_refusal(
    version, data_scientist, validator
):
    """A request whose pins no longer match is caught by the next action on it, whatever the
    sweeps did (on PostgreSQL a sweep skips a row a concurrent review holds; see
    test_promotion_concurrency). Here the pins are changed behind the services' back."""
    request = open_production(data_scientist, version)
    request.policy_versions.clear()
    with pytest.raises(Conflict) as refused:
        approve(validator, request)
    assert refused.value.code == "request_stale"
    request = fresh(request)
    assert request.status == "stale"
    assert not Review.objects.filter(request=request).exists()
    assert events_for(request)[-2:] == ["promotion.stale", "promotion.refused"]
    chain_ok()


# --- illegal transitions ---------------------------------------------------------------------


@pytest.fixture
def closed_requests(risk_officer, data_scientist, validator, team):
    """One request in each closed state, each of its own version."""
    g.simple_policy(risk_officer)
    completed = promote_through(ready_version(data_scientist, team), data_scientist, [validator])
    rejected = open_production(data_scientist, ready_version(data_scientist, team))
    rejected = promotions.review(by=validator, request=rejected, decision="reject", comment="no")
    withdrawn = open_production(data_scientist, ready_version(data_scientist, team))
    withdrawn = promotions.withdraw(by=data_scientist, request=withdrawn)
    stale = open_production(data_scientist, ready_version(data_scientist, team))
    g.simple_policy(risk_officer, roles={"validator": 2})
    stale = fresh(stale)
    requests = {
        "completed": completed,
        "rejected": rejected,
        "withdrawn": withdrawn,
        "stale": stale,
    }
    assert {name: r.status for name, r in requests.items()} == {n: n for n in requests}
    return requests


@pytest.mark.parametrize("status", ["completed", "rejected", "withdrawn", "stale"])
def test_closed_requests_refuse_review_withdraw_and_promote_with_409(
    closed_requests, status, data_scientist, admin_user
):
    request = closed_requests[status]
    reviewer = person("val9", roles.VALIDATOR)
    before = Review.objects.filter(request=request).count()
    attempts = [
        (lambda: approve(reviewer, request), "request_not_open"),
        (
            lambda: promotions.review(
                by=reviewer, request=request, decision="reject", comment="late"
            ),
            "request_not_open",
        ),
        (lambda: promotions.withdraw(by=data_scientist, request=request), "request_not_open"),
        (lambda: promotions.withdraw(by=admin_user, request=request), "request_not_open"),
        (lambda: promotions.promote(by=data_scientist, request=request), "request_not_approved"),
    ]
    for attempt, code in attempts:
        with pytest.raises(Conflict) as refused:
            attempt()
        assert refused.value.code == code
    assert fresh(request).status == status
    assert Review.objects.filter(request=request).count() == before
    assert [r["code"] for r in refusals(request)] == [code for _, code in attempts]
    chain_ok()


def test_a_second_open_request_for_the_same_version_is_a_duplicate(
    version, data_scientist, validator, team
):
    colleague = person("dora", roles.DATA_SCIENTIST, team=team)
    first = open_production(data_scientist, version)
    for stage in ("production", "staging"):
        with pytest.raises(Conflict) as refused:
            promotions.open_request(
                by=colleague, version=version, target_stage=stage, justification=JUSTIFY
            )
        assert refused.value.code == "duplicate_request"
    approve(validator, first)  # open still (needs a risk officer too): still a duplicate
    with pytest.raises(Conflict):
        open_production(colleague, version)
    assert PromotionRequest.objects.filter(model_version=version).count() == 1
    chain_ok()


def test_the_database_refuses_a_second_active_request(version, data_scientist):
    first = open_production(data_scientist, version)
    with pytest.raises(IntegrityError), transaction.atomic():
        PromotionRequest.objects.create(
            model=version.model,
            model_version=version,
            target_stage="staging",
            from_stage="none",
            justification="sneaking past the service",
            artifact_sha256=version.artifact_sha256,
            risk_tier="high",
            requested_by=data_scientist,
        )
    assert PromotionRequest.objects.filter(model_version=version).get() == first


def test_a_request_for_the_stage_the_version_is_in_is_refused(
    version, data_scientist, validator, risk_officer
):
    promote_through(version, data_scientist, [validator, risk_officer])
    with pytest.raises(Conflict) as refused:
        open_production(data_scientist, version)
    assert refused.value.code == "already_in_stage"
    assert PromotionRequest.objects.filter(model_version=version).count() == 1
    # Another stage is a legal request (production -> staging).
    assert (
        promotions.open_request(
            by=data_scientist, version=version, target_stage="staging", justification=JUSTIFY
        ).from_stage
        == "production"
    )


def test_opening_is_refused_with_the_reason(
    version, data_scientist, other_data_scientist, validator, outsider
):
    with pytest.raises(InvalidInput) as bad:
        promotions.open_request(
            by=data_scientist, version=version, target_stage="archived", justification=JUSTIFY
        )
    assert bad.value.extra == {"field": "target_stage"}
    with pytest.raises(InvalidInput) as bad:
        promotions.open_request(
            by=data_scientist, version=version, target_stage="production", justification="  "
        )
    assert bad.value.extra == {"field": "justification"}
    for user in (other_data_scientist, validator, outsider):
        with pytest.raises(Forbidden):
            open_production(user, version)
    assert not PromotionRequest.objects.exists()
    refused = AuditEvent.objects.filter(action="promotion.request_refused")
    assert refused.count() == 3
    assert {e.actor_username for e in refused} == {"omar", "vera", "otto"}
    chain_ok()


def test_promote_on_an_open_request_is_refused(version, data_scientist, validator, outsider):
    request = open_production(data_scientist, version)
    with pytest.raises(Conflict) as refused:
        promotions.promote(by=data_scientist, request=request)
    assert refused.value.code == "request_not_approved"
    with pytest.raises(Forbidden):
        promotions.promote(by=outsider, request=request)
    assert fresh(request).status == "open"
    assert [r["action"] for r in refusals(request)] == ["promote", "promote"]
    assert not StageChange.objects.exists()
    chain_ok()


def test_demote_refuses_versions_not_in_production_or_staging(
    version, data_scientist, validator, risk_officer, team
):
    with pytest.raises(Conflict) as refused:
        promotions.demote(by=risk_officer, version=version, reason="precaution")
    assert refused.value.code == "not_demotable"
    promote_through(version, data_scientist, [validator, risk_officer])
    with pytest.raises(Forbidden):
        promotions.demote(by=data_scientist, version=version, reason="mine to pull")
    with pytest.raises(Forbidden):
        promotions.demote(by=validator, version=version, reason="not my call")
    with pytest.raises(InvalidInput):
        promotions.demote(by=risk_officer, version=version, reason=" ")
    promotions.demote(by=risk_officer, version=version, reason="incident 42")
    with pytest.raises(Conflict) as again:
        promotions.demote(by=risk_officer, version=version, reason="again")
    assert again.value.code == "not_demotable"
    refused = AuditEvent.objects.filter(action="promotion.demotion_refused").order_by("id")
    assert [e.data["code"] for e in refused] == [
        "not_demotable",
        "permission_denied",
        "permission_denied",
        "not_demotable",
    ]
    version.refresh_from_db()
    assert version.stage == "archived"
    chain_ok()


def test_rollback_with_nothing_to_roll_back_is_refused(
    version, data_scientist, validator, risk_officer
):
    with pytest.raises(Conflict) as refused:
        promotions.rollback(by=data_scientist, model=version.model, justification="undo")
    assert refused.value.code == "nothing_to_roll_back"
    promote_through(version, data_scientist, [validator, risk_officer])
    with pytest.raises(Conflict) as still:
        promotions.rollback(by=data_scientist, model=version.model, justification="undo")
    assert still.value.code == "nothing_to_roll_back"  # in production, never taken out
    assert PromotionRequest.objects.count() == 1


def test_review_input_is_validated(version, data_scientist, validator):
    request = open_production(data_scientist, version)
    with pytest.raises(InvalidInput) as bad:
        promotions.review(by=validator, request=request, decision="maybe", comment="hmm")
    assert bad.value.extra == {"field": "decision"}
    with pytest.raises(InvalidInput) as bad:
        promotions.review(by=validator, request=request, decision="approve", comment="   ")
    assert bad.value.extra == {"field": "comment"}
    assert not Review.objects.exists()


# --- separation of duties --------------------------------------------------------------------


def test_the_requester_and_the_registrant_cannot_review_even_with_a_reviewing_role(
    pack, team, risk_officer
):
    # Both hold the validator role too, so only separation of duties stands in their way.
    registrant = person("reg", roles.DATA_SCIENTIST, roles.VALIDATOR, team=team)
    requester = person("req", roles.DATA_SCIENTIST, roles.VALIDATOR, roles.RISK_OFFICER, team=team)
    version = ready_version(registrant, team)
    request = open_production(requester, version)
    for user, words in ((requester, "you made this request"), (registrant, "you registered")):
        for decision in ("approve", "reject"):
            with pytest.raises(Forbidden) as refused:
                promotions.review(by=user, request=request, decision=decision, comment="fine")
            assert refused.value.code == "self_review"
            assert words in refused.value.detail
            assert promotions.review_refusal(user, request, decision).code == "self_review"
    assert not Review.objects.filter(request=request).exists()
    assert fresh(request).status == "open"
    logged = refusals(request)
    assert [r["code"] for r in logged] == ["self_review"] * 4
    assert [r["decision"] for r in logged] == ["approve", "reject"] * 2
    assert {e.actor_username for e in AuditEvent.objects.filter(action="promotion.refused")} == {
        "req",
        "reg",
    }
    chain_ok()


def test_the_database_refuses_a_review_by_the_requester_or_the_registrant(pack, team, validator):
    registrant = person("reg", roles.DATA_SCIENTIST, roles.VALIDATOR, team=team)
    requester = person("req", roles.DATA_SCIENTIST, roles.VALIDATOR, team=team)
    request = open_production(requester, ready_version(registrant, team))
    for user in (requester, registrant):
        with pytest.raises(IntegrityError) as refused, transaction.atomic():
            Review.objects.create(
                request=request, reviewer=user, decision="approve", role="validator", comment="ok"
            )
        assert "separation of duties" in str(refused.value)
    Review.objects.create(
        request=request, reviewer=validator, decision="approve", role="validator", comment="ok"
    )
    with pytest.raises(IntegrityError) as twice, transaction.atomic():
        Review.objects.create(
            request=request, reviewer=validator, decision="reject", role="validator", comment="no"
        )
    assert "one_review_per_person" in str(twice.value) or "UNIQUE" in str(twice.value)
    assert Review.objects.filter(request=request).count() == 1


def test_a_second_review_by_the_same_person_is_refused(
    version, data_scientist, validator, risk_officer
):
    request = open_production(data_scientist, version)
    approve(validator, request)
    for decision in ("approve", "reject"):
        with pytest.raises(Conflict) as refused:
            promotions.review(by=validator, request=request, decision=decision, comment="again")
        assert refused.value.code == "already_reviewed"
    assert Review.objects.filter(request=request).count() == 1
    assert [r["code"] for r in refusals(request)] == ["already_reviewed"] * 2
    assert fresh(request).status == "open"
    # The request still completes with the other role.
    assert approve(risk_officer, request).status == "completed"
    chain_ok()


def test_a_person_with_two_roles_counts_once(version, data_scientist, risk_officer):
    both = person("bea", roles.VALIDATOR, roles.RISK_OFFICER)
    request = open_production(data_scientist, version)
    assert request.required_approvals == {"validator": 1, "risk officer": 1}
    request = approve(both, request)
    assert request.status == "open"
    assert Review.objects.get(request=request).role == "validator"
    with pytest.raises(Conflict) as refused:
        approve(both, request)
    assert refused.value.code == "already_reviewed"
    assert request.status == "open"
    assert Review.objects.filter(request=request).count() == 1
    # A second validator cannot fill the risk officer's place either.
    with pytest.raises(Conflict) as full:
        approve(person("val2", roles.VALIDATOR), request)
    assert full.value.code == "role_complete"
    assert "1 risk officer" in full.value.detail
    assert approve(risk_officer, request).status == "completed"
    chain_ok()


def test_a_dual_role_reviewer_fills_the_role_still_missing(version, data_scientist, validator):
    request = open_production(data_scientist, version)
    approve(validator, request)
    both = person("bea", roles.VALIDATOR, roles.RISK_OFFICER)
    request = approve(both, request)
    assert request.status == "completed"
    assert Review.objects.get(request=request, reviewer=both).role == "risk officer"


def test_a_dual_role_reviewer_fills_the_scarcer_role_so_the_request_can_complete(
    version, data_scientist, validator
):
    """Validators outnumber risk officers (three to two, one of them also a validator): her
    approval counts for the scarcer risk-officer slot, so any validator can complete it."""
    person("val2", roles.VALIDATOR)
    both = person("bea", roles.VALIDATOR, roles.RISK_OFFICER)
    request = open_production(data_scientist, version)

    request = approve(both, request)

    assert Review.objects.get(request=request, reviewer=both).role == "risk officer"
    assert approve(validator, request).status == "completed"
    chain_ok()


def test_only_required_roles_review_and_auditors_never_do(
    risk_officer, data_scientist, validator, auditor, outsider, other_data_scientist, team
):
    g.simple_policy(risk_officer, roles={"validator": 1})
    request = open_production(data_scientist, ready_version(data_scientist, team))
    for user in (risk_officer, auditor, outsider, other_data_scientist):
        with pytest.raises(Forbidden) as refused:
            approve(user, request)
        assert refused.value.code == "not_a_reviewer"
    assert "auditors" in promotions.review_refusal(auditor, request, "approve").detail
    assert not Review.objects.exists()
    assert [r["code"] for r in refusals(request)] == ["not_a_reviewer"] * 4
    assert promotions.review_refusal(validator, request, "approve") is None
    assert approve(validator, request).status == "completed"
    chain_ok()


# --- stage history, demotion, rollback -------------------------------------------------------


def test_production_promotion_archives_the_previous_version_in_the_same_transaction(
    version, data_scientist, validator, risk_officer, team
):
    first = promote_through(version, data_scientist, [validator, risk_officer])
    successor = ready_version(data_scientist, team, model=version.model)
    second = promote_through(successor, data_scientist, [validator, risk_officer])
    version.refresh_from_db()
    successor.refresh_from_db()
    assert (version.stage, successor.stage) == ("archived", "production")
    rows = list(StageChange.objects.filter(promotion_request=second).order_by("id"))
    assert [(r.model_version, r.from_stage, r.to_stage, r.kind) for r in rows] == [
        (version, "production", "archived", "replaced"),
        (successor, "none", "production", "promotion"),
    ]
    evaluation = rows[1].evaluation
    assert rows[0].evaluation == evaluation
    assert evaluation.purpose == "promotion" and evaluation.passed
    assert evaluation.baseline_version == version  # compared against the production version
    assert rows[0].reason == f"replaced in production by {successor}"
    assert StageChange.objects.filter(promotion_request=first).count() == 1
    assert ModelVersion.objects.filter(model=version.model, stage="production").count() == 1
    chain_ok()


def test_stage_at_answers_which_version_was_in_production_at_a_time(
    version, data_scientist, validator, risk_officer, team, django_assert_num_queries
):
    model = version.model
    before_any = timezone.now()
    promote_through(version, data_scientist, [validator, risk_officer])
    successor = ready_version(data_scientist, team, model=model)
    promote_through(successor, data_scientist, [validator, risk_officer])
    promotions.demote(by=risk_officer, version=successor, reason="incident 7")

    first_in, replaced, second_in, demoted = StageChange.objects.filter(model=model).order_by("id")
    # The replacement and the promotion are one transaction; the demotion comes later.
    assert first_in.created_at < replaced.created_at <= second_in.created_at < demoted.created_at
    between = first_in.created_at + (second_in.created_at - first_in.created_at) / 2
    with django_assert_num_queries(1):
        at_first = list(stages.stage_at(model, first_in.created_at, "production"))
    assert [c.model_version for c in at_first] == [version]
    assert at_first[0].changed_by == risk_officer
    assert at_first[0].promotion_request.model_version == version
    assert first_in.created_at < between < second_in.created_at
    assert [c.model_version for c in stages.stage_at(model, between, "production")] == [version]
    assert [
        c.model_version for c in stages.stage_at(model, second_in.created_at, "production")
    ] == [successor]
    assert list(stages.stage_at(model, demoted.created_at, "production")) == []
    assert list(stages.stage_at(model, before_any - timedelta(seconds=1), "production")) == []
    archived_now = stages.stage_at(model, timezone.now(), "archived")
    assert {c.model_version_id: c.kind for c in archived_now} == {
        version.pk: "replaced",
        successor.pk: "demotion",
    }


def test_demotion_by_a_risk_officer_takes_the_version_out_at_once(
    version, data_scientist, validator, risk_officer
):
    promote_through(version, data_scientist, [validator, risk_officer])
    change = promotions.demote(by=risk_officer, version=version, reason="incident 42")
    version.refresh_from_db()
    assert version.stage == "archived"
    assert (change.from_stage, change.to_stage, change.kind) == (
        "production",
        "archived",
        "demotion",
    )
    assert change.promotion_request is None and change.evaluation is None
    assert change.reason == "incident 42" and change.changed_by == risk_officer
    assert not ModelVersion.objects.filter(model=version.model, stage="production").exists()
    chain_ok()


def test_rollback_re_promotes_the_previous_production_version_through_the_gate(
    version, data_scientist, validator, risk_officer, team
):
    model = version.model
    promote_through(version, data_scientist, [validator, risk_officer])
    successor = ready_version(data_scientist, team, model=model)
    promote_through(successor, data_scientist, [validator, risk_officer])
    assert stages.previous_production(model) == version

    request = promotions.rollback(
        by=data_scientist, model=model, justification="v2 misbehaves in production"
    )
    assert request.is_rollback and request.model_version == version
    assert (request.from_stage, request.target_stage) == ("archived", "production")
    assert request.required_approvals == {"validator": 1, "risk officer": 1}
    approve(validator, request)
    request = approve(risk_officer, request)
    assert request.status == "completed"
    version.refresh_from_db()
    successor.refresh_from_db()
    assert (version.stage, successor.stage) == ("production", "archived")
    rows = list(StageChange.objects.filter(promotion_request=request).order_by("id"))
    assert [(r.model_version, r.kind, r.from_stage, r.to_stage) for r in rows] == [
        (successor, "replaced", "production", "archived"),
        (version, "rollback", "archived", "production"),
    ]
    assert rows[1].evaluation.passed
    assert stages.previous_production(model) == successor
    chain_ok()


def test_a_rollback_blocked_by_the_production_baseline_completes_once_production_is_demoted(
    version, data_scientist, validator, risk_officer, team
):
    """approved (blocked) -> completed by a promote retry, legally: the roc-auc check compares
    with the production version, and taking that version out of production unblocks it."""
    model = version.model
    promote_through(version, data_scientist, [validator, risk_officer])
    successor = g.governed_version(registrant=data_scientist, team=team, model=model)
    g.full_evidence(successor, performance=g.performance_results(roc_auc=0.95))
    promote_through(successor, data_scientist, [validator, risk_officer])

    request = promotions.rollback(by=data_scientist, model=model, justification="bring v1 back")
    approve(validator, request)
    request = approve(risk_officer, request)
    assert request.status == "approved"
    assert [b["check"] for b in request.blocking] == ["roc-auc"]
    assert "worse than production" in request.blocking[0]["reason"]
    version.refresh_from_db()
    assert version.stage == "archived"

    promotions.demote(by=risk_officer, version=successor, reason="incident 9")
    assert fresh(request).status == "approved"  # the rollback's version did not move
    request = promotions.promote(by=validator, request=request)
    assert request.status == "completed"
    version.refresh_from_db()
    assert version.stage == "production"
    change = StageChange.objects.get(promotion_request=request)
    assert (change.kind, change.from_stage, change.to_stage) == (
        "rollback",
        "archived",
        "production",
    )
    assert change.evaluation.passed and change.evaluation.baseline_version is None
    chain_ok()


def test_a_raw_stage_update_without_history_is_refused_by_the_database(
    version, data_scientist, validator, risk_officer
):
    with (
        pytest.raises(DatabaseError) as raw,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE registry_modelversion SET stage = 'production' WHERE id = %s", [version.pk]
        )
    assert "only through the promotion service" in str(raw.value)
    with pytest.raises(DatabaseError), transaction.atomic():
        ModelVersion.objects.filter(pk=version.pk).update(stage="staging")
    version.refresh_from_db()
    assert version.stage == "none"
    # After a real promotion, moving it back by hand is refused as well.
    promote_through(version, data_scientist, [validator, risk_officer])
    with pytest.raises(DatabaseError), transaction.atomic():
        ModelVersion.objects.filter(pk=version.pk).update(stage="archived")
    version.refresh_from_db()
    assert version.stage == "production"
    # A history row that does not match the update (archived -> production) does not help.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE registry_modelversion SET stage = 'staging' WHERE id = %s", [version.pk]
        )
    # And history itself is immutable.
    with pytest.raises(DatabaseError), transaction.atomic():
        StageChange.objects.filter(model_version=version).update(reason="rewritten")
    chain_ok()
