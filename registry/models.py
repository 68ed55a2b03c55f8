"""What exists: registered models, their versions, datasets and the lineage between them."""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


class RiskTier(models.TextChoices):
    MINIMAL = "minimal", "Minimal"
    LIMITED = "limited", "Limited"
    HIGH = "high", "High"


class RegisteredModel(models.Model):
    """A model under governance: what it is for, who owns it and how risky it is."""

    name = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    owner_team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="models")
    risk_tier = models.CharField(max_length=16, choices=RiskTier.choices, default=RiskTier.MINIMAL)
    intended_use = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ArtifactFormat(models.TextChoices):
    SKOPS = "skops", "skops"
    XGBOOST_JSON = "xgboost-json", "XGBoost JSON"
    XGBOOST_UBJ = "xgboost-ubj", "XGBoost UBJSON"
    LIGHTGBM_TEXT = "lightgbm-text", "LightGBM text"
    ONNX = "onnx", "ONNX"
    PICKLE = "pickle", "pickle (unsafe)"
    JOBLIB = "joblib", "joblib (unsafe)"


UNSAFE_FORMATS = frozenset({ArtifactFormat.PICKLE, ArtifactFormat.JOBLIB})


class Stage(models.TextChoices):
    NONE = "none", "None"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def in_stage(self, stage: str) -> "ModelVersionQuerySet":
        return self.filter(stage=stage)


class ModelVersion(models.Model):
    """One trained artifact of a model, stored by content digest, with where it came from."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    artifact_key = models.CharField(max_length=200, editable=False)
    artifact_sha256 = models.CharField(max_length=64, editable=False, db_index=True)
    artifact_size = models.BigIntegerField(editable=False)
    artifact_format = models.CharField(max_length=20, choices=ArtifactFormat.choices)
    # What inspecting the artifact found (class names, untrusted types, pickle imports...).
    artifact_details = models.JSONField(default=dict, blank=True, editable=False)
    is_unsafe = models.BooleanField(default=False, editable=False)
    framework = models.CharField(max_length=100, blank=True)
    feature_names = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    code_repository = models.CharField(max_length=500, blank=True)
    code_commit = models.CharField(max_length=100, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    description = models.TextField(blank=True)
    stage = models.CharField(
        max_length=16, choices=Stage.choices, default=Stage.NONE, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="unique_model_version"),
            # At most one production version per model, enforced by the database itself.
            models.UniqueConstraint(
                fields=["model"],
                condition=Q(stage="production"),
                name="one_production_version_per_model",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.name}:{self.version}"

    def is_production(self) -> bool:
        return self.stage == Stage.PRODUCTION


class Dataset(models.Model):
    """A named dataset whose versions are immutable files."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DatasetFormat(models.TextChoices):
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


class DatasetVersion(models.Model):
    """One immutable file of a dataset, with its inferred schema and declared roles of columns."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    file_key = models.CharField(max_length=200, editable=False)
    sha256 = models.CharField(max_length=64, editable=False, db_index=True)
    size = models.BigIntegerField(editable=False)
    file_format = models.CharField(max_length=10, choices=DatasetFormat.choices, editable=False)
    row_count = models.BigIntegerField(editable=False)
    # [{"name": ..., "dtype": ..., "nullable": ...}] in file order.
    schema = models.JSONField(default=list, editable=False)
    target_column = models.CharField(max_length=200, blank=True)
    sensitive_features = models.JSONField(default=list, blank=True)
    prediction_column = models.CharField(max_length=200, blank=True)
    score_column = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "version"], name="unique_dataset_version"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name}:{self.version}"

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.schema]


class EdgeKind(models.TextChoices):
    TRAINED_ON = "trained_on", "trained on"
    EVALUATED_ON = "evaluated_on", "evaluated on"
    DERIVED_FROM = "derived_from", "derived from"
    REPLACES = "replaces", "replaces"


class LineageEdge(models.Model):
    """`subject` <kind> `object`: e.g. model v3 trained_on adult:2. Upstream is the object side.

    Each side is a model version or a dataset version (exactly one of the two columns is set), so
    both ends keep real foreign keys.
    """

    kind = models.CharField(max_length=20, choices=EdgeKind.choices)
    subject_model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="upstream_edges"
    )
    subject_dataset_version = models.ForeignKey(
        DatasetVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="upstream_edges",
    )
    object_model_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="downstream_edges",
    )
    object_dataset_version = models.ForeignKey(
        DatasetVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="downstream_edges",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(subject_model_version__isnull=False, subject_dataset_version__isnull=True)
                    | Q(subject_model_version__isnull=True, subject_dataset_version__isnull=False)
                ),
                name="lineage_edge_one_subject",
            ),
            models.CheckConstraint(
                condition=(
                    Q(object_model_version__isnull=False, object_dataset_version__isnull=True)
                    | Q(object_model_version__isnull=True, object_dataset_version__isnull=False)
                ),
                name="lineage_edge_one_object",
            ),
            # One partial unique index per combination of end types: portable across databases
            # (a NULL-aware unique index is PostgreSQL-only).
            *[
                models.UniqueConstraint(
                    fields=["kind", f"subject_{s}", f"object_{o}"],
                    condition=Q(**{f"subject_{s}__isnull": False, f"object_{o}__isnull": False}),
                    name=f"unique_lineage_{s[0]}{o[0]}",
                )
                for s in ("model_version", "dataset_version")
                for o in ("model_version", "dataset_version")
            ],
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.kind} {self.object}"

    @property
    def subject(self) -> Any:
        return self.subject_model_version or self.subject_dataset_version

    @property
    def object(self) -> Any:
        return self.object_model_version or self.object_dataset_version
