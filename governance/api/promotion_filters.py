"""FilterSets of promotion requests and stage changes, and the "may I review it now" query."""

from typing import Any

import django_filters
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, QuerySet

from governance.models import (
    PromotionRequest,
    PromotionStatus,
    Review,
    StageChange,
    StageChangeKind,
    TargetStage,
)
from governance.services import promotions
from registry.models import RiskTier, Stage

reviewable = promotions.reviewable


def with_can_review(queryset: QuerySet[PromotionRequest], user: Any) -> QuerySet[PromotionRequest]:
    return queryset.annotate(
        can_review=ExpressionWrapper(reviewable(user), output_field=BooleanField())
    )


class PromotionRequestFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=PromotionStatus.choices, label="status (repeat for several)"
    )
    model = django_filters.CharFilter(field_name="model__name", label="registered model name")
    version = django_filters.NumberFilter(
        field_name="model_version__version", label="model version number"
    )
    target_stage = django_filters.ChoiceFilter(choices=TargetStage.choices)
    requested_by = django_filters.CharFilter(
        field_name="requested_by__username", label="username of the requester"
    )
    reviewer = django_filters.CharFilter(
        method="filter_reviewer", label="username of someone who reviewed the request"
    )
    can_review = django_filters.BooleanFilter(
        method="filter_can_review", label="the signed-in user may review it now"
    )
    risk_tier = django_filters.ChoiceFilter(
        choices=RiskTier.choices, label="the model's risk tier when the request opened"
    )
    team = django_filters.CharFilter(field_name="model__owner_team__name", label="owner team")
    is_rollback = django_filters.BooleanFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = PromotionRequest
        fields = [
            "status", "model", "version", "target_stage", "requested_by", "reviewer",
            "can_review", "risk_tier", "team", "is_rollback", "created_after", "created_before",
        ]  # fmt: skip

    def filter_reviewer(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        # EXISTS rather than a join: a request reviewed once by that person appears once.
        reviewed = Review.objects.filter(request=OuterRef("pk"), reviewer__username=value)
        return queryset.filter(Exists(reviewed))

    def filter_can_review(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        condition = reviewable(self.request.user)  # type: ignore[union-attr]
        return queryset.filter(condition) if value else queryset.exclude(condition)


class StageHistoryFilter(django_filters.FilterSet):
    version = django_filters.NumberFilter(
        field_name="model_version__version", label="model version number"
    )
    stage = django_filters.ChoiceFilter(
        choices=Stage.choices, field_name="to_stage", label="the stage moved to"
    )
    kind = django_filters.ChoiceFilter(choices=StageChangeKind.choices)
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = StageChange
        fields = ["version", "stage", "kind", "since", "until"]


class StageChangeFilter(StageHistoryFilter):
    model = django_filters.CharFilter(field_name="model__name", label="registered model name")
    promotion_request = django_filters.NumberFilter(field_name="promotion_request_id")

    class Meta:
        model = StageChange
        fields = ["model", "version", "stage", "kind", "promotion_request", "since", "until"]
