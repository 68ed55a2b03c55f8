"""The governance admin: policies, requests, reviews, evaluations and stage history read-only for
every role; every change an action that calls the service, its refusals shown as messages."""

from types import SimpleNamespace

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from governance.admin_governance.forms import PolicySourceForm
from governance.models import (
    CheckResult,
    Policy,
    PolicyEvaluation,
    PolicyVersion,
    PromotionRequest,
    Review,
    StageChange,
)
from governance.services import promotions
from registry.admin_forms import ModelVersionAddForm
from registry.models import ModelVersion
from registry.services import models as model_service
from tests.governance import gate_setup as g
from tests.helpers import admin_login as login

pytestmark = pytest.mark.django_db

ROLES = ["data_scientist", "validator", "risk_officer", "auditor", "admin_user"]
ADMIN = "/admin/governance"
REQUESTS = f"{ADMIN}/promotionrequest/"
POLICIES = f"{ADMIN}/policy/"
VERSIONS = "/admin/registry/modelversion/"

POLICY_YAML = """\
name: admin-written
title: Written in the admin
scope:
  risk_tiers: [minimal]
  target_stages: [staging]
checks:
  - id: safe
    type: artifact_safety
  - id: auc
    type: metric_threshold
    metric: roc_auc
    min: 0.75
"""


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def refreshed(request: PromotionRequest) -> PromotionRequest:
    return PromotionRequest.objects.get(pk=request.pk)


@pytest.fixture
def world(team, data_scientist, validator, risk_officer):
    """v1 promoted to production through the default pack's gate; v2 with an open request."""
    g.install_default_pack(risk_officer)
    v1 = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(v1)
    first = promotions.open_request(
        by=data_scientist, version=v1, target_stage="production", justification="first release"
    )
    promotions.review(by=validator, request=first, decision="approve", comment="validated")
    promotions.review(by=risk_officer, request=first, decision="approve", comment="accepted")
    v2 = g.governed_version(registrant=data_scientist, team=team, model=v1.model)
    g.full_evidence(v2)
    second = promotions.open_request(
        by=data_scientist, version=v2, target_stage="production", justification="better model"
    )
    v1.refresh_from_db()
    assert v1.stage == "production" and refreshed(first).status == "completed"
    return SimpleNamespace(v1=v1, v2=v2, first=refreshed(first), second=second)


def pages(world) -> list[str]:
    """A list and a detail page of every governance model, and the version page."""
    rows = {
        "policy": Policy.objects.first(),
        "policyversion": PolicyVersion.objects.first(),
        "promotionrequest": world.first,
        "review": Review.objects.first(),
        "stagechange": StageChange.objects.first(),
        "policyevaluation": PolicyEvaluation.objects.first(),
        "checkresult": CheckResult.objects.first(),
    }
    return [
        *(f"{ADMIN}/{name}/" for name in rows),
        *(f"{ADMIN}/{name}/{row.pk}/change/" for name, row in rows.items()),
        f"{VERSIONS}{world.v1.pk}/change/",
    ]


# --- Reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ROLES)
def test_every_role_reads_every_governance_page_and_nobody_changes_or_deletes_a_row(
    who, request, world
):
    client = login(request.getfixturevalue(who))
    before = AuditEvent.objects.count()

    for page in pages(world):
        response = client.get(page)
        assert response.status_code == 200, page
        if page.endswith("/change/") and "registry" not in page:
            html = response.content.decode()
            assert 'name="_save"' not in html and "/delete/" not in html, page
            assert client.post(page, {"status": "completed"}).status_code == 403, page
            assert client.get(page.replace("/change/", "/delete/")).status_code == 403, page

    for name in ("policyversion", "promotionrequest", "review", "stagechange", "policyevaluation"):
        assert client.get(f"{ADMIN}/{name}/add/").status_code == 403, name
    may_write_policies = who in ("risk_officer", "admin_user")
    assert client.get(f"{POLICIES}add/").status_code == (200 if may_write_policies else 403)
    assert (f'href="{POLICIES}add/"' in client.get(POLICIES).content.decode()) is may_write_policies
    assert AuditEvent.objects.count() == before


