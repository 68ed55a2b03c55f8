"""FilterSets of the policy and evaluation lists."""

from typing import Any

import django_filters
from django.db import connection
from django.db.models import Q, QuerySet

from governance.models import EvaluationPurpose, Policy, PolicyEvaluation, TargetStage
from registry.models import RiskTier


def json_list_contains(queryset: QuerySet[Any], field: str, value: str) -> QuerySet[Any]:
    """Rows whose JSON list `field` holds the string `value`."""
    if connection.vendor == "postgresql":
        return queryset.filter(**{f"{field}__contains": [value]})
    # SQLite has no JSON containment: match the exact quoted element in the stored text.
    return queryset.filter(Q(**{f"{field}__icontains": f'"{value}"'}))


class PolicyFilter(django_filters.FilterSet):
    enabled = django_filters.BooleanFilter(
        field_name="current_version__enabled", label="the current version is enabled"
    )
    risk_tier = django_filters.ChoiceFilter(
        choices=RiskTier.choices, method="filter_risk_tier", label="the scope covers this tier"
    )
    target_stage = django_filters.ChoiceFilter(
        choices=TargetStage.choices,
        method="filter_target_stage",
        label="the scope covers this target stage",
    )

    class Meta:
        model = Policy
        fields = ["enabled", "risk_tier", "target_stage"]

    def filter_risk_tier(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return json_list_contains(queryset, "current_version__risk_tiers", value)

    def filter_target_stage(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return json_list_contains(queryset, "current_version__target_stages", value)


class VersionEvaluationFilter(django_filters.FilterSet):
    target_stage = django_filters.ChoiceFilter(choices=TargetStage.choices)
    purpose = django_filters.ChoiceFilter(choices=EvaluationPurpose.choices)
    passed = django_filters.BooleanFilter()
    promotion_request = django_filters.NumberFilter(field_name="promotion_request_id")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = PolicyEvaluation
        fields = ["target_stage", "purpose", "passed", "promotion_request", "since", "until"]


class EvaluationFilter(VersionEvaluationFilter):
    model = django_filters.CharFilter(
        field_name="model_version__model__name", label="registered model name"
    )
    version = django_filters.NumberFilter(
        field_name="model_version__version", label="model version number"
    )
    artifact_sha256 = django_filters.CharFilter()

    class Meta:
        model = PolicyEvaluation
        fields = [
            "model", "version", "target_stage", "purpose", "passed", "promotion_request",
            "artifact_sha256", "since", "until",
        ]  # fmt: skip
