"""Validation findings: raised by a validator or risk officer, answered by their owner, closed
by the person who raised them or another reviewer of the same role.

Rules (each enforced here, for the web pages, the API, the admin and the commands alike):
- only a validator or a risk officer raises a finding, on any version, with a title, a severity,
  a description and an owner: an active data scientist of the model's owning team; a due date,
  if given, is not in the past;
- only the owner (still a data scientist) answers, with a remediation note, while the finding
  is unresolved; answering again replaces the note;
- anyone holding the role it was raised in (the person who raised it, or another reviewer of
  that role) closes it with a note; never the owner, the version's registrant or the
  requester of its active promotion, even one holding that role (separation of duties, as for
  reviews);
- unresolved findings at or above the severity a `no_open_findings` check names block the gate;
- every step writes an audit event in the same transaction; refusals change nothing.
"""

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit import trail
from core import roles
from core.errors import Conflict, Forbidden, InvalidInput
from governance.models import (
    ACTIVE_REQUEST,
    SEVERITY_ORDER,
    Finding,
    FindingSeverity,
    FindingStatus,
    PolicyVersion,
    PromotionRequest,
)
from governance.models.findings import UNRESOLVED
from registry.models import ModelVersion

RAISING_ROLES = (roles.VALIDATOR, roles.RISK_OFFICER)
TITLE_MAX = 200


def gate_threshold(policy_versions: Iterable[PolicyVersion]) -> str | None:
    """The lowest severity at which unresolved findings block these policies' gate (their
    `no_open_findings` checks), or None when none of them has such a check."""
    levels = [
        check["params"]["min_severity"]
        for version in policy_versions
        for check in version.checks
        if check["type"] == "no_open_findings"
    ]
    return min(levels, key=SEVERITY_ORDER.index) if levels else None


def raising_role(user: Any) -> str | None:
    """The role a finding by `user` is raised in (validator first), or None if they may not."""
    if not user.is_authenticated:
        return None
    held = roles.roles_of(user)
    return next((role for role in RAISING_ROLES if role in held), None)


def can_raise(user: Any) -> bool:
    return raising_role(user) is not None


def raise_refusal(user: Any) -> Forbidden | None:
    """Why `user` may not raise a finding (None: they may)."""
    return _not_a_reviewer() if raising_role(user) is None else None


def _not_a_reviewer() -> Forbidden:
    return Forbidden("only validators and risk officers raise findings", code="not_a_reviewer")


def answer_refusal(user: Any, finding: Finding) -> Forbidden | Conflict | None:
    """Why `user` may not answer `finding` now (None: they may)."""
    if not user.is_authenticated or finding.owner_id != user.pk:
        return Forbidden(
            f"only the finding's owner ({finding.owner.get_username()}) answers it",
            code="not_the_owner",
        )
    if not roles.has_role(user, roles.DATA_SCIENTIST):
        # An owner who has since become, say, an auditor only, changes nothing any more.
        return Forbidden(
            "only a data scientist answers findings; you no longer hold that role",
            code="not_a_data_scientist",
        )
    if finding.status not in UNRESOLVED:
        return Conflict("the finding is closed", code="finding_closed")
    return None


def requested_versions(user: Any, version_ids: list[int]) -> set[int]:
    """Which of these versions `user` asks to promote in an active request (one query)."""
    return set(
        PromotionRequest.objects.filter(
            model_version_id__in=version_ids, requested_by_id=user.pk, status__in=ACTIVE_REQUEST
        ).values_list("model_version_id", flat=True)
    )


def close_refusal(
    user: Any, finding: Finding, *, requester: bool | None = None
) -> Forbidden | Conflict | None:
    """Why `user` may not close `finding` now (None: they may).

    `requester`: whether `user` asks for the promotion of the finding's version in an active
    request, when the caller already knows (a page asking for many findings of one version);
    None asks the database."""
    if not user.is_authenticated:
        return Forbidden("sign in to close a finding", code="not_authenticated")
    if finding.owner_id == user.pk:
        return Forbidden(
            "separation of duties: the finding's owner cannot close it", code="owner_cannot_close"
        )
    if finding.model_version.created_by_id == user.pk:
        # Closing is a validation sign-off: as with reviews, not by who built the version.
        return Forbidden(
            f"separation of duties: you registered {finding.model_version}, so you cannot close "
            f"findings on it",
            code="self_review",
        )
    # The raiser too must still hold the role: one who has since become, say, an auditor only
    # changes nothing any more.
    if not roles.has_role(user, finding.raised_role):
        lost = " (you no longer hold that role)" if finding.raised_by_id == user.pk else ""
        return Forbidden(
            f"only {finding.raised_by.get_username()}, who raised it, or another "
            f"{finding.raised_role} closes this finding{lost}",
            code="not_a_closer",
        )
    if requester is None:
        requester = finding.model_version_id in requested_versions(user, [finding.model_version_id])
    if requester:
        # Closing clears what may block the gate: not for whoever asks for the promotion.
        return Forbidden(
            f"separation of duties: you requested the promotion of {finding.model_version}, so "
            f"you cannot close findings on it",
            code="self_review",
        )
    if finding.status not in UNRESOLVED:
        return Conflict("the finding is already closed", code="finding_closed")
    return None