def test_a_staff_user_without_a_role_reads_nothing(outsider, world):
    client = login(outsider)
    for page in pages(world):
        assert client.get(page).status_code == 403, page


def test_the_request_page_shows_reviews_approvals_evaluations_and_the_stage_change(auditor, world):
    html = login(auditor).get(f"{REQUESTS}{world.first.pk}/change/").content.decode()

    assert "validated" in html and "accepted" in html  # the reviews' comments
    assert "1 validator, 1 risk officer" in html
    assert "fairness-demographic-parity" in html and "Promotion gate" in html
    gate = world.first.evaluations.get(purpose="promotion")
    assert f"{ADMIN}/policyevaluation/{gate.pk}/change/" in html
    change = StageChange.objects.get(promotion_request=world.first)
    assert f"{ADMIN}/stagechange/{change.pk}/change/" in html
    assert "Approve…" not in html and "Withdraw…" not in html  # closed, and an auditor


def test_the_request_list_shows_approvals_and_filters_by_status_stage_and_risk_tier(
    validator, world
):
    client = login(validator)

    everything = client.get(REQUESTS)
    assert list(everything.context["cl"].result_list) == [world.second, world.first]
    html = everything.content.decode()
    assert "2/2" in html and "0/2" in html

    def listed(query: str) -> list[int]:
        response = client.get(f"{REQUESTS}?{query}")
        assert response.status_code == 200
        return [r.pk for r in response.context["cl"].result_list]

    assert listed("status__exact=open") == [world.second.pk]
    assert listed("status__exact=completed") == [world.first.pk]
    assert listed("target_stage__exact=staging") == []
    assert listed("risk_tier__exact=high") == [world.second.pk, world.first.pk]
    assert listed("risk_tier__exact=minimal") == []


def test_the_request_list_costs_the_same_number_of_queries_for_2_or_6_rows(
    admin_user, team, data_scientist, risk_officer
):
    g.simple_policy(risk_officer)
    client = login(admin_user)
    model = g.governed_version(registrant=data_scientist, team=team).model

    def queries(rows: int) -> int:
        while PromotionRequest.objects.count() < rows:
            version = g.governed_version(registrant=data_scientist, team=team, model=model)
            promotions.open_request(
                by=data_scientist, version=version, target_stage="staging", justification="j"
            )
        with CaptureQueriesContext(connection) as captured:
            response = client.get(REQUESTS)
        assert len(response.context["cl"].result_list) == rows
        return len(captured)

    assert queries(2) == queries(6)


def test_stage_history_filters_by_model_stage_kind_and_date(auditor, world):
    client = login(auditor)
    change = StageChange.objects.get()

    def listed(query: str) -> list[StageChange]:
        response = client.get(f"{ADMIN}/stagechange/?{query}")
        assert response.status_code == 200
        return list(response.context["cl"].result_list)

    assert listed(f"model__id__exact={world.v1.model_id}") == [change]
    assert listed("to_stage__exact=production&kind__exact=promotion") == [change]
    assert listed("kind__exact=demotion") == []
    year = change.created_at.year
    assert listed(f"created_at__year={year}") == [change]
    assert listed(f"created_at__year={year - 1}") == []


def test_an_evaluation_page_shows_each_check_with_its_verdict(auditor, world):
    evaluation = world.second.evaluations.get()
    html = login(auditor).get(f"{ADMIN}/policyevaluation/{evaluation.pk}/change/").content.decode()
    for check in evaluation.checks.all():
        assert check.check_id in html
        assert check.reason[:40] in html or check.reason[:40].replace("'", "&#x27;") in html
    assert "icon-yes.svg" in html


def test_a_policy_version_shows_its_source_document_and_digest(auditor, world):
    version = PolicyVersion.objects.get(policy__name="high-risk")
    html = login(auditor).get(f"{ADMIN}/policyversion/{version.pk}/change/").content.decode()
    assert "<pre>name: high-risk" in html
    assert version.sha256 in html
    assert "&quot;checks&quot;: [" in html  # the normalised document


