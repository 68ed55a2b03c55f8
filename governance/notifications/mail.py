"""E-mails about promotion requests: the reviewers who can act, and the requester.

- `promotion.requested`: every reviewer who can act on the request, that is every active user
  with an e-mail address whom `promotions.review_refusal` lets review it (it holds the rules:
  a role the request needs, not the requester, not the version's registrant, ...);
- `promotion.blocked`, `.completed`, `.rejected`, `.stale`: the requester, who has something to
  do (fix the evidence, deploy, or open a new request).

One message per recipient (nobody sees the others' addresses), through Django's default mailer
(settings.MAILERS).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.mail import EmailMessage, mailers
from django.db.models import Prefetch, Q
from django.urls import reverse

from core import roles
from governance.models import PromotionRequest
from governance.notifications.events import (
    PromotionEvent,
    absolute,
    request_path,
    review_path,
)
from governance.policies.checks.approvals import describe

REVIEWER_EVENTS = frozenset({"promotion.requested"})
REQUESTER_EVENTS = frozenset(
    {"promotion.blocked", "promotion.completed", "promotion.rejected", "promotion.stale"}
)
SUBJECT_PREFIX = "[ModelGate] "


def reviewers_who_can_act(request: PromotionRequest) -> list[AbstractBaseUser]:
    """Active users with an address who may review `request` now, by username.

    Candidates are fetched in one query with their role groups prefetched; each one's roles are
    primed from those rows so that `review_refusal` does not query them again per person.
    """
    from governance.services.promotions import review_refusal

    needed = list(request.required_approvals)
    if not needed:
        return []
    holds_a_needed_role = Q(groups__name__in=needed)
    if roles.ADMIN in needed:
        holds_a_needed_role |= Q(is_superuser=True)
    candidates = (
        get_user_model()
        .objects.filter(holds_a_needed_role, is_active=True)
        .exclude(email="")
        .distinct()
        .order_by("username")
        .prefetch_related(
            Prefetch("groups", queryset=Group.objects.filter(name__in=roles.ALL_ROLES))
        )
    )
    eligible = []
    for user in candidates:
        names = {group.name for group in user.groups.all()}
        if user.is_superuser:
            names.add(roles.ADMIN)
        # The cache roles.roles_of() reads first: the prefetched groups are the same answer.
        user._modelgate_roles = frozenset(names)
        if review_refusal(user, request) is None:
            eligible.append(user)
    return eligible


def messages_for(event: PromotionEvent) -> list[EmailMessage]:
    request = event.request
    if event.event in REVIEWER_EVENTS:
        subject, text = _review_requested(event)
        return [_message(user.email, subject, text) for user in reviewers_who_can_act(request)]
    if event.event in REQUESTER_EVENTS:
        requester = request.requested_by
        if requester.is_active and requester.email:
            subject, text = _outcome(event)
            return [_message(requester.email, subject, text)]
    return []


def send(event: PromotionEvent) -> int:
    """E-mail everyone this event concerns; how many messages were sent."""
    messages = messages_for(event)
    if not messages:
        return 0
    return mailers.default.send_messages(messages) or 0


def _message(to: str, subject: str, text: str) -> EmailMessage:
    return EmailMessage(subject=SUBJECT_PREFIX + subject, body=text, to=[to])


def _what(request: PromotionRequest) -> str:
    return f"{request.model.name} version {request.model_version.version}"


def _links(request: PromotionRequest) -> str:
    return (
        f"Review page: {absolute(review_path(request.pk))}\n"
        f"Model version: {absolute(version_path(request))}\n"
        f"API: {absolute(request_path(request.pk))}\n"
    )


def version_path(request: PromotionRequest) -> str:
    version = request.model_version
    return reverse("web:version", args=[request.model.name, version.version])


def _review_requested(event: PromotionEvent) -> tuple[str, str]:
    request = event.request
    kind = "rollback" if request.is_rollback else "promotion"
    subject = f"Review requested: {_what(request)} to {request.target_stage} (#{request.pk})"
    text = (
        f"{request.requested_by.get_username()} asks for the {kind} of {_what(request)} "
        f"from {request.from_stage} to {request.target_stage} (risk tier {request.risk_tier}).\n\n"
        f"Justification:\n{request.justification}\n\n"
        f"Approvals needed: {describe(request.required_approvals)}.\n\n"
        f"{_links(request)}\n"
        "You receive this because you hold a role this request needs and may review it.\n"
    )
    return subject, text


OUTCOMES = {
    "promotion.blocked": "approved, but the policy gate is blocked",
    "promotion.completed": "completed",
    "promotion.rejected": "rejected",
    "promotion.stale": "stale",
}


def _outcome(event: PromotionEvent) -> tuple[str, str]:
    request = event.request
    outcome = OUTCOMES[event.event]
    subject = f"Request #{request.pk} {outcome}: {_what(request)} to {request.target_stage}"
    lines = [f"Your request to move {_what(request)} to {request.target_stage} is {outcome}."]
    if event.event == "promotion.completed":
        lines.append(f"{_what(request)} is now in {request.target_stage}.")
    elif event.event == "promotion.blocked":
        lines.append("What blocks it:")
        lines.extend(
            f"- {item.get('policy')}/{item.get('check')}: {item.get('reason')}"
            for item in request.blocking
        )
        lines.append("Fix the evidence, then retry the promotion.")
    elif request.status_reason:
        lines.append(f"Reason: {request.status_reason}")
    if event.event == "promotion.stale":
        lines.append("Open a new request to start the review again.")
    if event.actor:
        lines.append(f"By: {event.actor}")
    return subject, "\n".join(lines) + "\n\n" + _links(request)
