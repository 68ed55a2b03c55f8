"""Validation findings: the service's rules (who raises, answers, closes; what it checks; the
audit trail), the `no_open_findings` check type, the gate with the shipped high-risk pack, and
the management commands."""

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit import trail
from audit.models import AuditEvent
from core import roles
from core.errors import Conflict, Forbidden, InvalidInput
from governance.models import Finding, PromotionRequest
from governance.policies.checks import REGISTRY
from governance.policies.context import EvidenceContext, FindingFacts
from governance.policies.errors import PolicyDocumentError
from governance.services import evaluation, findings, promotions
from tests.factories import UserFactory
from tests.governance import gate_setup as g
from tests.governance.finding_setup import finding_events, fresh, raised, version_of
from tests.governance.test_policy_checks import version as version_facts

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(team, data_scientist):
    return version_of(team, data_scientist)


@pytest.fixture
def finding(version, validator, data_scientist):
    return raised(validator, version, data_scientist)


def nothing_written() -> None:
    assert Finding.objects.count() == 0
    assert finding_events() == []


# --- raising ---------------------------------------------------------------------------------


def test_a_validator_raises_a_finding_with_its_audit_event(version, validator, data_scientist):
    due = timezone.localdate() + timedelta(days=14)
    found = raised(validator, version, data_scientist, severity="medium", due_date=due)

    stored = fresh(found)
    assert (stored.status, stored.severity, stored.raised_role) == ("open", "medium", "validator")
    assert (stored.owner, stored.raised_by, stored.due_date) == (data_scientist, validator, due)
    assert stored.model_version == version and stored.promotion_request is None
    event = AuditEvent.objects.get(action="finding.raised")
    assert (event.target_id, event.actor_username) == (str(found.pk), "vera")
    assert event.data["severity"] == "medium" and event.data["owner"] == "dana"
    assert event.data["due_date"] == due.isoformat() and event.data["role"] == "validator"
    assert trail.verify_chain().valid


def test_a_risk_officer_raises_in_the_risk_officer_role(version, risk_officer, data_scientist):
    assert raised(risk_officer, version, data_scientist).raised_role == "risk officer"


@pytest.mark.parametrize(
    "who", ["data_scientist", "other_data_scientist", "auditor", "admin_user", "outsider"]
)
def test_only_validators_and_risk_officers_raise_findings(request, version, data_scientist, who):
    with pytest.raises(Forbidden) as refused:
        raised(request.getfixturevalue(who), version, data_scientist)

    assert refused.value.code == "not_a_reviewer"
    assert findings.raise_refusal(request.getfixturevalue(who)) is not None
    nothing_written()


def test_the_owner_must_be_an_active_data_scientist_of_the_owning_team(
    version, validator, team, other_data_scientist, auditor
):
    inactive = UserFactory(username="ina", roles=[roles.DATA_SCIENTIST], is_active=False)
    team.members.add(inactive)
    validator_in_team = UserFactory(username="val-in-team", roles=[roles.VALIDATOR])
    team.members.add(validator_in_team)

    for owner in (other_data_scientist, inactive, auditor, validator_in_team, None):
        with pytest.raises(InvalidInput) as refused:
            raised(validator, version, owner)
        assert refused.value.extra["field"] == "owner", owner
    nothing_written()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"severity": "critical"}, "severity"),
        ({"description": ""}, "description"),
        ({"due_date": "yesterday"}, "due_date"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    version, validator, data_scientist, change, field
):
    values: dict[str, Any] = dict(change)
    if values.get("due_date") == "yesterday":
        values["due_date"] = timezone.localdate() - timedelta(days=1)

    with pytest.raises(InvalidInput) as refused:
        raised(validator, version, data_scientist, **values)

    assert refused.value.extra["field"] == field
    nothing_written()


def test_a_due_date_of_today_is_accepted(version, validator, data_scientist):
    today = timezone.localdate()
    assert raised(validator, version, data_scientist, due_date=today).due_date == today


