"""When a promotion request goes stale: what it was opened on changed while it was open.

- the artifact digest or the risk tier differs from the one pinned on the request;
- the applicable policies are not the pinned policy versions any more (a policy changed, was
  added, retired, or the model's risk tier moved it under other policies);
- the version changed stage by another path (a demotion, another request);
- new evidence (an assessment of the version) finished after approvals were given: the
  reviewers approved on evidence that has since changed. Before any approval, new evidence
  simply joins the record and the gate reads it.

A stale request is closed; its reviews stay as history, and a new request starts over.
"""

from typing import Any

from django.db.models import Exists, OuterRef

from audit import trail
from governance.models import (
    ACTIVE_REQUEST,
    Assessment,
    PolicyVersion,
    PromotionRequest,
    PromotionStatus,
    Review,
    ReviewDecision,
)
from governance.services import policies
from registry.models import ModelVersion, RegisteredModel


def reason_for(request: PromotionRequest) -> str | None:
    version = request.model_version
    if version.artifact_sha256 != request.artifact_sha256:
        return "the version's artifact digest changed"
    if version.stage != request.from_stage:
        return f"{version} moved from {request.from_stage} to {version.stage}"
    if version.model.risk_tier != request.risk_tier:
        return (
            f"the model's risk tier changed from {request.risk_tier} to {version.model.risk_tier}"
        )
    pinned = set(request.policy_versions.values_list("pk", flat=True))
    current = {v.pk for v in policies.applicable(request.risk_tier, request.target_stage)}
    if pinned != current:
        return _policy_difference(pinned, current)
    return None


def _policy_difference(pinned: set[int], current: set[int]) -> str:
    names = {
        v.pk: str(v)
        for v in PolicyVersion.objects.filter(pk__in=pinned | current).select_related("policy")
    }
    parts = []
    if current - pinned:
        parts.append("now applies " + ", ".join(sorted(names[pk] for pk in current - pinned)))
    if pinned - current:
        parts.append("no longer applies " + ", ".join(sorted(names[pk] for pk in pinned - current)))
    return "the applicable policies changed: " + "; ".join(parts)


def mark(request: PromotionRequest, reason: str, *, by: Any) -> bool:
    """Close one active request as stale (caller's transaction); False if it was not active."""
    from django.utils import timezone

    updated = PromotionRequest.objects.filter(pk=request.pk, status__in=ACTIVE_REQUEST).update(
        status=PromotionStatus.STALE,
        status_reason=reason,
        closed_at=timezone.now(),
        updated_at=timezone.now(),
        revision=request.revision + 1,
    )
    if not updated:
        return False
    request.status = PromotionStatus.STALE
    request.status_reason = reason
    trail.record(
        request,
        "promotion.stale",
        by=by if getattr(by, "pk", None) else None,
        data={"model_version": str(request.model_version), "reason": reason},
    )
    from django.db import transaction

    from governance.notifications import dispatch

    request_id = request.pk
    transaction.on_commit(lambda: dispatch.promotion_event("promotion.stale", request_id))
    return True


def _active(**filters: Any) -> list[PromotionRequest]:
    return list(
        PromotionRequest.objects.select_for_update(of=("self",))
        .filter(status__in=ACTIVE_REQUEST, **filters)
        .select_related("model_version__model")
        .order_by("id")
    )


def policy_changed(version: PolicyVersion, *, by: Any) -> list[PromotionRequest]:
    """After a policy version is saved: every active request whose applicable set changed."""
    stale = []
    for request in _active():
        reason = reason_for(request)
        if reason is not None and mark(request, f"{reason} ({version} saved)", by=by):
            stale.append(request)
    return stale


def model_changed(model: RegisteredModel, changed: dict[str, Any], *, by: Any) -> None:
    """After a model card edit: a new risk tier changes which policies apply."""
    if "risk_tier" not in changed:
        return
    for request in _active(model=model):
        reason = reason_for(request)
        if reason is not None:
            mark(request, reason, by=by)


def version_moved(
    version: ModelVersion, *, by: Any, except_request: PromotionRequest | None
) -> None:
    """After a stage change: other active requests of that version were opened from another
    stage."""
    for request in _active(model_version=version):
        if except_request is not None and request.pk == except_request.pk:
            continue
        mark(request, f"{version} moved to {version.stage}", by=by)


def evidence_changed(assessment: Assessment) -> None:
    """After an assessment of a version succeeds: requests already approved by someone."""
    if assessment.model_version_id is None:
        return
    approved = Review.objects.filter(request=OuterRef("pk"), decision=ReviewDecision.APPROVE)
    for request in _active(model_version_id=assessment.model_version_id):
        if PromotionRequest.objects.filter(pk=request.pk).filter(Exists(approved)).exists():
            mark(
                request,
                f"new evidence: {assessment.kind} assessment #{assessment.pk} finished after "
                f"approvals were given",
                by=None,
            )