# --- Writing policies ---------------------------------------------------------------------------


def test_a_risk_officer_adds_a_policy_from_its_yaml_source(risk_officer):
    client = login(risk_officer)
    page = client.get(f"{POLICIES}add/")
    assert page.status_code == 200 and '<textarea name="source"' in page.content.decode()

    response = client.post(
        f"{POLICIES}add/", {"source": POLICY_YAML, "source_format": "", "change_note": "first"}
    )

    assert response.status_code == 302
    version = PolicyVersion.objects.get(policy__name="admin-written")
    assert response["Location"] == f"{POLICIES}{version.policy_id}/change/"
    assert (version.version, version.source, version.source_format) == (1, POLICY_YAML, "yaml")
    assert (version.change_note, version.created_by) == ("first", risk_officer)
    assert version.policy.current_version == version
    assert AuditEvent.objects.filter(action="policy.version_created").count() == 1
    assert "admin-written v1" in messages_of(response)[0]


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (POLICY_YAML.replace("min: 0.75", "min: high"), "checks[1] (auc).min: must be a number"),
        (POLICY_YAML.replace("risk_tiers: [minimal]", "risk_tiers: [huge]"), "scope.risk_tiers"),
        (POLICY_YAML.replace("type: artifact_safety", "type: astrology"), "checks[0] (safe).type"),
        ("name: x\n  scope: [", "source: is not valid YAML"),
        ("", "source: is empty"),
    ],
)
def test_a_malformed_policy_is_refused_with_the_field_named_and_nothing_saved(
    risk_officer, source, words
):
    client = login(risk_officer)
    before = (Policy.objects.count(), PolicyVersion.objects.count(), AuditEvent.objects.count())

    response = client.post(f"{POLICIES}add/", {"source": source, "change_note": ""})

    assert response.status_code == 200
    errors = response.context["form"].errors["source"]
    assert any(words in error for error in errors), errors
    assert words.replace("'", "&#x27;") in response.content.decode()
    assert (
        Policy.objects.count(),
        PolicyVersion.objects.count(),
        AuditEvent.objects.count(),
    ) == before


def test_the_service_refusal_of_a_writer_without_the_role_is_the_forms_error(validator):
    form = PolicySourceForm({"source": POLICY_YAML})
    assert form.is_valid()

    assert form.save(validator, policy_name=None) is None

    assert form.non_field_errors() == [
        "only risk officers and admins can write policies [permission_denied]"
    ]
    assert not Policy.objects.exists()


def test_new_version_edits_the_current_source_and_stales_open_requests(world, risk_officer):
    policy = Policy.objects.get(name="high-risk")
    client = login(risk_officer)
    url = f"{POLICIES}{policy.pk}/new-version/"
    assert url in client.get(f"{POLICIES}{policy.pk}/change/").content.decode()
    page = client.get(url)
    assert page.status_code == 200
    current = policy.current_version.source
    assert page.context["form"].initial["source"] == current

    same = client.post(url, {"source": current, "change_note": "nothing"})
    assert same.status_code == 200
    assert "identical" in " ".join(same.context["form"].non_field_errors())

    edited = current.replace("max: 0.10\n    min_group_size", "max: 0.08\n    min_group_size")
    assert edited != current
    response = client.post(url, {"source": edited, "change_note": "tighter parity"})

    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.current_version.version == 2
    assert policy.current_version.change_note == "tighter parity"
    assert refreshed(world.second).status == "stale"

    renamed = client.post(url, {"source": POLICY_YAML})
    assert "updates policy 'high-risk'" in " ".join(renamed.context["form"].errors["source"])


