"""FilterSet of validation findings (shared shape with the other governance lists)."""

import django_filters

from governance.models import Finding, FindingSeverity, FindingStatus


class FindingFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        field_name="model_version__model__name", label="registered model name"
    )
    version = django_filters.NumberFilter(
        field_name="model_version__version", label="model version number"
    )
    status = django_filters.MultipleChoiceFilter(
        choices=FindingStatus.choices, label="status (repeat for several)"
    )
    severity = django_filters.MultipleChoiceFilter(
        choices=FindingSeverity.choices, label="severity (repeat for several)"
    )
    owner = django_filters.CharFilter(field_name="owner__username", label="username of the owner")
    raised_by = django_filters.CharFilter(
        field_name="raised_by__username", label="username of the person who raised it"
    )
    promotion_request = django_filters.NumberFilter(
        field_name="promotion_request_id", label="the promotion request it was raised from"
    )
    team = django_filters.CharFilter(
        field_name="model_version__model__owner_team__name", label="owner team"
    )

    class Meta:
        model = Finding
        fields = [
            "model", "version", "status", "severity", "owner", "raised_by", "promotion_request",
            "team",
        ]  # fmt: skip
