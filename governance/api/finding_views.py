"""Validation finding API views: thin; raising, answering and closing each call one function of
`governance.services.findings`, which decides who may. Refusals come back as the service raised
them (400 / 403 / 409 with a stable code)."""

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import InvalidInput
from governance.api import finding_serializers as s
from governance.api.finding_filters import FindingFilter
from governance.models import Finding, PromotionRequest
from governance.services import findings
from registry import refs


def finding_rows() -> QuerySet[Finding]:
    """Findings with everything their representation reads: a constant number of queries."""
    return Finding.objects.select_related(
        "model_version__model", "owner", "raised_by", "answered_by", "closed_by"
    )


def _owner(username: str) -> Any:
    owner = get_user_model().objects.filter(username=username).first()
    if owner is None:
        raise InvalidInput(f"owner: no user {username!r}", field="owner")
    return owner


def _promotion_request(pk: int | None) -> PromotionRequest | None:
    if pk is None:
        return None
    found = PromotionRequest.objects.filter(pk=pk).first()
    if found is None:
        raise InvalidInput(
            f"promotion_request: no promotion request #{pk}", field="promotion_request"
        )
    return found


class FindingViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Finding]
):
    """Validation findings on model versions: raised by validators and risk officers, answered
    by their owner, closed by the person who raised them or another reviewer of that role.
    Unresolved findings at or above a policy's severity block promotion (no_open_findings)."""

    serializer_class = s.FindingSerializer
    filterset_class = FindingFilter
    search_fields = ["title", "description"]
    ordering_fields = ["created_at", "updated_at", "due_date", "id"]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Finding]:
        return finding_rows().order_by("-created_at", "-id")

    def _respond(self, pk: int, code: int = status.HTTP_200_OK) -> Response:
        fresh = finding_rows().get(pk=pk)
        data = s.FindingSerializer(fresh, context=self.get_serializer_context()).data
        headers = {"Location": data["url"]} if code == status.HTTP_201_CREATED else {}
        return Response(data, status=code, headers=headers)

    def _finding(self, pk: str) -> Finding:
        return get_object_or_404(finding_rows(), pk=pk)

    @extend_schema(request=s.FindingCreateSerializer, responses={201: s.FindingSerializer})
    def create(self, request: Request) -> Response:
        """Raise a finding on a version (validators and risk officers)."""
        data = s.FindingCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        # Who may raise comes before what they named: a refused caller learns the real reason.
        refusal = findings.raise_refusal(request.user)
        if refusal is not None:
            raise refusal
        field = "model_version" if values.get("model_version") else "model"
        raised = findings.raise_finding(
            by=request.user,
            version=refs.model_version(values["ref"], field=field),
            title=values["title"],
            severity=values["severity"],
            description=values["description"],
            owner=_owner(values["owner"]),
            due_date=values["due_date"],
            request=_promotion_request(values["promotion_request"]),
        )
        return self._respond(raised.pk, status.HTTP_201_CREATED)

    @extend_schema(request=s.RemediationSerializer, responses=s.FindingSerializer)
    @action(detail=True, methods=["post"])
    def answer(self, request: Request, pk: str) -> Response:
        """The owner answers with a remediation note (again: replaces the note)."""
        data = s.RemediationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answered = findings.answer(
            by=request.user,
            finding=self._finding(pk),
            remediation=data.validated_data["remediation"],
        )
        return self._respond(answered.pk)

    @extend_schema(request=s.CloseSerializer, responses=s.FindingSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        """The person who raised it, or another reviewer of that role, closes it with a note."""
        data = s.CloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        closed = findings.close(
            by=request.user, finding=self._finding(pk), note=data.validated_data["note"]
        )
        return self._respond(closed.pk)