@pytest.mark.parametrize("who", ["data_scientist", "validator", "auditor"])
def test_only_risk_officers_and_admins_are_offered_a_new_version(who, request, world):
    policy = Policy.objects.get(name="high-risk")
    client = login(request.getfixturevalue(who))
    assert "new-version" not in client.get(f"{POLICIES}{policy.pk}/change/").content.decode()
    assert client.get(f"{POLICIES}{policy.pk}/new-version/").status_code == 403
    response = client.post(f"{POLICIES}{policy.pk}/new-version/", {"source": POLICY_YAML})
    assert response.status_code == 403
    assert PolicyVersion.objects.filter(policy=policy).count() == 1


# --- Reviewing ----------------------------------------------------------------------------------


def act(client, action: str, request: PromotionRequest, **data: str):
    return client.post(
        REQUESTS, {"action": action, "_selected_action": [request.pk], "apply": "go", **data}
    )


def test_the_approve_action_asks_for_a_comment_first(validator, world):
    response = login(validator).post(
        REQUESTS, {"action": "approve", "_selected_action": [world.second.pk]}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert '<textarea name="comment"' in html and str(world.second) in html
    assert not Review.objects.filter(request=world.second).exists()


def test_self_approval_through_the_admin_is_refused_with_a_message_and_audited(
    data_scientist, world
):
    response = act(login(data_scientist), "approve", world.second, comment="looks good to me")

    assert response.status_code == 200
    (message,) = messages_of(response)
    assert "refused" in message and "separation of duties" in message and "self_review" in message
    assert not Review.objects.filter(request=world.second).exists()
    refused = AuditEvent.objects.filter(action="promotion.refused").get()
    assert refused.data["code"] == "self_review"
    assert refused.actor_username == "dana"
    assert refreshed(world.second).status == "open"


def test_the_required_reviewers_approve_in_the_admin_and_the_version_reaches_production(
    validator, risk_officer, world
):
    by_action = act(login(validator), "approve", world.second, comment="validated v2")
    assert by_action.status_code == 302
    assert "waiting for 1 risk officer" in messages_of(by_action)[0]

    button = f"{REQUESTS}{world.second.pk}/approve/"
    officer = login(risk_officer)
    page = officer.get(f"{REQUESTS}{world.second.pk}/change/").content.decode()
    assert button in page
    assert officer.get(button).status_code == 200
    response = officer.post(button, {"comment": "risk accepted", "apply": "Approve"})

    assert response.status_code == 302
    assert response["Location"] == f"{REQUESTS}{world.second.pk}/change/"
    assert "completed" in messages_of(response)[0]
    assert refreshed(world.second).status == "completed"
    world.v2.refresh_from_db()
    world.v1.refresh_from_db()
    assert (world.v2.stage, world.v1.stage) == ("production", "archived")
    kinds = set(
        StageChange.objects.filter(promotion_request=world.second).values_list("kind", flat=True)
    )
    assert kinds == {"promotion", "replaced"}
    assert list(Review.objects.filter(request=world.second).values_list("role", flat=True)) == [
        "validator",
        "risk officer",
    ]


def test_a_rejection_needs_the_services_comment_then_closes_the_request(validator, world):
    client = login(validator)

    empty = act(client, "reject", world.second, comment="  ")
    assert empty.status_code == 200
    assert "a comment is required" in messages_of(empty)[0]
    assert not Review.objects.exists() or not Review.objects.filter(request=world.second).exists()

    response = act(client, "reject", world.second, comment="fairness evidence is too thin")
    assert response.status_code == 302
    assert refreshed(world.second).status == "rejected"
    assert Review.objects.get(request=world.second).decision == "reject"


def test_the_page_tells_a_reviewer_the_service_would_refuse_why(data_scientist, world):
    html = login(data_scientist).get(f"{REQUESTS}{world.second.pk}/change/").content.decode()
    assert "You cannot review this request: separation of duties" in html


def test_withdraw_is_the_requesters_and_refused_to_others(
    data_scientist, other_data_scientist, validator, world
):
    assert 'value="withdraw"' in login(data_scientist).get(REQUESTS).content.decode()
    assert 'value="withdraw"' not in login(validator).get(REQUESTS).content.decode()
    refused = act(login(other_data_scientist), "withdraw", world.second, reason="not mine")
    assert refused.status_code == 200
    assert "only the requester or an admin" in messages_of(refused)[0]
    assert refreshed(world.second).status == "open"

    response = act(login(data_scientist), "withdraw", world.second, reason="retraining")
    assert response.status_code == 302
    second = refreshed(world.second)
    assert (second.status, second.status_reason) == ("withdrawn", "retraining")


def test_retrying_the_gate_promotes_once_the_blocking_check_passes(
    team, data_scientist, validator, risk_officer
):
    g.install_default_pack(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version)
    model = version.model
    model.limitations = ""
    model.save(update_fields=["limitations"])
    promotion = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification="release"
    )
    promotions.review(by=validator, request=promotion, decision="approve", comment="ok")
    promotions.review(by=risk_officer, request=promotion, decision="approve", comment="ok")
    promotion = refreshed(promotion)
    assert promotion.status == "approved"
    client = login(data_scientist)
    page = client.get(f"{REQUESTS}{promotion.pk}/change/").content.decode()
    assert "model-card" in page and f"{promotion.pk}/promote/" in page  # the blocking reason

    blocked = act(client, "promote", promotion)
    assert blocked.status_code == 302  # nothing to ask: back to the list with the refusal
    assert "gate_blocked" in messages_of(blocked)[0] and "limitations" in messages_of(blocked)[0]

    model_service.update_model(model, by=data_scientist, limitations="1994 census data only")
    response = client.post(f"{REQUESTS}{promotion.pk}/promote/", {"apply": "Run the gate"})

    assert response.status_code == 302
    assert refreshed(promotion).status == "completed"
    version.refresh_from_db()
    assert version.stage == "production"


