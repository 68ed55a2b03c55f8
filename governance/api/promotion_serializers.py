"""Promotion request, review and stage-change API representations, and the small input
serializers of the workflow's verbs.

A request's representation reads only prefetched rows (reviews, policy versions, evaluations),
so a page of requests costs a constant number of queries. `review_refusal` (why the signed-in
user may not review it now) is on a request's own URL only: it asks the promotion service, which
reads the database.
"""

from collections import Counter
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import StrictInputSerializer
from governance.api.policy_serializers import (
    BlockingSerializer,
    PolicyVersionRefSerializer,
    absolute,
    evaluation_path,
)
from governance.models import (
    ACTIVE_REQUEST,
    PolicyEvaluation,
    PromotionRequest,
    Review,
    ReviewDecision,
    StageChange,
)
from governance.services import promotions as promotion_service


def request_path(pk: int) -> str:
    return reverse("api:promotion-request-detail", kwargs={"pk": pk})


class RoleCountField(serializers.DictField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.IntegerField(), **kwargs)


class ReviewSerializer(serializers.ModelSerializer[Review]):
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Review
        fields = ["reviewer", "decision", "role", "comment", "created_at"]
        read_only_fields = fields


class EvaluationRefSerializer(serializers.ModelSerializer[PolicyEvaluation]):
    url = serializers.SerializerMethodField()

    class Meta:
        model = PolicyEvaluation
        fields = ["id", "purpose", "passed", "created_at", "url"]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, evaluation: PolicyEvaluation) -> str:
        return absolute(self.context, evaluation_path(evaluation.pk))


class RefusalSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    detail = serializers.CharField()


def approvals_given(request: PromotionRequest) -> dict[str, int]:
    """Approvals counted per role, from the prefetched reviews."""
    given = Counter(
        r.role for r in request.reviews.all() if r.decision == ReviewDecision.APPROVE and r.role
    )
    return {role: given[role] for role in request.required_approvals if given[role]}


class PromotionRequestSerializer(serializers.ModelSerializer[PromotionRequest]):
    """One request: what it asks, where it stands, who reviewed it and what blocks it.

    `can_review` says whether the signed-in user may review it now (in lists: open, not theirs,
    a required role they hold, not reviewed yet)."""

    url = serializers.SerializerMethodField()
    model = serializers.CharField(source="model.name")
    version = serializers.IntegerField(source="model_version.version")
    team = serializers.CharField(source="model.owner_team.name")
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    required_approvals = RoleCountField()
    approvals_given = serializers.SerializerMethodField()
    missing_approvals = serializers.SerializerMethodField()
    reviews = ReviewSerializer(many=True, read_only=True)
    blocking = BlockingSerializer(many=True, read_only=True)
    policy_versions = PolicyVersionRefSerializer(many=True, read_only=True)
    evaluations = EvaluationRefSerializer(many=True, read_only=True)
    can_review = serializers.SerializerMethodField()

    class Meta:
        model = PromotionRequest
        fields = [
            "id", "url", "model", "version", "team", "risk_tier", "target_stage", "from_stage",
            "status", "status_reason", "justification", "artifact_sha256", "requested_by",
            "created_at", "updated_at", "closed_at", "revision", "required_approvals",
            "approval_validity_days", "approvals_given", "missing_approvals", "reviews",
            "blocking", "policy_versions", "evaluations", "is_rollback", "can_review",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, request: PromotionRequest) -> str:
        return absolute(self.context, request_path(request.pk))

    @extend_schema_field(RoleCountField())
    def get_approvals_given(self, request: PromotionRequest) -> dict[str, int]:
        return approvals_given(request)

    @extend_schema_field(RoleCountField())
    def get_missing_approvals(self, request: PromotionRequest) -> dict[str, int]:
        if request.status not in ACTIVE_REQUEST:
            return {}
        return promotion_service.missing_of(request.required_approvals, approvals_given(request))

    @extend_schema_field(serializers.BooleanField())
    def get_can_review(self, request: PromotionRequest) -> bool:
        # Lists annotate it in SQL (promotion_filters.reviewable); a request's own URL asks the
        # service (see PromotionRequestDetailSerializer).
        return bool(getattr(request, "can_review", False))


class PromotionRequestDetailSerializer(PromotionRequestSerializer):
    review_refusal = serializers.SerializerMethodField()

    class Meta(PromotionRequestSerializer.Meta):
        fields = [*PromotionRequestSerializer.Meta.fields, "review_refusal"]
        read_only_fields = fields

    def _refusal(self, request: PromotionRequest) -> Any:
        cache = self.context.setdefault("_refusals", {})
        if request.pk not in cache:
            user = self.context["request"].user
            cache[request.pk] = promotion_service.review_refusal(user, request)
        return cache[request.pk]

    @extend_schema_field(serializers.BooleanField())
    def get_can_review(self, request: PromotionRequest) -> bool:
        return self._refusal(request) is None

    @extend_schema_field(RefusalSerializer(allow_null=True))
    def get_review_refusal(self, request: PromotionRequest) -> dict[str, str] | None:
        refusal = self._refusal(request)
        return None if refusal is None else {"code": refusal.code, "detail": refusal.detail}


class PromotionRequestCreateSerializer(StrictInputSerializer):
    model = serializers.SlugField(max_length=100)
    version = serializers.IntegerField(min_value=1)
    target_stage = serializers.CharField(max_length=20, help_text="staging or production")
    justification = serializers.CharField(
        allow_blank=True, help_text="why the version should move (required)"
    )


class ReviewCreateSerializer(StrictInputSerializer):
    decision = serializers.CharField(max_length=10, help_text="approve or reject")
    comment = serializers.CharField(
        allow_blank=True, required=False, default="", help_text="required with every decision"
    )


class ReasonSerializer(StrictInputSerializer):
    reason = serializers.CharField(allow_blank=True, required=False, default="")


class RollbackSerializer(StrictInputSerializer):
    justification = serializers.CharField(
        allow_blank=True, help_text="why the previous production version should return"
    )


class GateBlockedSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    detail = serializers.CharField()
    blocking = BlockingSerializer(many=True)
    evaluation = serializers.IntegerField()


class StageChangeSerializer(serializers.ModelSerializer[StageChange]):
    """One move of one version between stages: who, when, why, under which request."""

    model = serializers.CharField(source="model_version.model.name")
    version = serializers.IntegerField(source="model_version.version")
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    promotion_request = serializers.IntegerField(source="promotion_request_id", allow_null=True)
    promotion_request_url = serializers.SerializerMethodField()
    evaluation = serializers.IntegerField(source="evaluation_id", allow_null=True)
    evaluation_url = serializers.SerializerMethodField()

    class Meta:
        model = StageChange
        fields = [
            "id", "model", "version", "from_stage", "to_stage", "kind", "changed_by",
            "promotion_request", "promotion_request_url", "evaluation", "evaluation_url",
            "reason", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_promotion_request_url(self, change: StageChange) -> str | None:
        if change.promotion_request_id is None:
            return None
        return absolute(self.context, request_path(change.promotion_request_id))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_evaluation_url(self, change: StageChange) -> str | None:
        if change.evaluation_id is None:
            return None
        return absolute(self.context, evaluation_path(change.evaluation_id))
