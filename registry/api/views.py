"""Registry API views: thin; each write calls one service function."""

import re
from typing import Any

from django.db.models import Count, Max, OuterRef, Prefetch, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.parsers import SafeJSONParser
from core.errors import InvalidInput
from core.models import Team
from registry import lineage, refs
from registry.api import serializers as s
from registry.api.filters import ModelVersionFilter, RegisteredModelFilter
from registry.models import (
    Dataset,
    DatasetVersion,
    EdgeKind,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
    Stage,
)
from registry.services import datasets as dataset_service
from registry.services import lineage as lineage_service
from registry.services import models as model_service
from registry.services import versions as version_service

LINEAGE_SCHEMA = extend_schema(
    responses=s.LineageSerializer,
    parameters=[
        OpenApiParameter("direction", str, enum=["upstream", "downstream", "both"]),
        OpenApiParameter("depth", int, description="maximum depth (default: unlimited)"),
    ],
)


class RegisteredModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[RegisteredModel]
):
    serializer_class = s.RegisteredModelSerializer
    filterset_class = RegisteredModelFilter
    search_fields = ["name", "title", "description"]
    ordering_fields = ["name", "created_at", "updated_at", "risk_tier"]
    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def get_queryset(self) -> QuerySet[RegisteredModel]:
        production = ModelVersion.objects.filter(
            model=OuterRef("pk"), stage=Stage.PRODUCTION
        ).values("version")[:1]
        return (
            RegisteredModel.objects.select_related("owner_team", "created_by")
            .annotate(version_count=Count("versions"), production_version=Subquery(production))
            .order_by("name")
        )

    def _respond(self, model: RegisteredModel, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=model.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(request=s.ModelCreateSerializer, responses={201: s.RegisteredModelSerializer})
    def create(self, request: Request) -> Response:
        data = s.ModelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        team_name = values.pop("owner_team")
        team = Team.objects.filter(name=team_name).first()
        if team is None:
            raise InvalidInput(f"owner_team: team {team_name!r} does not exist", field="owner_team")
        model = model_service.register_model(by=request.user, owner_team=team, **values)
        return self._respond(model, status.HTTP_201_CREATED)

    @extend_schema(request=s.ModelUpdateSerializer, responses=s.RegisteredModelSerializer)
    def partial_update(self, request: Request, name: str) -> Response:
        model = self.get_object()
        data = s.ModelUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        model_service.update_model(model, by=request.user, **data.validated_data)
        return self._respond(model)


def _versions_queryset() -> QuerySet[ModelVersion]:
    dataset_edges = LineageEdge.objects.filter(
        kind__in=[EdgeKind.TRAINED_ON, EdgeKind.EVALUATED_ON]
    ).select_related("object_dataset_version__dataset")
    return ModelVersion.objects.select_related("model", "created_by", "parent").prefetch_related(
        Prefetch("upstream_edges", queryset=dataset_edges)
    )


class ModelVersionViewSet(viewsets.GenericViewSet[ModelVersion]):
    serializer_class = s.ModelVersionSerializer
    filterset_class = ModelVersionFilter
    ordering_fields = ["version", "created_at"]
    parser_classes = [MultiPartParser, FormParser, SafeJSONParser]

    def _model(self) -> RegisteredModel:
        return get_object_or_404(
            RegisteredModel.objects.select_related("owner_team"), name=self.kwargs["name"]
        )

    def get_queryset(self) -> QuerySet[ModelVersion]:
        if getattr(self, "swagger_fake_view", False):
            return ModelVersion.objects.none()
        # Filter on the model's id, not a join on its name: PostgreSQL can then walk the
        # (model, version) index backwards and stop after one page.
        return _versions_queryset().filter(model=self._model()).order_by("-version")

    def get_object(self) -> ModelVersion:
        return get_object_or_404(self.get_queryset(), version=self.kwargs["version"])

    def list(self, request: Request, name: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, name: str, version: int) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        request={"multipart/form-data": s.VersionCreateSerializer},
        responses={201: s.ModelVersionSerializer},
    )
    def create(self, request: Request, name: str) -> Response:
        model = self._model()
        data = s.VersionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        parent_number = values.pop("parent_version")
        parent = None
        if parent_number is not None:
            parent = ModelVersion.objects.filter(model=model, version=parent_number).first()
            if parent is None:
                raise InvalidInput(
                    f"parent_version {parent_number} does not exist for {model.name!r}",
                    field="parent_version",
                )
        for field in ("training_dataset", "evaluation_dataset"):
            ref = values.pop(field)
            values[field] = refs.dataset_version(ref, field=field) if ref else None
        version = version_service.register_version(
            model, by=request.user, artifact=values.pop("artifact"), parent=parent, **values
        )
        fresh = _versions_queryset().get(pk=version.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)

    @LINEAGE_SCHEMA
    @action(detail=True, methods=["get"])
    def lineage(self, request: Request, name: str, version: int) -> Response:
        item = self.get_object()
        return Response(lineage_payload(item, request))


