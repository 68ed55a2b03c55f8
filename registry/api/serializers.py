"""Registry API representations (output) and small per-action input serializers."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import JSONObjectField, StrictInputSerializer, StringListField
from registry.models import (
    ArtifactFormat,
    Dataset,
    DatasetVersion,
    EdgeKind,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
    RiskTier,
)


class RegisteredModelSerializer(serializers.ModelSerializer[RegisteredModel]):
    owner_team = serializers.SlugRelatedField(slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    version_count = serializers.IntegerField(read_only=True)
    production_version = serializers.IntegerField(read_only=True, allow_null=True)
    url = serializers.HyperlinkedIdentityField(
        view_name="api:model-detail", lookup_field="name", lookup_url_kwarg="name"
    )

    class Meta:
        model = RegisteredModel
        fields = [
            "name", "title", "description", "owner_team", "risk_tier", "intended_use",
            "limitations", "tags", "version_count", "production_version", "created_by",
            "created_at", "updated_at", "url",
        ]  # fmt: skip
        read_only_fields = fields


class ModelCreateSerializer(StrictInputSerializer):
    name = serializers.SlugField(max_length=100)
    owner_team = serializers.SlugField(max_length=100)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, default=RiskTier.MINIMAL)
    intended_use = serializers.CharField(required=False, allow_blank=True, default="")
    limitations = serializers.CharField(required=False, allow_blank=True, default="")
    tags = StringListField(required=False, default=list)


class ModelUpdateSerializer(StrictInputSerializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False)
    intended_use = serializers.CharField(required=False, allow_blank=True)
    limitations = serializers.CharField(required=False, allow_blank=True)
    tags = StringListField(required=False)


def dataset_ref(version: DatasetVersion | None) -> str | None:
    return f"{version.dataset.name}:{version.version}" if version is not None else None


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    parent_version = serializers.SerializerMethodField()
    training_dataset = serializers.SerializerMethodField()
    evaluation_dataset = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "model", "version", "stage", "artifact_sha256", "artifact_size", "artifact_format",
            "is_unsafe", "artifact_details", "framework", "feature_names", "metrics",
            "parameters", "training_dataset", "evaluation_dataset", "code_repository",
            "code_commit", "parent_version", "description", "created_by", "created_at", "url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_parent_version(self, obj: ModelVersion) -> int | None:
        return obj.parent.version if obj.parent_id else None  # type: ignore[union-attr]

    def _dataset(self, obj: ModelVersion, kind: str) -> str | None:
        # Uses the prefetched upstream edges: no query per row.
        for edge in obj.upstream_edges.all():
            if edge.kind == kind and edge.object_dataset_version_id:
                return dataset_ref(edge.object_dataset_version)
        return None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_training_dataset(self, obj: ModelVersion) -> str | None:
        return self._dataset(obj, EdgeKind.TRAINED_ON)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_evaluation_dataset(self, obj: ModelVersion) -> str | None:
        return self._dataset(obj, EdgeKind.EVALUATED_ON)

    @extend_schema_field(serializers.URLField())
    def get_url(self, obj: ModelVersion) -> str:
        path = f"/api/v1/models/{obj.model.name}/versions/{obj.version}/"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class VersionCreateSerializer(StrictInputSerializer):
    artifact = serializers.FileField(allow_empty_file=True, use_url=False)
    artifact_format = serializers.ChoiceField(choices=ArtifactFormat.choices)
    framework = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    feature_names = StringListField(required=False, default=list)
    metrics = JSONObjectField(required=False, default=dict)
    parameters = JSONObjectField(required=False, default=dict)
    training_dataset = serializers.CharField(required=False, allow_blank=True, default="")
    evaluation_dataset = serializers.CharField(required=False, allow_blank=True, default="")
    code_repository = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )
    code_commit = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    parent_version = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, default=None
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetSerializer(serializers.ModelSerializer[Dataset]):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    version_count = serializers.IntegerField(read_only=True)
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Dataset
        fields = [
            "name",
            "description",
            "version_count",
            "latest_version",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class DatasetCreateSerializer(StrictInputSerializer):
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetVersionSerializer(serializers.ModelSerializer[DatasetVersion]):
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "dataset", "version", "sha256", "size", "file_format", "row_count", "schema",
            "target_column", "sensitive_features", "prediction_column", "score_column",
            "description", "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class DatasetVersionCreateSerializer(StrictInputSerializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    target_column = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    sensitive_features = StringListField(required=False, default=list)
    prediction_column = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    score_column = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class LineageNodeSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["model_version", "dataset_version"])
    ref = serializers.CharField(help_text='"name:version"')
    depth = serializers.IntegerField(help_text="negative upstream, positive downstream")
    sha256 = serializers.CharField()


class LineageEdgeSerializer(serializers.ModelSerializer[LineageEdge]):
    subject = serializers.SerializerMethodField()
    object = serializers.SerializerMethodField()

    class Meta:
        model = LineageEdge
        fields = ["id", "subject", "kind", "object", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_subject(self, edge: LineageEdge) -> str:
        return node_ref(edge.subject)

    @extend_schema_field(serializers.CharField())
    def get_object(self, edge: LineageEdge) -> str:
        return node_ref(edge.object)


def node_ref(item: ModelVersion | DatasetVersion) -> str:
    """`model:<name>:<version>` or `dataset:<name>:<version>`."""
    if isinstance(item, ModelVersion):
        return f"model:{item.model.name}:{item.version}"
    return f"dataset:{item.dataset.name}:{item.version}"


class LineageSerializer(serializers.Serializer[Any]):
    root = serializers.CharField()
    nodes = LineageNodeSerializer(many=True)
    edges = LineageEdgeSerializer(many=True)


class LineageEdgeCreateSerializer(StrictInputSerializer):
    subject = serializers.CharField(
        help_text='"model:<name>:<version>" or "dataset:<name>:<version>"'
    )
    kind = serializers.ChoiceField(choices=EdgeKind.choices)
    object = serializers.CharField(
        help_text='"model:<name>:<version>" or "dataset:<name>:<version>"'
    )