def raise_finding(
    *,
    by: Any,
    version: ModelVersion,
    title: str,
    severity: str,
    description: str,
    owner: Any,
    due_date: date | None = None,
    request: PromotionRequest | None = None,
) -> Finding:
    role = raising_role(by)
    if role is None:
        raise _not_a_reviewer()
    title = (title or "").strip() if isinstance(title, str) else ""
    description = (description or "").strip() if isinstance(description, str) else ""
    if not title:
        raise InvalidInput("a title is required", field="title")
    if len(title) > TITLE_MAX:
        raise InvalidInput(f"the title is longer than {TITLE_MAX} characters", field="title")
    if severity not in FindingSeverity.values:
        raise InvalidInput(
            f"severity must be one of {', '.join(FindingSeverity.values)}", field="severity"
        )
    if not description:
        raise InvalidInput("a description is required", field="description")
    if due_date is not None and due_date < timezone.localdate():
        raise InvalidInput("the due date is in the past", field="due_date")
    if request is not None and request.model_version_id != version.pk:
        raise InvalidInput(
            f"promotion request #{request.pk} is not about {version}", field="promotion_request"
        )
    if owner is None or not isinstance(owner, get_user_model()):
        raise InvalidInput("an owner is required", field="owner")
    team = version.model.owner_team
    if not owner.is_active or not team.has_member(owner):
        raise InvalidInput(
            f"the owner must be an active member of team {team.name!r}, which owns {version.model}",
            field="owner",
        )
    if not roles.has_role(owner, roles.DATA_SCIENTIST):
        # The owner fixes the model: an auditor or validator in the team could not.
        raise InvalidInput(
            f"the owner must be a data scientist; {owner.get_username()} is not", field="owner"
        )
    with transaction.atomic():
        finding = Finding.objects.create(
            model_version=version,
            promotion_request=request,
            title=title,
            severity=severity,
            description=description,
            owner=owner,
            due_date=due_date,
            raised_by=by,
            raised_role=role,
        )
        trail.record(
            finding,
            "finding.raised",
            by=by,
            data={
                "model_version": str(version),
                "promotion_request": request.pk if request is not None else None,
                "title": title,
                "severity": severity,
                "description": description,
                "owner": owner.get_username(),
                "due_date": due_date.isoformat() if due_date else None,
                "role": role,
            },
        )
        _notify("finding.raised", finding)
    return finding


def answer(*, by: Any, finding: Finding, remediation: str) -> Finding:
    remediation = (remediation or "").strip() if isinstance(remediation, str) else ""
    with transaction.atomic():
        finding = _locked(finding.pk)
        # Who may act comes before what they sent: a forged post learns the real reason.
        refusal = answer_refusal(by, finding)
        if refusal is not None:
            raise refusal
        if not remediation:
            raise InvalidInput("a remediation note is required", field="remediation")
        finding.remediation = remediation
        finding.status = FindingStatus.ANSWERED
        finding.answered_by = by
        finding.answered_at = timezone.now()
        finding.save()
        trail.record(
            finding,
            "finding.answered",
            by=by,
            data={"model_version": str(finding.model_version), "remediation": remediation},
        )
        _notify("finding.answered", finding)
    return finding


def close(*, by: Any, finding: Finding, note: str) -> Finding:
    note = (note or "").strip() if isinstance(note, str) else ""
    with transaction.atomic():
        finding = _locked(finding.pk)
        refusal = close_refusal(by, finding)
        if refusal is not None:
            raise refusal
        if not note:
            raise InvalidInput("a closing note is required", field="note")
        previous = finding.status
        finding.status = FindingStatus.CLOSED
        finding.closing_note = note
        finding.closed_by = by
        finding.closed_at = timezone.now()
        finding.save()
        trail.record(
            finding,
            "finding.closed",
            by=by,
            data={
                "model_version": str(finding.model_version),
                "note": note,
                "was": previous,
                "answered": bool(finding.remediation),
            },
        )
        _notify("finding.closed", finding)
    return finding


def _notify(event: str, finding: Finding) -> None:
    from governance.notifications import dispatch

    pk = finding.pk
    transaction.on_commit(lambda: dispatch.finding_event(event, pk))


def _locked(pk: int) -> Finding:
    return (
        Finding.objects.select_for_update(of=("self",))
        .select_related("model_version__model", "owner", "raised_by")
        .get(pk=pk)
    )