def test_retrying_the_gate_of_an_open_request_is_refused(data_scientist, world):
    response = act(login(data_scientist), "promote", world.second)
    assert response.status_code == 302
    assert "request_not_approved" in messages_of(response)[0]
    assert refreshed(world.second).status == "open"


def test_an_auditor_is_offered_no_action_and_cannot_use_one(auditor, world):
    client = login(auditor)
    assert 'name="action"' not in client.get(REQUESTS).content.decode()
    page = client.get(f"{REQUESTS}{world.second.pk}/change/").content.decode()
    assert "/approve/" not in page and "/withdraw/" not in page
    assert client.get(f"{REQUESTS}{world.second.pk}/approve/").status_code == 403

    act(client, "approve", world.second, comment="auditors approve nothing")

    assert not Review.objects.filter(request=world.second).exists()
    assert refreshed(world.second).status == "open"


# --- Model versions -----------------------------------------------------------------------------


def test_a_dry_run_from_the_list_evaluates_and_links_to_the_evaluation(data_scientist, world):
    response = login(data_scientist).post(
        VERSIONS, {"action": "dry_run_production", "_selected_action": [world.v2.pk]}
    )

    assert response.status_code == 302
    evaluation = PolicyEvaluation.objects.get(purpose="dry_run")
    assert (evaluation.model_version, evaluation.target_stage) == (world.v2, "production")
    assert evaluation.evaluated_by == data_scientist
    (message,) = messages_of(response)
    assert f"{ADMIN}/policyevaluation/{evaluation.pk}/change/" in message
    # Before any request, the approvals check is the one that blocks.
    assert "blocked: 1 of 10 checks fail (approvals)" in message


def test_the_dry_run_button_leads_to_the_evaluation(validator, world):
    client = login(validator)
    url = f"{VERSIONS}{world.v2.pk}/dry-run/"
    assert url in client.get(f"{VERSIONS}{world.v2.pk}/change/").content.decode()
    assert client.get(url).status_code == 200  # a confirmation: a GET writes nothing
    assert not PolicyEvaluation.objects.filter(purpose="dry_run").exists()

    response = client.post(url, {"apply": "Run the policies"})

    evaluation = PolicyEvaluation.objects.get(purpose="dry_run")
    assert response["Location"] == f"{ADMIN}/policyevaluation/{evaluation.pk}/change/"


