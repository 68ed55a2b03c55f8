"""Assessment API representations (output) and the small input serializers of its requests.

Lists use `AssessmentSummarySerializer` (no results or provenance: a page of fairness results with
intersectional groups and intervals would run to megabytes); an assessment's own URL has them.
"""

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import JSONObjectField, StrictInputSerializer, StringListField
from governance.models import Assessment, AssessmentChart, AssessmentKind, AssessmentStatus

# Requests take a plain string, checked by the service (code "invalid_kind", as on every
# interface); responses document the enum (named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
KIND_HELP = "one of: " + ", ".join(AssessmentKind.values)


def _absolute(context: dict[str, Any], path: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(path) if request else path


def assessment_path(assessment: Assessment) -> str:
    return reverse("api:assessment-detail", kwargs={"pk": assessment.pk})


def chart_path(chart: AssessmentChart) -> str:
    return reverse(
        "api:assessment-chart",
        kwargs={"pk": chart.assessment_id, "name": chart.name, "extension": chart.format},
    )


class AssessmentChartSerializer(serializers.ModelSerializer[AssessmentChart]):
    url = serializers.SerializerMethodField()

    class Meta:
        model = AssessmentChart
        fields = ["name", "title", "format", "url", "sha256", "size"]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, chart: AssessmentChart) -> str:
        return _absolute(self.context, chart_path(chart))


class AssessmentSummarySerializer(serializers.ModelSerializer[Assessment]):
    """One row of a list: what it is, where it stands, and where its results are."""

    url = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=AssessmentKind.choices, read_only=True)
    model = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    dataset = serializers.SerializerMethodField()
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    charts = AssessmentChartSerializer(many=True, read_only=True)

    class Meta:
        model = Assessment
        fields = [
            "id", "url", "kind", "status", "progress", "stage", "model", "version", "dataset",
            "sensitive_features", "parameters", "error_code", "error_message", "results_sha256",
            "artifact_sha256", "dataset_sha256", "requested_by", "created_at", "started_at",
            "finished_at", "timings", "charts",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, obj: Assessment) -> str:
        return _absolute(self.context, assessment_path(obj))

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="null: predictions-only"))
    def get_model(self, obj: Assessment) -> str | None:
        return obj.model_version.model.name if obj.model_version_id else None  # type: ignore[union-attr]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_version(self, obj: Assessment) -> int | None:
        return obj.model_version.version if obj.model_version_id else None  # type: ignore[union-attr]

    @extend_schema_field(serializers.CharField(help_text='"name:version"'))
    def get_dataset(self, obj: Assessment) -> str:
        return f"{obj.dataset_version.dataset.name}:{obj.dataset_version.version}"


class AssessmentSerializer(AssessmentSummarySerializer):
    """An assessment with its results (once it succeeded) and what they were computed from."""

    results = serializers.SerializerMethodField()

    class Meta(AssessmentSummarySerializer.Meta):
        fields = [
            "id", "url", "kind", "status", "progress", "stage", "model", "version", "dataset",
            "sensitive_features", "parameters", "error_code", "error_message", "results",
            "results_sha256", "provenance", "artifact_sha256", "dataset_sha256", "requested_by",
            "created_at", "started_at", "finished_at", "timings", "charts",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(
        serializers.JSONField(
            allow_null=True,
            help_text="null until the assessment succeeded; fairness: by_feature -> group -> "
            "metric; explainability: global importance by feature; performance: metrics",
        )
    )
    def get_results(self, obj: Assessment) -> Any:
        return obj.results if obj.status == AssessmentStatus.SUCCEEDED else None


class _AssessmentRequest(StrictInputSerializer):
    kind = serializers.CharField(max_length=20, help_text=KIND_HELP)
    dataset = serializers.CharField(max_length=300, help_text='dataset version, "name:version"')
    sensitive_features = StringListField(
        required=False,
        help_text="columns to compare groups on; default: those declared on the dataset version",
    )
    parameters = JSONObjectField(
        required=False, help_text="kind-specific parameters; omitted ones take their default"
    )


class VersionAssessmentRequestSerializer(_AssessmentRequest):
    """An assessment of the model version named in the path."""


class AssessmentRequestSerializer(_AssessmentRequest):
    """An assessment of `model` version `version`, or of the dataset's own predictions when both
    are left out (predictions-only: the dataset declares a prediction column)."""

    model = serializers.SlugField(max_length=100, required=False, allow_null=True)
    version = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("model") is None) != (attrs.get("version") is None):
            raise serializers.ValidationError(
                {"version": ["give model and version together, or neither (predictions-only)"]}
            )
        return attrs


# Keeps drf-spectacular from guessing: chart files are binary.
CHART_RESPONSE = {
    (200, "image/png"): OpenApiTypes.BINARY,
    (200, "image/svg+xml"): OpenApiTypes.BINARY,
}