def test_the_promotion_request_must_be_about_the_version(
    risk_officer, team, data_scientist, validator
):
    g.install_default_pack(risk_officer)
    version = version_of(team, data_scientist)
    other = version_of(team, data_scientist, model=version.model)
    request = promotions.open_request(
        by=data_scientist, version=other, target_stage="staging", justification="ready"
    )

    with pytest.raises(InvalidInput) as refused:
        raised(validator, version, data_scientist, request=request)
    assert refused.value.extra["field"] == "promotion_request"
    nothing_written()

    on_request = raised(validator, other, data_scientist, request=request)
    assert fresh(on_request).promotion_request == request


# --- answering -------------------------------------------------------------------------------


def test_the_owner_answers_and_answering_again_replaces_the_note(finding, data_scientist):
    findings.answer(by=data_scientist, finding=finding, remediation="Re-weighted the training set.")
    answered = findings.answer(by=data_scientist, finding=finding, remediation="Retrained v3.")

    stored = fresh(answered)
    assert (stored.status, stored.remediation) == ("answered", "Retrained v3.")
    assert stored.answered_by == data_scientist and stored.answered_at is not None
    assert finding_events(finding) == ["finding.raised", "finding.answered", "finding.answered"]
    assert AuditEvent.objects.filter(action="finding.answered").last().data["remediation"] == (
        "Retrained v3."
    )


@pytest.mark.parametrize(
    "who", ["validator", "risk_officer", "other_data_scientist", "auditor", "admin_user"]
)
def test_only_the_owner_answers(request, finding, who):
    person = request.getfixturevalue(who)
    assert findings.answer_refusal(person, finding).code == "not_the_owner"

    with pytest.raises(Forbidden) as refused:
        # An empty note too: who may act is decided before what they sent.
        findings.answer(by=person, finding=finding, remediation="")

    assert refused.value.code == "not_the_owner"
    assert "dana" in refused.value.detail
    assert fresh(finding).status == "open"
    assert finding_events(finding) == ["finding.raised"]


def test_a_team_mate_who_is_not_the_owner_cannot_answer(finding, team):
    mate = UserFactory(username="mia", roles=[roles.DATA_SCIENTIST])
    team.members.add(mate)

    with pytest.raises(Forbidden):
        findings.answer(by=mate, finding=finding, remediation="done")
    assert fresh(finding).status == "open"


def test_an_owner_who_no_longer_holds_the_data_scientist_role_cannot_answer(
    finding, data_scientist
):
    data_scientist.groups.clear()
    owner = type(data_scientist).objects.get(pk=data_scientist.pk)  # roles are cached per object

    with pytest.raises(Forbidden) as refused:
        findings.answer(by=owner, finding=finding, remediation="done")
    assert refused.value.code == "not_a_data_scientist"


def test_an_empty_remediation_is_refused_and_writes_nothing(finding, data_scientist):
    with pytest.raises(InvalidInput) as refused:
        findings.answer(by=data_scientist, finding=finding, remediation="   ")

    assert refused.value.extra["field"] == "remediation"
    assert fresh(finding).status == "open"
    assert finding_events(finding) == ["finding.raised"]


# --- closing ---------------------------------------------------------------------------------


def test_the_person_who_raised_it_closes_it(finding, validator, data_scientist):
    findings.answer(by=data_scientist, finding=finding, remediation="Retrained.")
    closed = findings.close(by=validator, finding=finding, note="Verified on v3 evidence.")

    stored = fresh(closed)
    assert (stored.status, stored.closing_note, stored.closed_by) == (
        "closed",
        "Verified on v3 evidence.",
        validator,
    )
    assert stored.closed_at is not None and stored.remediation == "Retrained."
    assert finding_events(finding) == ["finding.raised", "finding.answered", "finding.closed"]
    event = AuditEvent.objects.get(action="finding.closed")
    assert event.data["was"] == "answered" and event.data["answered"] is True
    assert trail.verify_chain().valid


def test_another_reviewer_of_the_same_role_closes_it_even_unanswered(finding):
    colleague = UserFactory(username="val2", roles=[roles.VALIDATOR])

    closed = findings.close(by=colleague, finding=finding, note="Accepted as a known limitation.")

    assert fresh(closed).status == "closed"
    assert AuditEvent.objects.get(action="finding.closed").data["was"] == "open"


