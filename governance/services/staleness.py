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

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet

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


def reason_for(
    request: PromotionRequest, applicable: dict[tuple[str, str], set[int]] | None = None
) -> str | None:
    """Why `request` is stale, or None. `applicable` caches the applicable policy ids per
    (risk tier, stage) across calls, so a sweep over many requests stays a few queries."""
    version = request.model_version
    if version.artifact_sha256 != request.artifact_sha256:
        return "the version's artifact digest changed"
    if version.stage != request.from_stage:
        return f"{version} moved from {request.from_stage} to {version.stage}"
    if version.model.risk_tier != request.risk_tier:
        return (
            f"the model's risk tier changed from {request.risk_tier} to {version.model.risk_tier}"
        )
    pinned = {v.pk for v in request.policy_versions.all()}  # prefetched by sweeps
    key = (request.risk_tier, request.target_stage)
    cache = applicable if applicable is not None else {}
    if key not in cache:
        cache[key] = {v.pk for v in policies.applicable(*key)}
    current = cache[key]
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
        revision=F("revision") + 1,
    )
    if not updated:
        return False
    request.status = PromotionStatus.STALE
    request.status_reason = reason
    event = trail.record(
        request,
        "promotion.stale",
        by=by if getattr(by, "pk", None) else None,
        data={"model_version": str(request.model_version), "reason": reason},
    )
    from governance.notifications import dispatch

    request_id, audit_event_id = request.pk, event.pk
    transaction.on_commit(
        lambda: dispatch.promotion_event(
            "promotion.stale", request_id, audit_event_id=audit_event_id
        )
    )
    return True


# A reason for one request (None: not stale), with a cache of applicable policies to share.
Reason = Callable[[PromotionRequest, dict[tuple[str, str], set[int]]], str | None]


def _sweep(query: QuerySet[PromotionRequest], reason: Reason, *, by: Any) -> list[PromotionRequest]:
    """Mark stale each active request of `query` for which `reason` gives one.

    The sweeps run in transactions that already hold the audit chain's lock (a policy save or an
    assessment's success recorded its event first; a stage change recorded its own), while a
    promotion transaction locks its request row before it appends to the chain: waiting here for
    such a row would deadlock. So rows another transaction holds are skipped, and checked again
    once this transaction has committed (`_recheck`), when waiting for them is safe."""
    active = query.filter(status__in=ACTIVE_REQUEST)
    locked = list(
        active.select_for_update(of=("self",), skip_locked=True)
        .select_related("model_version__model")
        .prefetch_related("policy_versions")
        .order_by("id")
    )
    cache: dict[tuple[str, str], set[int]] = {}
    stale = []
    for request in locked:
        why = reason(request, cache)
        if why is not None and mark(request, why, by=by):
            stale.append(request)
    skipped = set(active.values_list("pk", flat=True)) - {r.pk for r in locked}
    if skipped:
        transaction.on_commit(lambda: _recheck(skipped, reason, by=by))
    return stale


def _recheck(ids: set[int], reason: Reason, *, by: Any) -> None:
    """The sweep for requests a concurrent transaction held: after that sweep committed, in a
    transaction of its own that holds nothing while it waits for their rows."""
    with transaction.atomic():
        requests = list(
            PromotionRequest.objects.select_for_update(of=("self",))
            .filter(pk__in=ids, status__in=ACTIVE_REQUEST)
            .select_related("model_version__model")
            .prefetch_related("policy_versions")
            .order_by("id")
        )
        cache: dict[tuple[str, str], set[int]] = {}
        for request in requests:
            why = reason(request, cache)
            if why is not None:
                mark(request, why, by=by)


def policy_changed(version: PolicyVersion, *, by: Any) -> list[PromotionRequest]:
    """After a policy version is saved: every active request whose applicable set changed."""

    def reason(request: PromotionRequest, cache: dict[tuple[str, str], set[int]]) -> str | None:
        why = reason_for(request, cache)
        return f"{why} ({version} saved)" if why is not None else None

    return _sweep(PromotionRequest.objects.all(), reason, by=by)


def model_changed(model: RegisteredModel, changed: dict[str, Any], *, by: Any) -> None:
    """After a model card edit: a new risk tier changes which policies apply."""
    if "risk_tier" not in changed:
        return
    _sweep(PromotionRequest.objects.filter(model=model), reason_for, by=by)


def version_moved(
    version: ModelVersion, *, by: Any, except_request: PromotionRequest | None
) -> None:
    """After a stage change: other active requests of that version were opened from another
    stage."""
    query = PromotionRequest.objects.filter(model_version=version)
    if except_request is not None:
        query = query.exclude(pk=except_request.pk)

    def reason(request: PromotionRequest, cache: dict[tuple[str, str], set[int]]) -> str | None:
        moved = request.model_version
        return f"{moved} moved to {moved.stage}" if moved.stage != request.from_stage else None

    _sweep(query, reason, by=by)


def evidence_changed(assessment: Assessment) -> None:
    """After an assessment of a version succeeds: requests already approved by someone."""
    if assessment.model_version_id is None:
        return

    def reason(request: PromotionRequest, cache: dict[tuple[str, str], set[int]]) -> str | None:
        if not Review.objects.filter(request=request, decision=ReviewDecision.APPROVE).exists():
            return None
        return (
            f"new evidence: {assessment.kind} assessment #{assessment.pk} finished after "
            f"approvals were given"
        )

    _sweep(
        PromotionRequest.objects.filter(model_version_id=assessment.model_version_id),
        reason,
        by=None,
    )