def test_a_dry_run_outside_the_owning_team_is_refused(other_data_scientist, world):
    response = login(other_data_scientist).post(
        VERSIONS, {"action": "dry_run_production", "_selected_action": [world.v2.pk]}
    )
    assert response.status_code == 302 and response["Location"] == VERSIONS
    assert "only data scientists of team 'credit-risk'" in messages_of(response)[0]
    assert not PolicyEvaluation.objects.filter(purpose="dry_run").exists()


def test_a_data_scientist_opens_a_request_from_the_version_page(data_scientist, team):
    version = g.governed_version(registrant=data_scientist, team=team, risk_tier="minimal")
    client = login(data_scientist)
    url = f"{VERSIONS}{version.pk}/request-promotion/"
    assert url in client.get(f"{VERSIONS}{version.pk}/change/").content.decode()

    refused = client.post(url, {"target_stage": "staging", "justification": "", "apply": "Open"})
    assert refused.status_code == 200 and "a justification is required" in messages_of(refused)[0]

    response = client.post(
        url, {"target_stage": "staging", "justification": "try it", "apply": "Open"}
    )

    promotion = PromotionRequest.objects.get()
    assert response["Location"] == f"{REQUESTS}{promotion.pk}/change/"
    assert (promotion.target_stage, promotion.requested_by) == ("staging", data_scientist)


def test_a_risk_officer_demotes_a_production_version_with_a_reason(risk_officer, world):
    client = login(risk_officer)
    url = f"{VERSIONS}{world.v1.pk}/demote/"
    assert url in client.get(f"{VERSIONS}{world.v1.pk}/change/").content.decode()

    no_reason = client.post(url, {"reason": "", "apply": "Demote"})
    assert no_reason.status_code == 200 and "a reason is required" in messages_of(no_reason)[0]
    world.v1.refresh_from_db()
    assert world.v1.stage == "production"

    response = act_on_versions(client, "demote", world.v1, reason="drift in March")

    assert response.status_code == 302
    world.v1.refresh_from_db()
    assert world.v1.stage == "archived"
    change = StageChange.objects.get(kind="demotion")
    assert (change.model_version, change.reason, change.changed_by) == (
        world.v1,
        "drift in March",
        risk_officer,
    )


def act_on_versions(client, action: str, version: ModelVersion, **data: str):
    return client.post(
        VERSIONS, {"action": action, "_selected_action": [version.pk], "apply": "go", **data}
    )


@pytest.mark.parametrize("who", ["data_scientist", "validator", "auditor"])
def test_demotion_is_not_offered_to_others(who, request, world):
    client = login(request.getfixturevalue(who))
    assert (
        f"{world.v1.pk}/demote/"
        not in client.get(f"{VERSIONS}{world.v1.pk}/change/").content.decode()
    )
    assert (
        client.post(f"{VERSIONS}{world.v1.pk}/demote/", {"reason": "x", "apply": "go"}).status_code
        == 403
    )
    act_on_versions(client, "demote", world.v1, reason="x")
    world.v1.refresh_from_db()
    assert world.v1.stage == "production"


def test_the_stage_is_never_editable_in_the_admin(admin_user, world):
    client = login(admin_user)
    page = client.get(f"{VERSIONS}{world.v2.pk}/change/").content.decode()
    assert 'name="stage"' not in page
    assert "stage" not in ModelVersionAddForm.base_fields
    assert 'name="stage"' not in client.get(f"{VERSIONS}add/").content.decode()

    response = client.post(f"{VERSIONS}{world.v2.pk}/change/", {"stage": "production"})

    assert response.status_code == 403
    world.v2.refresh_from_db()
    assert world.v2.stage == "none"
    stage_change = StageChange.objects.first()
    forged = {"to_stage": "archived", "kind": "demotion", "reason": "forged"}
    assert client.post(f"{ADMIN}/stagechange/{stage_change.pk}/change/", forged).status_code == 403
    assert client.post(f"{ADMIN}/stagechange/add/", forged).status_code == 403
    assert StageChange.objects.count() == 1
