"""Promotion requests, their reviews, and the history of every stage change."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.models.immutable import WriteOnceModel


class PromotionStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPROVED = "approved", "Approved (gate blocked)"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    STALE = "stale", "Stale"


ACTIVE_REQUEST = (PromotionStatus.OPEN, PromotionStatus.APPROVED)
CLOSED_REQUEST = (
    PromotionStatus.COMPLETED,
    PromotionStatus.REJECTED,
    PromotionStatus.WITHDRAWN,
    PromotionStatus.STALE,
)


class TargetStage(models.TextChoices):
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class PromotionRequest(models.Model):
    """A data scientist's request to move one version to a stage, decided by reviewers.

    Written only by governance.services.promotions. `required_approvals` ({role: count}) and the
    policy versions are pinned when the request opens; if the applicable policies, the artifact
    or the evidence change while it is open, the request goes stale and a new one is needed.
    """

    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.PROTECT, related_name="promotion_requests"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="promotion_requests"
    )
    target_stage = models.CharField(max_length=16, choices=TargetStage.choices)
    from_stage = models.CharField(max_length=16)
    justification = models.TextField()
    status = models.CharField(
        max_length=12, choices=PromotionStatus.choices, default=PromotionStatus.OPEN
    )
    # What was true when it opened: a change of any of these makes it stale.
    artifact_sha256 = models.CharField(max_length=64)
    risk_tier = models.CharField(max_length=16)
    required_approvals = models.JSONField(default=dict)
    approval_validity_days = models.PositiveIntegerField(null=True, blank=True)
    policy_versions = models.ManyToManyField(
        "governance.PolicyVersion", related_name="promotion_requests", blank=True
    )
    # Why the gate is blocked (status approved), or why the request went stale.
    blocking = models.JSONField(default=list, blank=True)
    status_reason = models.TextField(blank=True)
    is_rollback = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="promotion_requests"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Optimistic concurrency for clients: bumped on every change.
    revision = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (models.Index(fields=("status", "created_at"), name="promotion_status_idx"),)
        constraints = (
            # One live request per version: approvals are never split across duplicates.
            models.UniqueConstraint(
                fields=("model_version",),
                condition=Q(status__in=("open", "approved")),
                name="one_active_request_per_version",
            ),
            models.CheckConstraint(
                condition=~Q(justification=""), name="promotion_request_has_justification"
            ),
            models.CheckConstraint(
                condition=Q(target_stage__in=("staging", "production")),
                name="promotion_request_target_stage",
            ),
        )

    def __str__(self) -> str:
        return f"request #{self.pk}: {self.model_version} to {self.target_stage}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_REQUEST


class ReviewDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Review(WriteOnceModel):
    """One reviewer's decision on one request. The database refuses a second review by the
    same person, an empty comment, and (by trigger) a review by the requester or the version's
    registrant."""

    request = models.ForeignKey(PromotionRequest, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    decision = models.CharField(max_length=8, choices=ReviewDecision.choices)
    # The required role this approval counts for (a person with two roles counts once).
    role = models.CharField(max_length=30)
    comment = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("request_id", "created_at", "id")
        constraints = (
            models.UniqueConstraint(fields=("request", "reviewer"), name="one_review_per_person"),
            models.CheckConstraint(condition=~Q(comment=""), name="review_has_comment"),
        )

    def __str__(self) -> str:
        return f"{self.decision} by {self.reviewer} on request #{self.request_id}"


class StageChangeKind(models.TextChoices):
    PROMOTION = "promotion", "Promotion"
    REPLACED = "replaced", "Archived: replaced by a new production version"
    DEMOTION = "demotion", "Demotion"
    ROLLBACK = "rollback", "Rollback"


class StageChange(WriteOnceModel):
    """One move of one version from a stage to another: who, when, why, under which request.

    The registry's `ModelVersion.stage` is the current value; this table is its history, and a
    database trigger refuses any stage update that does not match the latest row here.
    """

    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.PROTECT, related_name="stage_changes"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="stage_changes"
    )
    from_stage = models.CharField(max_length=16)
    to_stage = models.CharField(max_length=16)
    kind = models.CharField(max_length=10, choices=StageChangeKind.choices)
    promotion_request = models.ForeignKey(
        PromotionRequest,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="stage_changes",
    )
    evaluation = models.ForeignKey(
        "governance.PolicyEvaluation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            models.Index(fields=("model", "created_at"), name="stagechange_model_time"),
            models.Index(fields=("model_version", "id"), name="stagechange_version_id"),
        )
        constraints = (
            models.CheckConstraint(
                condition=~Q(from_stage=models.F("to_stage")), name="stage_change_changes"
            ),
        )

    def __str__(self) -> str:
        return f"{self.model_version}: {self.from_stage} -> {self.to_stage}"
