"""The assessment FilterSets, shared by the API lists (and later the web pages)."""

import re
from typing import Any

import django_filters
from django.db.models import QuerySet

from governance.models import Assessment, AssessmentKind, AssessmentStatus

_DATASET_REF = re.compile(r"(?P<name>.+):(?P<version>[0-9]{1,9})")
COMMON = [
    "kind", "status", "dataset", "requested_by", "created_after", "created_before",
    "dataset_sha256",
]  # fmt: skip


class VersionAssessmentFilter(django_filters.FilterSet):
    """What still narrows a list under one model version's path."""

    kind = django_filters.ChoiceFilter(choices=AssessmentKind.choices)
    status = django_filters.ChoiceFilter(choices=AssessmentStatus.choices)
    dataset = django_filters.CharFilter(
        method="filter_dataset", label='dataset name, or dataset version as "name:version"'
    )
    requested_by = django_filters.CharFilter(
        field_name="requested_by__username", label="username of the requester"
    )
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    dataset_sha256 = django_filters.CharFilter()

    class Meta:
        model = Assessment
        fields = COMMON

    def filter_dataset(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        ref = _DATASET_REF.fullmatch(value)
        if ref:
            return queryset.filter(
                dataset_version__dataset__name=ref["name"],
                dataset_version__version=int(ref["version"]),
            )
        return queryset.filter(dataset_version__dataset__name=value)


class AssessmentFilter(VersionAssessmentFilter):
    model = django_filters.CharFilter(
        field_name="model_version__model__name", label="registered model name"
    )
    version = django_filters.NumberFilter(
        field_name="model_version__version", label="model version number"
    )
    predictions_only = django_filters.BooleanFilter(
        field_name="model_version", lookup_expr="isnull", label="predictions-only assessments"
    )
    artifact_sha256 = django_filters.CharFilter()

    class Meta:
        model = Assessment
        fields = [*COMMON, "model", "version", "predictions_only", "artifact_sha256"]
