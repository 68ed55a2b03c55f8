"""REST API of promotion requests, reviews and stage changes: every verb calls the promotion
service; refusals (separation of duties, roles, state) are 403/409 with a stable code, write an
audit event and nothing else; lists cost a constant number of queries; the stage history answers
"which version was in production at time T"."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit import trail
from audit.models import AuditEvent
from core import roles
from governance.models import (
    PolicyEvaluation,
    PromotionRequest,
    Review,
    StageChange,
)
from governance.services import promotions
from registry.models import RegisteredModel
from tests.factories import UserFactory
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db

REQUESTS = "/api/v1/promotion-requests/"


def detail(pk: int) -> str:
    return f"{REQUESTS}{pk}/"


def fresh(user: User) -> User:
    """The user as a new request loads it (roles not cached yet)."""
    return User.objects.get(pk=user.pk)


def ask(client, version, stage="production", justification="validated on the 2026 data"):
    return client.post(
        REQUESTS,
        {
            "model": version.model.name,
            "version": version.version,
            "target_stage": stage,
            "justification": justification,
        },
        format="json",
    )


def review(client, pk, decision="approve", comment="evidence checked"):
    return client.post(
        f"{detail(pk)}reviews/", {"decision": decision, "comment": comment}, format="json"
    )


def refusals(request_pk: int) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action="promotion.refused",
            target_type="governance.promotionrequest",
            target_id=str(request_pk),
        )
    )


@pytest.fixture
def ready(team, data_scientist, risk_officer):
    """A high-risk version with passing evidence under the default pack (needs one validator
    and one risk officer)."""
    g.install_default_pack(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version)
    return version


@pytest.fixture
def open_request(ready, data_scientist):
    return promotions.open_request(
        by=data_scientist, version=ready, target_stage="production", justification="ready"
    )


# --- the whole path ------------------------------------------------------------------------


def test_request_review_and_promotion_through_the_api(
    api, ready, data_scientist, validator, risk_officer, auditor
):
    created = ask(api(data_scientist), ready)

    assert created.status_code == 201, created.content
    body = created.json()
    request = PromotionRequest.objects.get()
    assert body["id"] == request.pk and body["status"] == "open"
    assert body["url"] == f"http://testserver{detail(request.pk)}" == created["Location"]
    assert (body["model"], body["version"], body["target_stage"]) == (
        ready.model.name,
        1,
        "production",
    )
    assert body["from_stage"] == "none" and body["team"] == "credit-risk"
    assert body["requested_by"] == "dana" and body["justification"] == "validated on the 2026 data"
    assert body["required_approvals"] == {"validator": 1, "risk officer": 1}
    assert body["approvals_given"] == {} and body["missing_approvals"] == body["required_approvals"]
    assert [p["name"] for p in body["policy_versions"]] == ["high-risk"]
    assert [(e["purpose"], e["passed"]) for e in body["evaluations"]] == [("request", False)]
    assert body["evaluations"][0]["url"].endswith(
        f"/api/v1/evaluations/{body['evaluations'][0]['id']}/"
    )
    assert body["is_rollback"] is False and body["reviews"] == [] and body["revision"] == 1
    assert body["can_review"] is False
    assert body["review_refusal"]["code"] == "self_review"

    shown = api(validator).get(detail(request.pk)).json()
    assert shown["can_review"] is True and shown["review_refusal"] is None
    assert api(auditor).get(detail(request.pk)).json()["review_refusal"]["code"] == (
        "not_a_reviewer"
    )

    first = review(api(validator), request.pk, comment="validation report VR-12 attached")
    assert first.status_code == 201, first.content
    after_first = first.json()
    assert after_first["status"] == "open"
    assert after_first["approvals_given"] == {"validator": 1}
    assert after_first["missing_approvals"] == {"risk officer": 1}
    assert after_first["reviews"] == [
        {
            "reviewer": "vera",
            "decision": "approve",
            "role": "validator",
            "comment": "validation report VR-12 attached",
            "created_at": after_first["reviews"][0]["created_at"],
        }
    ]
    assert after_first["can_review"] is False
    assert after_first["review_refusal"]["code"] == "already_reviewed"

    last = review(api(risk_officer), request.pk)
    assert last.status_code == 201, last.content
    done = last.json()
    assert done["status"] == "completed" and done["closed_at"]
    assert done["missing_approvals"] == {} and done["blocking"] == []
    assert done["approvals_given"] == {"validator": 1, "risk officer": 1}
    assert [e["purpose"] for e in done["evaluations"]] == ["request", "promotion"]
    assert done["evaluations"][1]["passed"] is True
    ready.refresh_from_db()
    assert ready.stage == "production"
    change = StageChange.objects.get()
    assert change.promotion_request_id == request.pk and change.changed_by == risk_officer
    assert AuditEvent.objects.filter(action="promotion.completed").count() == 1
    assert trail.verify_chain().valid


# --- opening -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("other_data_scientist", 403),
        ("validator", 403),
        ("risk_officer", 403),
        ("auditor", 403),
        ("outsider", 403),
    ],
)
def test_only_the_owning_team_or_an_admin_may_ask(api, request, ready, who, status):
    response = ask(api(request.getfixturevalue(who)), ready)

    assert response.status_code == status
    assert response.json()["code"] == "permission_denied"
    assert not PromotionRequest.objects.exists()


def test_a_refused_request_is_audited(api, ready, auditor):
    ask(api(auditor), ready)
    event = AuditEvent.objects.get(action="promotion.request_refused")
    assert event.actor_username == "aldo" and event.data["code"] == "permission_denied"


def test_an_admin_may_ask_for_any_team(api, ready, admin_user):
    assert ask(api(admin_user), ready).status_code == 201


def test_anonymous_clients_are_refused_everywhere(api, open_request):
    client = api(None)
    assert client.get(REQUESTS).status_code == 401
    assert client.get(detail(open_request.pk)).status_code == 401
    assert review(client, open_request.pk).status_code == 401
    assert client.get("/api/v1/stage-changes/").status_code == 401


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"target_stage": "heaven"}, 400, "target_stage"),
        ({"justification": "   "}, 400, "justification"),
        ({"model": "no-such-model"}, 400, "model"),
        ({"version": 99}, 400, "model"),
    ],
)
def test_bad_requests_name_the_field(api, ready, data_scientist, changes, status, field):
    body = {
        "model": ready.model.name,
        "version": 1,
        "target_stage": "production",
        "justification": "ready",
        **changes,
    }
    response = api(data_scientist).post(REQUESTS, body, format="json")

    assert response.status_code == status
    assert response.json()["field"] == field
    assert not PromotionRequest.objects.exists()


def test_a_second_open_request_for_a_version_is_a_conflict(api, open_request, data_scientist):
    response = ask(api(data_scientist), open_request.model_version, stage="staging")
    assert response.status_code == 409 and response.json()["code"] == "duplicate_request"
    assert PromotionRequest.objects.count() == 1


# --- reviewing: separation of duties and state ---------------------------------------------


def test_the_requester_cannot_approve_their_own_request(api, open_request, data_scientist):
    response = review(api(data_scientist), open_request.pk)

    assert response.status_code == 403
    assert response.json()["code"] == "self_review"
    assert not Review.objects.exists()
    [event] = refusals(open_request.pk)
    assert event.actor_username == "dana" and event.data["code"] == "self_review"
    assert event.data["decision"] == "approve"


def test_the_registrant_cannot_approve_a_request_someone_else_made(
    api, team, ready, data_scientist, admin_user
):
    # dana registered the version; an admin (who holds a reviewing role) asks for it.
    request = promotions.open_request(
        by=admin_user, version=ready, target_stage="production", justification="ready"
    )
    response = review(api(data_scientist), request.pk)

    assert response.status_code == 403 and response.json()["code"] == "self_review"
    assert "registered" in response.json()["detail"]
    assert not Review.objects.exists()
    assert [e.data["code"] for e in refusals(request.pk)] == ["self_review"]
    admin_refusal = review(api(admin_user), request.pk)
    assert admin_refusal.status_code == 403 and admin_refusal.json()["code"] == "self_review"


def test_a_second_approval_by_the_same_person_is_refused(api, open_request, validator):
    client = api(validator)
    assert review(client, open_request.pk).status_code == 201

    again = review(client, open_request.pk, comment="once more")

    assert again.status_code == 409 and again.json()["code"] == "already_reviewed"
    assert Review.objects.filter(reviewer=validator).count() == 1
    [event] = refusals(open_request.pk)
    assert event.data["code"] == "already_reviewed"
    assert PromotionRequest.objects.get().status == "open"


def test_a_person_with_two_roles_counts_once(api, open_request, db):
    both = UserFactory(username="bo", roles=[roles.VALIDATOR, roles.RISK_OFFICER])
    assert review(api(both), open_request.pk).status_code == 201

    shown = api(both).get(detail(open_request.pk)).json()

    assert sum(shown["approvals_given"].values()) == 1 and shown["status"] == "open"
    assert shown["review_refusal"]["code"] == "already_reviewed"


@pytest.mark.parametrize(
    ("who", "code"), [("auditor", "not_a_reviewer"), ("other_data_scientist", "not_a_reviewer")]
)
def test_people_without_a_required_role_cannot_review(api, request, open_request, who, code):
    response = review(api(request.getfixturevalue(who)), open_request.pk)

    assert response.status_code == 403 and response.json()["code"] == code
    assert not Review.objects.exists()
    assert [e.data["code"] for e in refusals(open_request.pk)] == [code]


def test_reading_requests_needs_a_role_and_every_role_reads(
    api, open_request, outsider, auditor, validator, other_data_scientist
):
    for path in (REQUESTS, detail(open_request.pk)):
        roleless = api(outsider).get(path)
        assert roleless.status_code == 403 and roleless.json()["code"] == "permission_denied"
        for reader in (auditor, validator, other_data_scientist):
            assert api(reader).get(path).status_code == 200


def test_an_outsider_is_refused_before_the_service(api, open_request, outsider):
    response = review(api(outsider), open_request.pk)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert not Review.objects.exists()


def test_a_closed_request_cannot_be_reviewed(api, open_request, data_scientist, validator):
    promotions.withdraw(by=data_scientist, request=open_request, reason="not yet")

    response = review(api(validator), open_request.pk)

    assert response.status_code == 409 and response.json()["code"] == "request_not_open"
    assert not Review.objects.exists()


def test_a_role_whose_approvals_are_complete_cannot_approve_again(api, open_request, validator):
    review(api(validator), open_request.pk)
    second = UserFactory(username="val2", roles=[roles.VALIDATOR])

    response = review(api(second), open_request.pk)

    assert response.status_code == 409 and response.json()["code"] == "role_complete"
    # ...but may still reject.
    rejected = review(api(second), open_request.pk, decision="reject", comment="found a leak")
    assert rejected.status_code == 201 and rejected.json()["status"] == "rejected"


def test_a_request_whose_policy_changed_is_refused_as_stale(
    api, open_request, validator, risk_officer
):
    # A new policy that covers high-risk production changes what applies: the request is stale.
    g.simple_policy(risk_officer, name="extra", tiers=("high",), stages=("production",))

    response = review(api(validator), open_request.pk)

    assert response.status_code == 409 and response.json()["code"] == "request_not_open"
    shown = api(validator).get(detail(open_request.pk)).json()
    assert shown["status"] == "stale" and "extra v1" in shown["status_reason"]
    assert not Review.objects.exists()


def test_a_request_changed_behind_its_back_goes_stale_when_reviewed(api, open_request, validator):
    # A risk tier changed without the model service (a bulk edit in the database): nothing
    # marked the request, so the review itself finds it stale, refuses, and records both.
    RegisteredModel.objects.filter(pk=open_request.model_id).update(risk_tier="limited")

    response = review(api(validator), open_request.pk)

    assert response.status_code == 409 and response.json()["code"] == "request_stale"
    assert "risk tier" in response.json()["detail"]
    assert not Review.objects.exists()
    shown = api(validator).get(detail(open_request.pk)).json()
    assert shown["status"] == "stale" and shown["review_refusal"]["code"] == "request_not_open"
    assert [e.data["code"] for e in refusals(open_request.pk)] == ["request_stale"]
    assert AuditEvent.objects.filter(action="promotion.stale").count() == 1


@pytest.mark.parametrize("body", [{"decision": "maybe", "comment": "x"}, {"decision": "approve"}])
def test_a_review_needs_a_decision_and_a_comment(api, open_request, validator, body):
    response = api(validator).post(f"{detail(open_request.pk)}reviews/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not Review.objects.exists()


def test_a_rejection_closes_the_request(api, open_request, validator):
    response = review(api(validator), open_request.pk, decision="reject", comment="AUC drift")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "rejected" and "AUC drift" in body["status_reason"]
    assert body["reviews"][0]["decision"] == "reject"


def test_unknown_requests_are_404(api, validator):
    assert api(validator).get(detail(999)).status_code == 404
    assert review(api(validator), 999).status_code == 404


# --- withdraw, promote, demote, rollback ---------------------------------------------------


def test_the_requester_withdraws(api, open_request, data_scientist):
    response = api(data_scientist).post(
        f"{detail(open_request.pk)}withdraw/", {"reason": "more data coming"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert response.json()["status_reason"] == "more data coming"
    again = api(data_scientist).post(f"{detail(open_request.pk)}withdraw/", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "request_not_open"


@pytest.mark.parametrize("who", ["validator", "risk_officer", "auditor", "other_data_scientist"])
def test_others_cannot_withdraw(api, request, open_request, who):
    response = api(request.getfixturevalue(who)).post(
        f"{detail(open_request.pk)}withdraw/", {}, format="json"
    )
    assert response.status_code == 403
    assert PromotionRequest.objects.get().status == "open"
    assert [e.data["code"] for e in refusals(open_request.pk)] == ["permission_denied"]


def relative_policy(risk_officer):
    """Needs one validator; ROC AUC at least 0.8 and at most 0.01 below production."""
    return g.simple_policy(
        risk_officer,
        name="relative",
        checks=[
            {
                "id": "auc-vs-production",
                "type": "metric_threshold",
                "metric": "roc_auc",
                "max_regression": 0.01,
            }
        ],
    )


def promote_through_the_service(version, requester, validator):
    request = promotions.open_request(
        by=requester, version=version, target_stage="production", justification="ready"
    )
    return promotions.review(by=validator, request=request, decision="approve", comment="ok")


def test_a_blocked_gate_is_retried_after_production_is_demoted(
    api, team, data_scientist, validator, risk_officer, auditor
):
    relative_policy(risk_officer)
    v1 = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(v1, "performance", g.performance_results(roc_auc=0.9))
    assert promote_through_the_service(v1, data_scientist, validator).status == "completed"
    v2 = g.governed_version(registrant=data_scientist, model=v1.model, team=team)
    g.evidence(v2, "performance", g.performance_results(roc_auc=0.85))
    request = promotions.open_request(
        by=data_scientist, version=v2, target_stage="production", justification="retrained"
    )

    approved = review(api(validator), request.pk).json()
    assert approved["status"] == "approved"
    assert approved["status_reason"] == "approved, but the policy gate is blocked"
    assert [b["check"] for b in approved["blocking"]] == ["auc-vs-production"]
    assert "worse than production" in approved["blocking"][0]["reason"]

    late = UserFactory(username="val2", roles=[roles.VALIDATOR])
    complete = review(api(late), request.pk)
    assert complete.status_code == 409 and complete.json()["code"] == "approvals_complete"
    assert [e.data["code"] for e in refusals(request.pk)] == ["approvals_complete"]

    blocked = api(data_scientist).post(f"{detail(request.pk)}promote/")
    assert blocked.status_code == 409
    error = blocked.json()
    assert error["code"] == "gate_blocked"
    assert [b["check"] for b in error["blocking"]] == ["auc-vs-production"]
    assert PolicyEvaluation.objects.get(pk=error["evaluation"]).passed is False
    assert api(auditor).post(f"{detail(request.pk)}promote/").status_code == 403
    v2.refresh_from_db()
    assert v2.stage == "none"

    demoted = api(risk_officer).post(
        f"/api/v1/models/{v1.model.name}/versions/1/demote/",
        {"reason": "incident INC-7: drift"},
        format="json",
    )
    assert demoted.status_code == 201, demoted.content
    change = demoted.json()
    assert (change["version"], change["from_stage"], change["to_stage"], change["kind"]) == (
        1,
        "production",
        "archived",
        "demotion",
    )
    assert change["changed_by"] == "rita" and change["reason"] == "incident INC-7: drift"

    promoted = api(data_scientist).post(f"{detail(request.pk)}promote/")
    assert promoted.status_code == 200, promoted.content
    assert promoted.json()["status"] == "completed" and promoted.json()["blocking"] == []
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.stage, v2.stage) == ("archived", "production")


def test_promote_refuses_a_request_that_is_not_approved(api, open_request, data_scientist):
    response = api(data_scientist).post(f"{detail(open_request.pk)}promote/")
    assert response.status_code == 409 and response.json()["code"] == "request_not_approved"


@pytest.mark.parametrize("who", ["validator", "auditor", "data_scientist", "outsider"])
def test_only_risk_officers_and_admins_demote(
    api, request, team, data_scientist, validator, risk_officer, who
):
    relative_policy(risk_officer)
    v1 = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(v1, "performance")
    promote_through_the_service(v1, data_scientist, validator)

    response = api(request.getfixturevalue(who)).post(
        f"/api/v1/models/{v1.model.name}/versions/1/demote/", {"reason": "why not"}, format="json"
    )

    assert response.status_code == 403
    v1.refresh_from_db()
    assert v1.stage == "production"


def test_demotion_needs_a_reason_and_a_version_in_service(api, team, data_scientist, risk_officer):
    version = g.governed_version(registrant=data_scientist, team=team)
    url = f"/api/v1/models/{version.model.name}/versions/1/demote/"
    client = api(risk_officer)

    no_reason = client.post(url, {"reason": " "}, format="json")
    not_in_service = client.post(url, {"reason": "cleanup"}, format="json")

    assert no_reason.status_code == 400 and no_reason.json()["field"] == "reason"
    assert not_in_service.status_code == 409 and not_in_service.json()["code"] == "not_demotable"
    assert (
        client.post(f"/api/v1/models/{version.model.name}/versions/5/demote/", {}).status_code
        == 404
    )


def test_rollback_asks_for_the_previous_production_version(
    api, team, data_scientist, validator, risk_officer, auditor
):
    relative_policy(risk_officer)
    v1 = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(v1, "performance")
    url = f"/api/v1/models/{v1.model.name}/rollback/"
    nothing = api(data_scientist).post(url, {"justification": "undo"}, format="json")
    assert nothing.status_code == 409 and nothing.json()["code"] == "nothing_to_roll_back"
    promote_through_the_service(v1, data_scientist, validator)
    v2 = g.governed_version(registrant=data_scientist, model=v1.model, team=team)
    g.evidence(v2, "performance")
    assert promote_through_the_service(v2, data_scientist, validator).status == "completed"

    refused = api(auditor).post(url, {"justification": "undo"}, format="json")
    response = api(data_scientist).post(url, {"justification": "v2 misbehaves"}, format="json")

    assert refused.status_code == 403
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["is_rollback"] is True and body["version"] == 1
    assert body["from_stage"] == "archived" and body["status"] == "open"
    assert response["Location"] == body["url"]
    completed = review(api(validator), body["id"]).json()
    assert completed["status"] == "completed"
    assert StageChange.objects.filter(kind="rollback", model_version=v1).exists()


# --- lists and the can_review filter -------------------------------------------------------


def several_requests(team, data_scientist, validator, risk_officer, admin_user):
    """Requests in several states: open and fresh, open and approved once by vera, withdrawn,
    one vera registered, one an admin asked for, and one approved with its gate blocked."""
    made = {}

    def version(registrant=data_scientist):
        v = g.governed_version(registrant=registrant, team=team)
        g.full_evidence(v)
        return v

    def request_for(v, by=data_scientist):
        return promotions.open_request(
            by=by, version=v, target_stage="production", justification="r"
        )

    made["fresh"] = request_for(version())
    made["approved_by_vera"] = request_for(version())
    promotions.review(
        by=validator, request=made["approved_by_vera"], decision="approve", comment="ok"
    )
    made["withdrawn"] = request_for(version())
    promotions.withdraw(by=data_scientist, request=made["withdrawn"])
    made["registered_by_vera"] = request_for(version(registrant=validator))
    made["asked_by_admin"] = request_for(version(), by=admin_user)
    blocked = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(blocked, "performance")  # no fairness or explainability evidence
    made["gate_blocked"] = request_for(blocked)
    promotions.review(by=validator, request=made["gate_blocked"], decision="approve", comment="ok")
    promotions.review(
        by=risk_officer, request=made["gate_blocked"], decision="approve", comment="ok"
    )
    assert PromotionRequest.objects.get(pk=made["gate_blocked"].pk).status == "approved"
    return made


def test_can_review_matches_the_service_for_every_person_and_request(
    api, team, data_scientist, validator, risk_officer, admin_user, auditor, other_data_scientist
):
    g.install_default_pack(risk_officer)
    made = several_requests(team, data_scientist, validator, risk_officer, admin_user)
    both = UserFactory(username="bo", roles=[roles.VALIDATOR, roles.RISK_OFFICER])
    people = [
        data_scientist,
        validator,
        risk_officer,
        admin_user,
        auditor,
        other_data_scientist,
        both,
    ]

    for person in people:
        client = api(fresh(person))
        expected = {
            r.pk
            for r in PromotionRequest.objects.all()
            if promotions.review_refusal(fresh(person), r) is None
        }
        listed = client.get(f"{REQUESTS}?can_review=true").json()["results"]
        assert {r["id"] for r in listed} == expected, person.username
        excluded = client.get(f"{REQUESTS}?can_review=false").json()["results"]
        assert {r["id"] for r in excluded} == set(made_ids(made)) - expected, person.username
        for row in client.get(REQUESTS).json()["results"]:
            assert row["can_review"] == (row["id"] in expected), (person.username, row["id"])
            assert client.get(row["url"]).json()["can_review"] == row["can_review"]

    vera = {r["id"] for r in api(validator).get(f"{REQUESTS}?can_review=true").json()["results"]}
    assert vera == {made["fresh"].pk, made["asked_by_admin"].pk}
    rita = {r["id"] for r in api(risk_officer).get(f"{REQUESTS}?can_review=true").json()["results"]}
    assert rita == {
        made["fresh"].pk,
        made["approved_by_vera"].pk,
        made["registered_by_vera"].pk,
        made["asked_by_admin"].pk,
    }


def made_ids(made) -> list[int]:
    return [r.pk for r in made.values()]


def test_the_list_filters(api, team, data_scientist, validator, risk_officer, admin_user, auditor):
    g.install_default_pack(risk_officer)
    made = several_requests(team, data_scientist, validator, risk_officer, admin_user)
    client = api(auditor)

    def ids(query: str) -> set[int]:
        response = client.get(f"{REQUESTS}?{query}")
        assert response.status_code == 200, response.content
        return {r["id"] for r in response.json()["results"]}

    everything = set(made_ids(made))
    assert ids("") == everything
    assert ids("status=withdrawn") == {made["withdrawn"].pk}
    assert ids("status=approved&status=withdrawn") == {
        made["withdrawn"].pk,
        made["gate_blocked"].pk,
    }
    assert ids("reviewer=vera") == {made["approved_by_vera"].pk, made["gate_blocked"].pk}
    assert ids("reviewer=rita") == {made["gate_blocked"].pk}
    assert ids("requested_by=ada") == {made["asked_by_admin"].pk}
    assert ids("requested_by=dana") == everything - {made["asked_by_admin"].pk}
    model = made["fresh"].model.name
    assert ids(f"model={model}") == {made["fresh"].pk}
    assert ids("target_stage=production") == everything and ids("target_stage=staging") == set()
    assert ids("risk_tier=high") == everything and ids("risk_tier=minimal") == set()
    assert ids("team=credit-risk") == everything and ids("team=nobody") == set()
    assert client.get(f"{REQUESTS}?status=nonsense").status_code == 400


def test_request_lists_cost_the_same_queries_for_1_and_10_requests(
    api, team, data_scientist, validator, risk_officer
):
    g.install_default_pack(risk_officer)

    def add(n):
        for _ in range(n):
            v = g.governed_version(registrant=data_scientist, team=team)
            g.full_evidence(v)
            r = promotions.open_request(
                by=data_scientist, version=v, target_stage="production", justification="r"
            )
            promotions.review(by=validator, request=r, decision="approve", comment="ok")

    def measure(query: str) -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as queries:
            response = api(fresh(risk_officer)).get(f"{REQUESTS}{query}")
        assert response.status_code == 200
        return len(queries.captured_queries), response.json()

    add(1)
    one = {q: measure(q)[0] for q in ("", "?can_review=true", "?reviewer=vera")}
    add(9)
    for query, count in one.items():
        ten, body = measure(query)
        assert body["count"] == 10, query
        assert ten == count, query
    row = measure("")[1]["results"][0]
    assert row["approvals_given"] == {"validator": 1} and row["can_review"] is True
    assert len(row["reviews"]) == 1 and len(row["evaluations"]) == 1


# --- stage history -------------------------------------------------------------------------


@pytest.fixture
def two_promotions(team, data_scientist, validator, risk_officer):
    """v1 then v2 promoted to production (v1 archived as replaced)."""
    relative_policy(risk_officer)
    v1 = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(v1, "performance")
    promote_through_the_service(v1, data_scientist, validator)
    v2 = g.governed_version(registrant=data_scientist, model=v1.model, team=team)
    g.evidence(v2, "performance")
    promote_through_the_service(v2, data_scientist, validator)
    return v1, v2


def history_url(model) -> str:
    return f"/api/v1/models/{model.name}/stage-history/"


def test_the_stage_history_lists_every_change_newest_first(api, two_promotions, auditor):
    v1, v2 = two_promotions

    response = api(auditor).get(history_url(v1.model))

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["version"], r["from_stage"], r["to_stage"], r["kind"]) for r in rows] == [
        (2, "none", "production", "promotion"),
        (1, "production", "archived", "replaced"),
        (1, "none", "production", "promotion"),
    ]
    request = PromotionRequest.objects.get(model_version=v2)
    assert rows[0]["promotion_request"] == request.pk
    assert rows[0]["promotion_request_url"] == f"http://testserver{detail(request.pk)}"
    evaluation = PolicyEvaluation.objects.get(promotion_request=request, purpose="promotion")
    assert rows[0]["evaluation"] == evaluation.pk
    assert rows[0]["evaluation_url"].endswith(f"/api/v1/evaluations/{evaluation.pk}/")
    assert rows[0]["changed_by"] == "vera" and rows[0]["model"] == v1.model.name
    assert "replaced in production by" in rows[1]["reason"]

    client = api(auditor)
    only_v1 = client.get(f"{history_url(v1.model)}?version=1").json()["results"]
    assert [r["to_stage"] for r in only_v1] == ["archived", "production"]
    archived = client.get(f"{history_url(v1.model)}?stage=archived").json()["results"]
    assert [r["version"] for r in archived] == [1]
    first = StageChange.objects.order_by("id").first()
    since = client.get(
        history_url(v1.model), {"since": (first.created_at + timedelta(microseconds=1)).isoformat()}
    ).json()
    assert since["count"] == 2
    until = client.get(history_url(v1.model), {"until": first.created_at.isoformat()}).json()
    assert [r["id"] for r in until["results"]] == [first.pk]


def test_which_version_was_in_production_at_a_time(api, two_promotions, validator):
    v1, v2 = two_promotions
    v1_in = StageChange.objects.get(model_version=v1, to_stage="production")
    v2_in = StageChange.objects.get(model_version=v2, to_stage="production")
    v1_out = StageChange.objects.get(model_version=v1, to_stage="archived")
    assert v1_in.created_at < v1_out.created_at <= v2_in.created_at
    client = api(validator)

    def at(moment, stage="production"):
        response = client.get(history_url(v1.model), {"at": moment.isoformat(), "stage": stage})
        assert response.status_code == 200, response.content
        return [(r["version"], r["id"]) for r in response.json()["results"]]

    assert at(v1_in.created_at - timedelta(microseconds=1)) == []
    assert at(v1_in.created_at) == [(1, v1_in.pk)]
    assert at(v1_in.created_at + (v1_out.created_at - v1_in.created_at) / 2) == [(1, v1_in.pk)]
    assert at(v2_in.created_at) == [(2, v2_in.pk)]
    assert at(v2_in.created_at + timedelta(days=1)) == [(2, v2_in.pk)]
    assert at(v2_in.created_at, stage="archived") == [(1, v1_out.pk)]
    # The default stage is production.
    default = client.get(history_url(v1.model), {"at": v1_in.created_at.isoformat()}).json()
    assert default["count"] == 1 and default["results"][0]["version"] == 1


def test_the_at_query_reads_the_history_in_one_query(api, two_promotions, validator):
    v1, _ = two_promotions
    moment = StageChange.objects.get(model_version=v1, to_stage="production").created_at

    with CaptureQueriesContext(connection) as queries:
        response = api(fresh(validator)).get(history_url(v1.model), {"at": moment.isoformat()})

    assert response.status_code == 200 and response.json()["count"] == 1
    history = [q for q in queries.captured_queries if "governance_stagechange" in q["sql"]]
    assert len(history) == 1


@pytest.mark.parametrize(
    "query", [{"at": "yesterday"}, {"at": "2026-01-01T00:00:00Z", "stage": "nowhere"}]
)
def test_a_bad_at_query_is_a_400(api, two_promotions, validator, query):
    response = api(validator).get(history_url(two_promotions[0].model), query)
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_stage_changes_across_models(api, two_promotions, team, data_scientist, auditor, outsider):
    v1, _ = two_promotions
    client = api(auditor)

    everything = client.get("/api/v1/stage-changes/").json()
    only = client.get("/api/v1/stage-changes/", {"model": v1.model.name}).json()
    none = client.get("/api/v1/stage-changes/", {"model": "nothing"}).json()
    one = client.get(f"/api/v1/stage-changes/{everything['results'][0]['id']}/")

    assert everything["count"] == only["count"] == 3 and none["count"] == 0
    assert one.status_code == 200 and one.json()["version"] == 2
    assert api(outsider).get("/api/v1/stage-changes/").status_code == 403
    assert api(outsider).get(history_url(v1.model)).status_code == 403
    assert api(auditor).get("/api/v1/models/nothing/stage-history/").status_code == 404


def test_stage_history_lists_cost_the_same_queries_however_long(
    api, team, data_scientist, validator, risk_officer, auditor
):
    relative_policy(risk_officer)
    v1 = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(v1, "performance")
    promote_through_the_service(v1, data_scientist, validator)

    def measure(path):
        with CaptureQueriesContext(connection) as queries:
            assert api(fresh(auditor)).get(path).status_code == 200
        return len(queries.captured_queries)

    paths = [history_url(v1.model), "/api/v1/stage-changes/"]
    before = [measure(p) for p in paths]
    for _ in range(4):
        v = g.governed_version(registrant=data_scientist, model=v1.model, team=team)
        g.evidence(v, "performance")
        promote_through_the_service(v, data_scientist, validator)
    assert StageChange.objects.count() == 9
    assert [measure(p) for p in paths] == before


def test_the_schema_documents_the_governance_contract():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    expected = {
        "/api/v1/policies/": {"get", "post"},
        "/api/v1/policies/{name}/": {"get", "put"},
        "/api/v1/policies/{name}/versions/": {"get"},
        "/api/v1/policies/{name}/versions/{version}/": {"get"},
        "/api/v1/models/{name}/versions/{version}/evaluation/": {"post"},
        "/api/v1/models/{name}/versions/{version}/evaluations/": {"get"},
        "/api/v1/evaluations/": {"get"},
        "/api/v1/evaluations/{id}/": {"get"},
        "/api/v1/promotion-requests/": {"get", "post"},
        "/api/v1/promotion-requests/{id}/": {"get"},
        "/api/v1/promotion-requests/{id}/reviews/": {"post"},
        "/api/v1/promotion-requests/{id}/withdraw/": {"post"},
        "/api/v1/promotion-requests/{id}/promote/": {"post"},
        "/api/v1/models/{name}/versions/{version}/demote/": {"post"},
        "/api/v1/models/{name}/rollback/": {"post"},
        "/api/v1/models/{name}/stage-history/": {"get"},
        "/api/v1/stage-changes/": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    components = schema["components"]["schemas"]
    assert {"model", "version", "target_stage", "justification"} <= set(
        components["PromotionRequestCreateRequest"]["properties"]
    )
    assert {"decision", "comment"} <= set(components["ReviewCreateRequest"]["properties"])
    assert {"application/yaml", "text/yaml", "application/json"} <= set(
        paths["/api/v1/policies/"]["post"]["requestBody"]["content"]
    )
    filters = {p["name"] for p in paths["/api/v1/promotion-requests/"]["get"]["parameters"]}
    assert {"status", "reviewer", "can_review", "model", "requested_by", "team"} <= filters