@pytest.mark.parametrize(
    "who", ["risk_officer", "data_scientist", "other_data_scientist", "auditor", "admin_user"]
)
def test_others_cannot_close_it(request, finding, who):
    person = request.getfixturevalue(who)

    with pytest.raises(Forbidden) as refused:
        findings.close(by=person, finding=finding, note="")

    expected = "owner_cannot_close" if who == "data_scientist" else "not_a_closer"
    assert refused.value.code == expected
    assert findings.close_refusal(person, finding).code == expected
    assert fresh(finding).status == "open"
    assert finding_events(finding) == ["finding.raised"]


def test_a_raiser_who_no_longer_holds_the_role_cannot_close(finding, validator):
    validator.groups.clear()
    auditor_now = UserFactory(username="vera", roles=[roles.AUDITOR])  # the same user, reloaded

    with pytest.raises(Forbidden) as refused:
        findings.close(by=auditor_now, finding=finding, note="closing on my way out")

    assert refused.value.code == "not_a_closer"
    assert "you no longer hold that role" in refused.value.detail
    assert fresh(finding).status == "open"


def test_the_owner_never_closes_even_holding_the_raising_role(version, team, risk_officer):
    owner = UserFactory(username="dual", roles=[roles.DATA_SCIENTIST, roles.VALIDATOR])
    team.members.add(owner)
    found = raised(risk_officer, version, owner)
    validator_found = raised(UserFactory(username="val3", roles=[roles.VALIDATOR]), version, owner)

    for target in (found, validator_found):
        with pytest.raises(Forbidden) as refused:
            findings.close(by=owner, finding=target, note="fixed it myself")
        assert refused.value.code == "owner_cannot_close"


def test_the_versions_registrant_never_closes_even_holding_the_raising_role(team, data_scientist):
    builder = UserFactory(username="builder", roles=[roles.DATA_SCIENTIST, roles.VALIDATOR])
    team.members.add(builder)
    version = version_of(team, builder)
    found = raised(UserFactory(username="val4", roles=[roles.VALIDATOR]), version, data_scientist)

    with pytest.raises(Forbidden) as refused:
        findings.close(by=builder, finding=found, note="my model is fine")

    assert refused.value.code == "self_review"
    assert fresh(found).status == "open"
    assert finding_events(found) == ["finding.raised"]


def test_closed_is_final(finding, validator, data_scientist):
    findings.close(by=validator, finding=finding, note="Resolved.")

    with pytest.raises(Conflict) as again:
        findings.close(by=validator, finding=finding, note="Again.")
    assert again.value.code == "finding_closed"
    with pytest.raises(Conflict) as answer:
        findings.answer(by=data_scientist, finding=finding, remediation="Late answer.")
    assert answer.value.code == "finding_closed"
    assert fresh(finding).closing_note == "Resolved."
    assert finding_events(finding) == ["finding.raised", "finding.closed"]


def test_an_empty_closing_note_is_refused_and_writes_nothing(finding, validator):
    with pytest.raises(InvalidInput) as refused:
        findings.close(by=validator, finding=finding, note="")

    assert refused.value.extra["field"] == "note"
    assert fresh(finding).status == "open"
    assert finding_events(finding) == ["finding.raised"]


# --- the check type --------------------------------------------------------------------------

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def judged(*unresolved: FindingFacts, min_severity: str = "high") -> Any:
    cls = REGISTRY["no_open_findings"]
    check = cls(
        cls.clean({"id": "c", "type": "no_open_findings", "min_severity": min_severity}, "c")
    )
    context = EvidenceContext(
        version=version_facts(findings=unresolved),
        target_stage="production",
        risk_tier="high",
        now=NOW,
        production=None,
        request=None,
    )
    return check.evaluate(context)


HIGH = FindingFacts(7, "Race disparity", "high", "open")
HIGH_ANSWERED = FindingFacts(8, "Drift", "high", "answered")
MEDIUM = FindingFacts(9, "Stale card", "medium", "open")
LOW = FindingFacts(10, "Typo in card", "low", "answered")


def test_an_unresolved_finding_at_the_severity_blocks_citing_it():
    result = judged(HIGH, LOW)

    assert not result.passed
    assert result.evidence == {"findings": [7]}
    assert "#7 Race disparity (high, open)" in result.reason
    assert result.observed["unresolved"] == {"low": 1, "medium": 0, "high": 1}
    assert result.threshold == {"min_severity": "high"}