def lineage_payload(item: ModelVersion | DatasetVersion, request: Request) -> dict[str, Any]:
    direction = request.query_params.get("direction", "both")
    choices = {
        "upstream": ("upstream",),
        "downstream": ("downstream",),
        "both": ("upstream", "downstream"),
    }
    if direction not in choices:
        raise InvalidInput("direction must be upstream, downstream or both", field="direction")
    depth_text = request.query_params.get("depth")
    if depth_text is not None and not re.fullmatch(r"[0-9]{1,4}", depth_text):
        raise InvalidInput("depth must be a positive integer", field="depth")
    graph = lineage.lineage_graph(
        item,
        directions=choices[direction],
        max_depth=int(depth_text) if depth_text else None,  # type: ignore[arg-type]
    )
    nodes = [
        {
            "type": key[0],
            "ref": s.node_ref(node),
            "depth": graph.depth[key],
            "sha256": node.artifact_sha256 if isinstance(node, ModelVersion) else node.sha256,
        }
        for key, node in sorted(graph.nodes.items(), key=lambda kv: (graph.depth[kv[0]], kv[0]))
    ]
    return {
        "root": s.node_ref(item),
        "nodes": nodes,
        "edges": s.LineageEdgeSerializer(graph.edges, many=True).data,
    }


class DatasetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Dataset]
):
    serializer_class = s.DatasetSerializer
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]
    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def get_queryset(self) -> QuerySet[Dataset]:
        return (
            Dataset.objects.select_related("created_by")
            .annotate(version_count=Count("versions"), latest_version=Max("versions__version"))
            .order_by("name")
        )

    @extend_schema(request=s.DatasetCreateSerializer, responses={201: s.DatasetSerializer})
    def create(self, request: Request) -> Response:
        data = s.DatasetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = dataset_service.register_dataset(by=request.user, **data.validated_data)
        fresh = self.get_queryset().get(pk=dataset.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)


class DatasetVersionViewSet(viewsets.GenericViewSet[DatasetVersion]):
    serializer_class = s.DatasetVersionSerializer
    ordering_fields = ["version", "created_at"]
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[DatasetVersion]:
        if getattr(self, "swagger_fake_view", False):
            return DatasetVersion.objects.none()
        dataset = get_object_or_404(Dataset, name=self.kwargs["name"])
        return (
            DatasetVersion.objects.select_related("dataset", "created_by")
            .filter(dataset=dataset)
            .order_by("-version")
        )

    def list(self, request: Request, name: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, name: str, version: int) -> Response:
        return Response(
            self.get_serializer(get_object_or_404(self.get_queryset(), version=version)).data
        )

    @extend_schema(
        request={"multipart/form-data": s.DatasetVersionCreateSerializer},
        responses={201: s.DatasetVersionSerializer},
    )
    def create(self, request: Request, name: str) -> Response:
        dataset = get_object_or_404(Dataset, name=name)
        data = s.DatasetVersionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        version = dataset_service.register_dataset_version(
            dataset, by=request.user, file=values.pop("file"), **values
        )
        fresh = self.get_queryset().get(pk=version.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)

    @LINEAGE_SCHEMA
    @action(detail=True, methods=["get"])
    def lineage(self, request: Request, name: str, version: int) -> Response:
        item = get_object_or_404(self.get_queryset(), version=version)
        return Response(lineage_payload(item, request))


class LineageEdgeViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet[LineageEdge]
):
    serializer_class = s.LineageEdgeSerializer
    filterset_fields = ["kind"]
    queryset = LineageEdge.objects.select_related(
        "subject_model_version__model",
        "subject_dataset_version__dataset",
        "object_model_version__model",
        "object_dataset_version__dataset",
    ).order_by("id")

    @extend_schema(request=s.LineageEdgeCreateSerializer, responses={201: s.LineageEdgeSerializer})
    def create(self, request: Request) -> Response:
        data = s.LineageEdgeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subject = refs.node(data.validated_data["subject"], field="subject")
        obj = refs.node(data.validated_data["object"], field="object")
        edge = lineage_service.add_edge(subject, data.validated_data["kind"], obj, by=request.user)
        fresh = self.get_queryset().get(pk=edge.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)
