"""Stage changes: the one place a model version's stage moves, and its history.

Only the promotion service calls `move` (inside its transaction, with the model's promotion
lock held): the gate's promotions and rollbacks, and demotions. Every move is a StageChange row,
and the database refuses a stage UPDATE that does not match the latest row.
"""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery

from audit import trail
from core.errors import Conflict
from governance.models import PolicyEvaluation, PromotionRequest, StageChange, StageChangeKind
from registry.models import ModelVersion, RegisteredModel, Stage


def move(
    version: ModelVersion,
    to_stage: str,
    *,
    by: Any,
    kind: str,
    request: PromotionRequest | None = None,
    evaluation: PolicyEvaluation | None = None,
    reason: str = "",
) -> StageChange:
    """Change one version's stage with its history row (model lock held by the caller). Moving
    a version into production archives the one there, in the same transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("move() must run inside the promotion transaction")
    current: ModelVersion | None = None
    if to_stage == Stage.PRODUCTION:
        current = (
            ModelVersion.objects.select_for_update(of=("self",))
            .select_related("model")
            .filter(model_id=version.model_id, stage=Stage.PRODUCTION)
            .exclude(pk=version.pk)
            .first()
        )
        if current is not None:
            _set_stage(
                current,
                Stage.ARCHIVED,
                by=by,
                kind=StageChangeKind.REPLACED,
                request=request,
                evaluation=evaluation,
                reason=f"replaced in production by {version}",
            )
    change = _set_stage(
        version, to_stage, by=by, kind=kind, request=request, evaluation=evaluation, reason=reason
    )
    from governance.services import staleness

    staleness.version_moved(version, by=by, except_request=request)
    if current is not None:
        # The replaced version moved too: its own open requests were opened from production.
        staleness.version_moved(current, by=by, except_request=None)
    return change


def _set_stage(
    version: ModelVersion,
    to_stage: str,
    *,
    by: Any,
    kind: str,
    request: PromotionRequest | None,
    evaluation: PolicyEvaluation | None,
    reason: str,
) -> StageChange:
    from_stage = version.stage
    change = StageChange.objects.create(
        model_id=version.model_id,
        model_version=version,
        from_stage=from_stage,
        to_stage=to_stage,
        kind=kind,
        promotion_request=request,
        evaluation=evaluation,
        reason=reason,
        changed_by=by,
    )
    updated = ModelVersion.objects.filter(pk=version.pk, stage=from_stage).update(stage=to_stage)
    if updated != 1:
        raise Conflict(f"{version} changed stage meanwhile; retry", code="concurrent_change")
    version.stage = to_stage
    trail.record(
        version,
        "registry.version.stage_changed",
        by=by,
        data={
            "from_stage": from_stage,
            "to_stage": to_stage,
            "kind": kind,
            "promotion_request": request.pk if request else None,
            "evaluation": evaluation.pk if evaluation else None,
            "stage_change": change.pk,
            "reason": reason,
        },
    )
    return change


def previous_production(model: RegisteredModel) -> ModelVersion | None:
    """The version most recently taken out of production that is not in production now."""
    change = (
        StageChange.objects.filter(model=model, from_stage=Stage.PRODUCTION)
        .exclude(model_version__stage=Stage.PRODUCTION)
        .select_related("model_version__model")
        .order_by("-created_at", "-id")
        .first()
    )
    return change.model_version if change else None


def stage_at(model: RegisteredModel, at: datetime, stage: str) -> QuerySet[StageChange]:
    """The stage changes that put each version in `stage` and still held at time `at`: for
    production, at most one row (which version was in production at `at`, who moved it there
    and under which request). One query."""
    latest_per_version = (
        StageChange.objects.filter(model_version=OuterRef("model_version"), created_at__lte=at)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    return (
        StageChange.objects.filter(model=model, created_at__lte=at, to_stage=stage)
        .filter(id=Subquery(latest_per_version))
        .select_related("model_version__model", "changed_by", "promotion_request")
    )