def test_an_answered_finding_still_blocks_until_it_is_closed():
    result = judged(HIGH_ANSWERED)

    assert not result.passed and result.evidence == {"findings": [8]}


def test_findings_below_the_severity_pass_and_are_counted():
    result = judged(MEDIUM, LOW)

    assert result.passed
    assert result.evidence == {"findings": []}
    assert "2 lower-severity findings unresolved" in result.reason


def test_a_lower_threshold_blocks_every_finding_at_or_above_it():
    assert judged(MEDIUM, min_severity="medium").evidence == {"findings": [9]}
    assert judged(HIGH, MEDIUM, LOW, min_severity="medium").evidence == {"findings": [7, 9]}
    assert judged(LOW, min_severity="low").evidence == {"findings": [10]}
    assert judged(LOW, min_severity="medium").passed


def test_no_finding_passes():
    result = judged()
    assert result.passed and result.reason == "no unresolved finding of severity high or above"


def test_an_unknown_severity_parameter_is_refused_by_the_document():
    with pytest.raises(PolicyDocumentError):
        judged(min_severity="critical")


def test_only_unresolved_findings_of_the_version_reach_the_check(
    team, data_scientist, validator, risk_officer
):
    g.install_default_pack(risk_officer)
    version = version_of(team, data_scientist)
    g.full_evidence(version)
    other = version_of(team, data_scientist, model=version.model)
    blocking = raised(validator, version, data_scientist, title="Open one")
    closed = raised(validator, version, data_scientist, title="Closed one")
    findings.close(by=validator, finding=closed, note="fixed")
    raised(validator, other, data_scientist, title="On another version")

    dry_run = evaluation.evaluate(version, "production", by=validator)

    check = dry_run.checks.get(check_id="no-open-findings")
    assert not check.passed
    assert check.evidence["findings"] == [blocking.pk]
    assert [b["id"] for b in check.observed["blocking"]] == [blocking.pk]

    findings.close(by=validator, finding=blocking, note="fixed too")
    again = evaluation.evaluate(version, "production", by=validator)
    assert again.checks.get(check_id="no-open-findings").passed


# --- the gate with the shipped high-risk pack ------------------------------------------------


def test_a_high_finding_blocks_promotion_until_it_is_closed(
    team, data_scientist, validator, risk_officer
):
    g.install_default_pack(risk_officer)
    version = version_of(team, data_scientist)
    g.full_evidence(version)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification="ready"
    )
    found = raised(validator, version, data_scientist, request=request)
    minor = raised(validator, version, data_scientist, severity="medium", title="Card wording")

    request = promotions.review(
        by=validator, request=request, decision="approve", comment="fine but for the finding"
    )
    request = promotions.review(
        by=risk_officer, request=request, decision="approve", comment="agreed"
    )

    assert request.status == "approved"
    assert [b["check"] for b in request.blocking] == ["no-open-findings"]
    assert f"#{found.pk}" in request.blocking[0]["reason"]
    assert f"#{minor.pk}" not in request.blocking[0]["reason"]
    version.refresh_from_db()
    assert version.stage == "none"

    findings.answer(by=data_scientist, finding=found, remediation="Retrained with re-weighting.")
    with pytest.raises(Conflict) as blocked:
        promotions.promote(by=data_scientist, request=request)
    assert blocked.value.code == "gate_blocked"

    findings.close(by=validator, finding=found, note="Checked the new fairness numbers.")
    request = promotions.promote(by=data_scientist, request=request)

    assert request.status == "completed"
    version.refresh_from_db()
    assert version.stage == "production"
    assert PromotionRequest.objects.get(pk=request.pk).blocking == []
    assert trail.verify_chain().valid


