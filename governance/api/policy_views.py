"""Policy and evaluation API views: thin; writes call `policies.save_policy` or
`evaluation.evaluate`, which decide who may and what is valid."""

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from core.api.parsers import SafeJSONParser
from governance.api import policy_serializers as s
from governance.api.parsers import YAML_PARSERS
from governance.api.policy_filters import EvaluationFilter, PolicyFilter, VersionEvaluationFilter
from governance.models import (
    Assessment,
    CheckResult,
    Policy,
    PolicyEvaluation,
    PolicyVersion,
)
from governance.services import evaluation as evaluation_service
from governance.services import policies as policy_service
from registry import refs
from registry.models import ModelVersion

POLICY_WRITE = {
    "application/json": s.PolicyWriteSerializer,
    "application/yaml": OpenApiTypes.STR,
    "text/yaml": OpenApiTypes.STR,
}
CHANGE_NOTE = OpenApiParameter(
    "change_note", str, description="why this version was made (for a raw YAML body)"
)


def _save(request: Request, *, name: str | None, create: bool) -> PolicyVersion:
    data = s.PolicyWriteSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    values = data.validated_data
    return policy_service.save_policy(
        by=request.user,
        source=values["document"] if "document" in values else values["source"],
        source_format=values.get("format") or None,
        name=name,
        change_note=values["change_note"] or request.query_params.get("change_note", ""),
        create=create,
    )


def _version_queryset() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.select_related("policy", "created_by")


class PolicyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Policy]):
    """Policies as code: POST a new policy, PUT a new version of one; every version stays."""

    serializer_class = s.PolicySummarySerializer
    filterset_class = PolicyFilter
    search_fields = ["name", "current_version__title"]
    ordering_fields = ["name", "created_at"]
    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    parser_classes = [SafeJSONParser, *YAML_PARSERS]

    def get_queryset(self) -> QuerySet[Policy]:
        return Policy.objects.select_related("current_version__created_by").order_by("name")

    def _created(self, version: PolicyVersion, code: int) -> Response:
        fresh = _version_queryset().get(pk=version.pk)
        data = s.PolicyVersionSerializer(fresh, context=self.get_serializer_context()).data
        headers = {"Location": data["url"]} if code == status.HTTP_201_CREATED else {}
        return Response(data, status=code, headers=headers)

    @extend_schema(
        request=POLICY_WRITE,
        parameters=[CHANGE_NOTE],
        responses={201: s.PolicyVersionSerializer},
    )
    def create(self, request: Request) -> Response:
        """A new policy (its version 1). 409 policy_exists if the name is taken."""
        version = _save(request, name=None, create=True)
        return self._created(version, status.HTTP_201_CREATED)

    @extend_schema(responses=s.PolicyDetailSerializer)
    def retrieve(self, request: Request, name: str) -> Response:
        policy = get_object_or_404(self.get_queryset(), name=name)
        current = _version_queryset().get(pk=policy.current_version_id)
        history = _version_queryset().defer("document", "source").filter(policy=policy)
        context = {**self.get_serializer_context(), "versions": history.order_by("-version")}
        return Response(s.PolicyDetailSerializer(current, context=context).data)

    @extend_schema(
        request=POLICY_WRITE,
        parameters=[CHANGE_NOTE],
        responses={200: s.PolicyVersionSerializer},
    )
    def update(self, request: Request, name: str) -> Response:
        """A new version of the policy; 409 policy_unchanged if the document is identical.
        Open promotion requests whose applicable policies change go stale."""
        version = _save(request, name=name, create=False)
        return self._created(version, status.HTTP_200_OK)


class PolicyVersionViewSet(viewsets.GenericViewSet[PolicyVersion]):
    """The versions of one policy, newest first; each is immutable."""

    serializer_class = s.PolicyVersionSerializer
    ordering_fields = ["version", "created_at"]

    def get_queryset(self) -> QuerySet[PolicyVersion]:
        if getattr(self, "swagger_fake_view", False):
            return PolicyVersion.objects.none()
        policy = get_object_or_404(Policy, name=self.kwargs["name"])
        return _version_queryset().filter(policy=policy).order_by("-version")

    @extend_schema(responses=s.PolicyVersionSummarySerializer(many=True))
    def list(self, request: Request, name: str) -> Response:
        page = self.paginate_queryset(
            self.filter_queryset(self.get_queryset().defer("document", "source"))
        )
        data = s.PolicyVersionSummarySerializer(
            page, many=True, context=self.get_serializer_context()
        )
        return self.get_paginated_response(data.data)

    def retrieve(self, request: Request, name: str, version: int) -> Response:
        item = get_object_or_404(self.get_queryset(), version=version)
        return Response(self.get_serializer(item).data)


# --- evaluations ---------------------------------------------------------------------------


def evaluations(*, detail: bool = True) -> QuerySet[PolicyEvaluation]:
    """Evaluations with everything their representation reads: a constant number of queries."""
    queryset = PolicyEvaluation.objects.select_related(
        "model_version__model", "baseline_version", "evaluated_by"
    )
    if not detail:
        return queryset
    return queryset.prefetch_related(
        Prefetch(
            "policy_versions",
            queryset=PolicyVersion.objects.select_related("policy").defer("document", "source"),
        ),
        Prefetch("assessments", queryset=Assessment.objects.only("id", "kind").order_by("id")),
        Prefetch(
            "checks",
            queryset=CheckResult.objects.select_related("policy_version__policy")
            .defer("policy_version__document", "policy_version__source")
            .order_by("position"),
        ),
    )


class EvaluationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[PolicyEvaluation]
):
    """Every stored policy evaluation (dry runs, on request, at the gate); immutable."""

    filterset_class = EvaluationFilter
    ordering_fields = ["created_at", "id"]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[PolicyEvaluation]:
        return evaluations(detail=self.action != "list")

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "list":
            return s.EvaluationSummarySerializer
        return s.EvaluationSerializer


class VersionEvaluationViewSet(viewsets.GenericViewSet[PolicyEvaluation]):
    """Dry-run a version against the policies of a target stage, and its past evaluations."""

    serializer_class = s.EvaluationSummarySerializer
    filterset_class = VersionEvaluationFilter
    ordering_fields = ["created_at", "id"]

    def _version(self) -> ModelVersion:
        return refs.get_model_version(self.kwargs["name"], self.kwargs["version"])

    def get_queryset(self) -> QuerySet[PolicyEvaluation]:
        if getattr(self, "swagger_fake_view", False):
            return PolicyEvaluation.objects.none()
        return evaluations(detail=False).filter(model_version=self._version())

    def list(self, request: Request, name: str, version: int) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=s.EvaluationRequestSerializer, responses={201: s.EvaluationSerializer})
    def create(self, request: Request, name: str, version: int) -> Response:
        """Evaluate the applicable policies now (a dry run): every check's verdict and evidence,
        and what would block the version from the target stage. Stored, immutable."""
        model_version = self._version()
        data = s.EvaluationRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        evaluation = evaluation_service.evaluate(
            model_version, data.validated_data["target_stage"], by=request.user
        )
        fresh = evaluations().get(pk=evaluation.pk)
        body = s.EvaluationSerializer(fresh, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})
