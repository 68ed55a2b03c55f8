"""FilterSets shared by the API (and later the web pages)."""

from typing import Any

import django_filters
from django.db import connection
from django.db.models import Q, QuerySet

from registry.models import ArtifactFormat, ModelVersion, RegisteredModel, RiskTier, Stage


class RegisteredModelFilter(django_filters.FilterSet):
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices)
    owner_team = django_filters.CharFilter(field_name="owner_team__name")
    tag = django_filters.CharFilter(method="filter_tag", label="has this tag")

    class Meta:
        model = RegisteredModel
        fields = ["risk_tier", "owner_team", "tag"]

    def filter_tag(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        if connection.vendor == "postgresql":
            return queryset.filter(tags__contains=[value])
        # SQLite has no JSON containment: match the exact quoted element in the stored text.
        return queryset.filter(Q(tags__icontains=f'"{value}"'))


class ModelVersionFilter(django_filters.FilterSet):
    stage = django_filters.ChoiceFilter(choices=Stage.choices)
    artifact_format = django_filters.ChoiceFilter(choices=ArtifactFormat.choices)
    is_unsafe = django_filters.BooleanFilter()
    artifact_sha256 = django_filters.CharFilter()

    class Meta:
        model = ModelVersion
        fields = ["stage", "artifact_format", "is_unsafe", "artifact_sha256"]