# --- commands --------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_commands_raise_answer_and_close_a_finding(version, validator, data_scientist):
    due = (timezone.localdate() + timedelta(days=7)).isoformat()
    output = run(
        "raise_finding", version.model.name, str(version.version), "--as", "vera",
        "--title", "Race disparity", "--severity", "high", "--description", "Above 0.1.",
        "--owner", "dana", "--due", due,
    )  # fmt: skip
    found = Finding.objects.get()
    assert f"raised finding #{found.pk}" in output
    assert f"severity high, status open, owner dana, due {due}" in output

    output = run("answer_finding", str(found.pk), "--as", "dana", "--remediation", "Retrained.")
    assert "status answered" in output

    output = run("close_finding", str(found.pk), "--as", "vera", "--note", "Verified.")
    assert "status closed" in output
    assert finding_events(found) == ["finding.raised", "finding.answered", "finding.closed"]


def test_the_commands_refuse_with_the_services_reason(version, finding, data_scientist):
    with pytest.raises(CommandError) as refused:
        run(
            "raise_finding", version.model.name, str(version.version), "--as", "dana",
            "--title", "t", "--severity", "high", "--description", "d", "--owner", "dana",
        )  # fmt: skip
    assert "[not_a_reviewer]" in str(refused.value)

    with pytest.raises(CommandError) as refused:
        run("answer_finding", str(finding.pk), "--as", "vera", "--remediation", "x")
    assert "[not_the_owner]" in str(refused.value)

    with pytest.raises(CommandError) as refused:
        run("close_finding", str(finding.pk), "--as", "dana", "--note", "x")
    assert "[owner_cannot_close]" in str(refused.value)

    with pytest.raises(CommandError) as refused:
        run("close_finding", "999999", "--as", "vera", "--note", "x")
    assert "no finding #999999" in str(refused.value)

    with pytest.raises(CommandError) as refused:
        run(
            "raise_finding", version.model.name, str(version.version), "--as", "vera",
            "--title", "t", "--severity", "high", "--description", "d", "--owner", "dana",
            "--due", "someday",
        )  # fmt: skip
    assert "'someday' is not a date" in str(refused.value) and "[invalid]" in str(refused.value)
    assert Finding.objects.count() == 1
    assert finding_events(finding) == ["finding.raised"]


def test_the_requester_of_the_versions_promotion_cannot_close_its_findings(
    team, data_scientist, validator
):
    # A data scientist who is also a validator asks for the promotion: closing a finding that
    # blocks it would clear their own gate.
    requester = UserFactory(username="dual2", roles=[roles.DATA_SCIENTIST, roles.VALIDATOR])
    team.members.add(requester)
    version = version_of(team, data_scientist)
    g.full_evidence(version)
    promotions.open_request(
        by=requester, version=version, target_stage="production", justification="ready"
    )
    found = raised(validator, version, data_scientist)

    with pytest.raises(Forbidden) as refused:
        findings.close(by=requester, finding=found, note="fixed, trust me")

    assert refused.value.code == "self_review"
    assert "you requested the promotion" in refused.value.detail
    assert fresh(found).status == "open"
    findings.close(by=validator, finding=found, note="verified the remediation")
    assert fresh(found).status == "closed"


def test_whoever_has_the_next_step_is_emailed_with_a_link_to_the_finding(
    version, validator, data_scientist, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        found = raised(validator, version, data_scientist, due_date=date(2099, 1, 31))
    with django_capture_on_commit_callbacks(execute=True):
        findings.answer(by=data_scientist, finding=found, remediation="Re-weighted the data.")
    with django_capture_on_commit_callbacks(execute=True):
        findings.close(by=validator, finding=found, note="Verified on the new evidence.")

    raised_mail, answered_mail, closed_mail = mailoutbox
    link = f"http://127.0.0.1:8000/findings/{found.pk}/"
    assert raised_mail.to == ["dana@example.org"]
    assert raised_mail.subject.startswith(f"[ModelGate] Finding #{found.pk} (high) on {version}")
    assert "Due: 2099-01-31" in raised_mail.body and link in raised_mail.body
    assert answered_mail.to == ["vera@example.org"]
    assert "Re-weighted the data." in answered_mail.body and link in answered_mail.body
    assert closed_mail.to == ["dana@example.org"]
    assert "Verified on the new evidence." in closed_mail.body


def test_a_refused_step_emails_nobody(
    version, validator, data_scientist, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        found = raised(validator, version, data_scientist)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Forbidden):
        findings.close(by=data_scientist, finding=found, note="mine now")
    assert mailoutbox == []
