"""Promotion request, review and stage-change API views: thin; every verb calls one function of
`governance.services.promotions`, which decides who may, and answers with the refreshed
resource. Refusals come back as the service raised them (403 / 409 with a stable code)."""

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from core.api.fields import StrictInputSerializer
from governance.api import promotion_serializers as s
from governance.api.promotion_filters import (
    PromotionRequestFilter,
    StageChangeFilter,
    StageHistoryFilter,
    with_can_review,
)
from governance.models import (
    PolicyEvaluation,
    PolicyVersion,
    PromotionRequest,
    Review,
    StageChange,
)
from governance.services import promotions, stages
from registry import refs
from registry.models import RegisteredModel, Stage


def requests() -> QuerySet[PromotionRequest]:
    """Requests with everything their representation reads: a constant number of queries."""
    return PromotionRequest.objects.select_related(
        "model__owner_team", "model_version", "requested_by"
    ).prefetch_related(
        Prefetch("reviews", queryset=Review.objects.select_related("reviewer").order_by("id")),
        Prefetch(
            "policy_versions",
            queryset=PolicyVersion.objects.select_related("policy")
            .defer("document", "source")
            .order_by("policy__name"),
        ),
        Prefetch(
            "evaluations",
            queryset=PolicyEvaluation.objects.only(
                "id", "purpose", "passed", "created_at", "promotion_request_id"
            ).order_by("created_at", "id"),
        ),
    )


def stage_changes() -> QuerySet[StageChange]:
    return StageChange.objects.select_related("model_version__model", "changed_by").order_by(
        "-created_at", "-id"
    )


GATE_BLOCKED = OpenApiResponse(
    s.GateBlockedSerializer, description="gate_blocked: the checks still fail"
)


class PromotionRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[PromotionRequest]
):
    """Requests to move a version to staging or production, decided by reviewers and the gate."""

    filterset_class = PromotionRequestFilter
    ordering_fields = ["created_at", "updated_at", "id"]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[PromotionRequest]:
        if self.action == "list":
            return with_can_review(requests(), self.request.user).order_by("-created_at", "-id")
        return requests()

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "list":
            return s.PromotionRequestSerializer
        return s.PromotionRequestDetailSerializer

    def _respond(self, request_id: int, code: int = status.HTTP_200_OK) -> Response:
        fresh = requests().get(pk=request_id)
        data = s.PromotionRequestDetailSerializer(fresh, context=self.get_serializer_context())
        headers = {"Location": data.data["url"]} if code == status.HTTP_201_CREATED else {}
        return Response(data.data, status=code, headers=headers)

    def _request(self, pk: str) -> PromotionRequest:
        return get_object_or_404(PromotionRequest, pk=pk)

    @extend_schema(
        request=s.PromotionRequestCreateSerializer,
        responses={201: s.PromotionRequestDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        """Ask to move a version to a stage; the applicable policies are pinned and evaluated."""
        data = s.PromotionRequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        version = refs.model_version(f"{values['model']}:{values['version']}", field="model")
        opened = promotions.open_request(
            by=request.user,
            version=version,
            target_stage=values["target_stage"],
            justification=values["justification"],
        )
        return self._respond(opened.pk, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ReviewCreateSerializer, responses={201: s.PromotionRequestDetailSerializer}
    )
    @action(detail=True, methods=["post"])
    def reviews(self, request: Request, pk: str) -> Response:
        """Approve or reject, with a comment. The last required approval runs the gate."""
        data = s.ReviewCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reviewed = promotions.review(
            by=request.user,
            request=self._request(pk),
            decision=data.validated_data["decision"],
            comment=data.validated_data["comment"],
        )
        return self._respond(reviewed.pk, status.HTTP_201_CREATED)

    @extend_schema(request=s.ReasonSerializer, responses=s.PromotionRequestDetailSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        """The requester (or an admin) takes back an open or approved request."""
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawn = promotions.withdraw(
            by=request.user, request=self._request(pk), reason=data.validated_data["reason"]
        )
        return self._respond(withdrawn.pk)

    @extend_schema(
        request=None, responses={200: s.PromotionRequestDetailSerializer, 409: GATE_BLOCKED}
    )
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: str) -> Response:
        """Run the gate again for an approved request that its checks blocked."""
        promoted = promotions.promote(by=request.user, request=self._request(pk))
        return self._respond(promoted.pk)


class StageAtSerializer(StrictInputSerializer):
    at = serializers.DateTimeField()
    stage = serializers.ChoiceField(
        choices=[Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED], default=Stage.PRODUCTION
    )


AT = OpenApiParameter(
    "at",
    OpenApiTypes.DATETIME,
    description="the versions that were in `stage` (default production) at this time: the "
    "stage changes that put them there; other filters are ignored",
)


class StageHistoryViewSet(viewsets.GenericViewSet[StageChange]):
    """One model's stage changes, newest first; or which versions were in a stage at a time."""

    serializer_class = s.StageChangeSerializer
    filterset_class = StageHistoryFilter
    ordering_fields = ["created_at", "id"]

    def _model(self) -> RegisteredModel:
        return get_object_or_404(RegisteredModel, name=self.kwargs["name"])

    def get_queryset(self) -> QuerySet[StageChange]:
        if getattr(self, "swagger_fake_view", False):
            return StageChange.objects.none()
        return stage_changes().filter(model=self._model())

    @extend_schema(parameters=[AT])
    def list(self, request: Request, name: str) -> Response:
        if "at" in request.query_params:
            return self._at(request)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _at(self, request: Request) -> Response:
        query = StageAtSerializer(
            data={k: request.query_params[k] for k in ("at", "stage") if k in request.query_params}
        )
        query.is_valid(raise_exception=True)
        rows = list(
            stages.stage_at(
                self._model(), query.validated_data["at"], query.validated_data["stage"]
            )
        )
        # At most one row per version in that stage: one page, no count query.
        data = self.get_serializer(rows, many=True).data
        return Response({"count": len(rows), "next": None, "previous": None, "results": data})


class StageChangeViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[StageChange]
):
    """Every stage change of every model, newest first."""

    serializer_class = s.StageChangeSerializer
    filterset_class = StageChangeFilter
    ordering_fields = ["created_at", "id"]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[StageChange]:
        return stage_changes()


class ModelStageViewSet(viewsets.GenericViewSet[RegisteredModel]):
    """Taking a version out of service, and asking for the previous production one back."""

    serializer_class = s.StageChangeSerializer

    def get_queryset(self) -> QuerySet[RegisteredModel]:
        return RegisteredModel.objects.all()

    @extend_schema(request=s.ReasonSerializer, responses={201: s.StageChangeSerializer})
    def demote(self, request: Request, name: str, version: int) -> Response:
        """Archive a production or staging version at once (risk officers and admins, with a
        reason). Putting one back goes through the gate: see rollback."""
        model_version = refs.get_model_version(name, version)
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        change = promotions.demote(
            by=request.user, version=model_version, reason=data.validated_data["reason"]
        )
        fresh = stage_changes().get(pk=change.pk)
        return Response(
            s.StageChangeSerializer(fresh, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=s.RollbackSerializer, responses={201: s.PromotionRequestDetailSerializer}
    )
    def rollback(self, request: Request, name: str) -> Response:
        """Open a request to re-promote the previous production version (same reviewers, same
        gate)."""
        model = get_object_or_404(RegisteredModel, name=name)
        data = s.RollbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        opened = promotions.rollback(
            by=request.user, model=model, justification=data.validated_data["justification"]
        )
        fresh = requests().get(pk=opened.pk)
        body = s.PromotionRequestDetailSerializer(fresh, context=self.get_serializer_context())
        return Response(
            body.data, status=status.HTTP_201_CREATED, headers={"Location": body.data["url"]}
        )
