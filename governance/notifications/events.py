"""What a promotion event says: the facts every notification of it is built from."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import PromotionRequest, Review


def request_path(request_id: int) -> str:
    """The request's resource in the REST API (ARCHITECTURE.md)."""
    return f"/api/v1/promotion-requests/{request_id}/"


def review_path(request_id: int) -> str:
    """The reviewer's page for the request (ARCHITECTURE.md, web pages)."""
    return reverse("web:request", args=[request_id])


def absolute(path: str) -> str:
    """`path` on the deployment's public address (MODELGATE_BASE_URL): e-mails and webhook
    receivers are outside the site, so a bare path would lead nowhere."""
    return settings.MODELGATE_BASE_URL.rstrip("/") + path


@dataclass(frozen=True)
class PromotionEvent:
    event: str
    request: PromotionRequest
    actor: str | None
    occurred_at: datetime

    def payload(self) -> dict[str, Any]:
        """The webhook body (without the delivery id, added per delivery)."""
        request = self.request
        version = request.model_version
        data: dict[str, Any] = {
            "event": self.event,
            "occurred_at": self.occurred_at.isoformat(),
            "actor": self.actor,
            "request_id": request.pk,
            "url": request_path(request.pk),
            "page_url": absolute(review_path(request.pk)),
            "model": request.model.name,
            "version": version.version,
            "from_stage": request.from_stage,
            "target_stage": request.target_stage,
            "status": request.status,
            "status_reason": request.status_reason,
            "is_rollback": request.is_rollback,
            "requested_by": request.requested_by.get_username(),
            "required_approvals": request.required_approvals,
        }
        if self.event == "promotion.blocked":
            data["blocking"] = request.blocking
        return data


def load(
    event: str,
    request_id: int,
    *,
    audit_event_id: int | None = None,
) -> PromotionEvent:
    """The request as it is now, and who did what the event announces and when.

    The services pass the audit event that records the step; without it (a hand-made call)
    the actor and time come from the latest event of that action on the request (for a
    review, the latest review of the request).
    """
    request = PromotionRequest.objects.select_related(
        "model", "model_version__created_by", "requested_by"
    ).get(pk=request_id)
    if audit_event_id is not None:
        recorded = (
            AuditEvent.objects.filter(pk=audit_event_id)
            .values_list("actor_username", "created_at")
            .first()
        )
        if recorded is not None:
            return PromotionEvent(event, request, recorded[0] or None, recorded[1])
    actor: str | None = None
    occurred_at = timezone.now()
    if event == "promotion.reviewed":
        review = (
            Review.objects.filter(request_id=request_id)
            .select_related("reviewer")
            .order_by("-created_at", "-id")
            .first()
        )
        if review is not None:
            actor, occurred_at = review.reviewer.get_username(), review.created_at
    else:
        audit = (
            AuditEvent.objects.for_object(request)
            .filter(action=event)
            .order_by("-id")
            .values_list("actor_username", "created_at")
            .first()
        )
        if audit is not None:
            actor, occurred_at = audit[0] or None, audit[1]
    return PromotionEvent(event, request, actor, occurred_at)
