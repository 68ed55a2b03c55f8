"""Assessment API views: thin; a request calls `request_assessment`, which decides everything.

Requests answer 202 Accepted: the job runs after the request's transaction commits (in a
worker, a background thread, or inline), and the client follows `url` (also the `Location`
header) to watch its status and progress.
"""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from governance.api import serializers as s
from governance.api.filters import AssessmentFilter, VersionAssessmentFilter
from governance.models import Assessment, AssessmentChart, ChartFormat
from governance.services import assessments as assessment_service
from registry import refs, storage
from registry.models import ModelVersion

# Chart files are content-addressed and never change once stored: a client may keep them.
CHART_CACHE_CONTROL = "private, max-age=31536000, immutable"
# Our own SVG still gets no chance to run anything if someone opens it directly.
CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def assessments() -> QuerySet[Assessment]:
    """Assessments with everything their representation reads: a constant number of queries."""
    return Assessment.objects.select_related(
        "model_version__model", "dataset_version__dataset", "requested_by"
    ).prefetch_related("charts")


def accepted(request: Request, assessment: Assessment) -> Response:
    fresh = assessments().get(pk=assessment.pk)
    data = s.AssessmentSerializer(fresh, context={"request": request}).data
    return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


def request_from(
    request: Request, values: dict[str, Any], model_version: ModelVersion | None
) -> Assessment:
    return assessment_service.request_assessment(
        by=request.user,
        kind=values["kind"],
        dataset_version=refs.dataset_version(values["dataset"], field="dataset"),
        model_version=model_version,
        sensitive_features=values.get("sensitive_features"),
        parameters=values.get("parameters"),
    )


class AssessmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Assessment]
):
    filterset_class = AssessmentFilter
    ordering_fields = ["created_at", "finished_at", "id"]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Assessment]:
        if self.action == "list":
            return assessments().defer("results", "provenance")
        return assessments()

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "list":
            return s.AssessmentSummarySerializer
        return s.AssessmentSerializer

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # A chart is an image whatever the Accept header asks for; its errors are still JSON.
        return super().perform_content_negotiation(request, force=force or self.action == "chart")

    @extend_schema(request=s.AssessmentRequestSerializer, responses={202: s.AssessmentSerializer})
    def create(self, request: Request) -> Response:
        data = s.AssessmentRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        model_version = None
        if values.get("model") is not None:
            model_version = refs.model_version(
                f"{values['model']}:{values['version']}", field="model"
            )
        return accepted(request, request_from(request, values, model_version))

    @extend_schema(
        operation_id="v1_assessments_charts_retrieve",
        parameters=[
            OpenApiParameter("name", str, OpenApiParameter.PATH, description="chart name"),
            OpenApiParameter("extension", str, OpenApiParameter.PATH, enum=ChartFormat.values),
        ],
        responses=s.CHART_RESPONSE,
    )
    def chart(self, request: Request, pk: str, name: str, extension: str) -> HttpResponse:
        """One chart file of an assessment, re-checked against its recorded SHA-256."""
        chart = get_object_or_404(AssessmentChart, assessment_id=pk, name=name, format=extension)
        etag = f'"{chart.sha256}"'
        if request.headers.get("If-None-Match") == etag:
            response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
        else:
            with storage.verified_copy(
                chart.file_key, sha256=chart.sha256, size=chart.size
            ) as path:
                response = HttpResponse(path.read_bytes(), content_type=chart.media_type)
            response["Content-Disposition"] = (
                f'inline; filename="assessment-{chart.assessment_id}-{chart.name}.{chart.format}"'
            )
            response["Content-Security-Policy"] = CHART_CSP
            response["X-Content-Type-Options"] = "nosniff"
        response["ETag"] = etag
        response["Cache-Control"] = CHART_CACHE_CONTROL
        return response


class VersionAssessmentViewSet(viewsets.GenericViewSet[Assessment]):
    """The assessments of one model version, and requests for new ones."""

    serializer_class = s.AssessmentSummarySerializer
    filterset_class = VersionAssessmentFilter
    ordering_fields = ["created_at", "finished_at", "id"]

    def _version(self) -> ModelVersion:
        return refs.get_model_version(self.kwargs["name"], self.kwargs["version"])

    def get_queryset(self) -> QuerySet[Assessment]:
        if getattr(self, "swagger_fake_view", False):
            return Assessment.objects.none()
        return assessments().defer("results", "provenance").filter(model_version=self._version())

    def list(self, request: Request, name: str, version: int) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=s.VersionAssessmentRequestSerializer, responses={202: s.AssessmentSerializer}
    )
    def create(self, request: Request, name: str, version: int) -> Response:
        model_version = self._version()
        data = s.VersionAssessmentRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return accepted(request, request_from(request, data.validated_data, model_version))
