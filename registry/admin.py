"""Registry admin: reading for every role; every write a service call; nothing ever deleted.

Who may do what is answered by registry.permissions and core.roles, the functions the services
and the API use; Django's model permissions play no part. The forms in registry.admin_forms call
the services, so a write made here has the same checks and audit event as one made through the API.
"""

import json
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db.models import Count, Max, Model, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.html import format_html

from core import roles
from core.models import Team
from registry import permissions
from registry.admin_forms import (
    DatasetAddForm,
    DatasetVersionAddForm,
    LineageEdgeAddForm,
    ModelVersionAddForm,
    RegisteredModelAddForm,
    RegisteredModelChangeForm,
    ServiceForm,
)
from registry.models import (
    Dataset,
    DatasetVersion,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
    Stage,
)


def _short(digest: str) -> str:
    return digest[:12]


def _pretty_json(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


def _may_register_models(request: HttpRequest) -> bool:
    """Whether the user could register a model (or a version) in at least one team.

    can_register_version(user, model) is can_register_model(user, model.owner_team) today; the
    service still decides for the model chosen. Cached on the request: the admin asks often.
    """
    cached: bool | None = getattr(request, "_modelgate_may_register", None)
    if cached is None:
        user = request.user
        # Admins may register for any team, members of none included.
        cached = roles.is_admin(user) or any(
            permissions.can_register_model(user, team)
            for team in Team.objects.filter(members=user.pk)
        )
        request._modelgate_may_register = cached  # type: ignore[attr-defined]
    return cached


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    """Rows shown under their parent for reading; added only through their own service."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return permissions.can_read(request.user)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ServiceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Common ground of the registry admins: see the module docstring."""

    add_form: type[ServiceForm] | None = None
    add_fieldsets: Any = None

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None and self.add_form is not None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change, **kwargs)
        # get_form builds a new class on every call, so this binds the actor to this request only.
        form.actor = request.user
        return form

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None and self.add_fieldsets is not None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_inline_instances(self, request: HttpRequest, obj: Model | None = None) -> list[Any]:
        return [] if obj is None else super().get_inline_instances(request, obj)

    def get_formsets_with_inlines(
        self, request: HttpRequest, obj: Model | None = None
    ) -> Iterator[Any]:
        # Inlines here are read-only and carry no input. Leaving them out of a POST means the form
        # is the page's only input: once its service call has written, nothing else (such as a
        # missing inline management form) can make the admin redisplay the page over a saved change.
        if request.method == "POST":
            return
        yield from super().get_formsets_with_inlines(request, obj)

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        """Nothing to do: the form's service call saved it (with its audit event)."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing to do: registry rows have no many-to-many fields and inlines are read-only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.can_read(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return permissions.can_read(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Registry rows are evidence: the audit trail and lineage point at them.
        return False


class ModelVersionInline(ReadOnlyInline):
    model = ModelVersion
    fk_name = "model"
    fields = readonly_fields = (
        "version", "stage", "artifact_format", "is_unsafe", "short_sha256", "created_by",
        "created_at",
    )  # fmt: skip
    ordering = ("-version",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        return super().get_queryset(request).select_related("model", "created_by")

    @admin.display(description="SHA-256")
    def short_sha256(self, obj: ModelVersion) -> str:
        return _short(obj.artifact_sha256)


@admin.register(RegisteredModel)
class RegisteredModelAdmin(ServiceAdmin):
    form = RegisteredModelChangeForm
    add_form = RegisteredModelAddForm
    list_display = (
        "name", "title", "owner_team", "risk_tier", "production_version", "version_count",
    )  # fmt: skip
    list_filter = ("risk_tier", "owner_team")
    list_select_related = ("owner_team",)
    search_fields = ("name", "title", "description")
    add_fieldsets = (
        (None, {"fields": ("name", "owner_team", "title", "risk_tier")}),
        ("Model card", {"fields": ("description", "intended_use", "limitations", "tags")}),
    )
    fieldsets = (
        *add_fieldsets,
        ("Registry", {"fields": (
            "production_version", "version_count", "created_by", "created_at", "updated_at",
        )}),
    )  # fmt: skip
    readonly_fields = (
        "name", "owner_team", "production_version", "version_count", "created_by", "created_at",
        "updated_at",
    )  # fmt: skip
    inlines = (ModelVersionInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RegisteredModel]:
        production = ModelVersion.objects.filter(
            model=OuterRef("pk"), stage=Stage.PRODUCTION
        ).values("version")[:1]
        return (
            super()
            .get_queryset(request)
            .select_related("owner_team", "created_by")
            .annotate(version_count=Count("versions"), production_version=Subquery(production))
        )

    @admin.display(description="production", ordering="production_version")
    def production_version(self, obj: RegisteredModel) -> int | None:
        return obj.production_version  # type: ignore[attr-defined,no-any-return]

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, obj: RegisteredModel) -> int:
        return obj.version_count  # type: ignore[attr-defined,no-any-return]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may_register_models(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if obj is None:
            # Only picks "Change" or "View" labels; every object is asked again below.
            return permissions._writer(request.user)
        return permissions.can_edit_model(request.user, obj)  # type: ignore[arg-type]


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceAdmin):
    """Versions are immutable: added through register_version, never changed here (stage
    changes belong to the promotion workflow)."""

    add_form = ModelVersionAddForm
    list_display = (
        "model", "version", "stage", "artifact_format", "is_unsafe", "short_sha256",
        "created_by", "created_at",
    )  # fmt: skip
    list_filter = ("stage", "artifact_format", "is_unsafe")
    list_select_related = ("model", "created_by")
    search_fields = ("model__name", "^artifact_sha256")
    autocomplete_fields = ("parent",)
    add_fieldsets = (
        (None, {"fields": ("model", "artifact", "artifact_format", "framework", "description")}),
        ("Metadata (JSON)", {"fields": ("feature_names", "metrics", "parameters")}),
        ("Lineage", {"fields": (
            "training_dataset", "evaluation_dataset", "parent", "code_repository", "code_commit",
        )}),
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": ("model", "version", "stage", "description")}),
        ("Artifact", {"fields": (
            "artifact_format", "is_unsafe", "artifact_sha256", "artifact_size", "artifact_key",
            "details", "framework", "feature_names", "metrics", "parameters",
        )}),
        ("Provenance", {"fields": (
            "upstream", "parent", "code_repository", "code_commit", "created_by", "created_at",
        )}),
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        # select_related also serves the autocomplete views that list versions by name.
        return super().get_queryset(request).select_related("model", "created_by")

    @admin.display(description="SHA-256", ordering="artifact_sha256")
    def short_sha256(self, obj: ModelVersion) -> str:
        return _short(obj.artifact_sha256)

    @admin.display(description="artifact details")
    def details(self, obj: ModelVersion) -> str:
        return _pretty_json(obj.artifact_details)

    @admin.display(description="upstream lineage")
    def upstream(self, obj: ModelVersion) -> str:
        edges = obj.upstream_edges.select_related(
            "object_model_version__model", "object_dataset_version__dataset"
        )
        return "; ".join(f"{edge.kind} {edge.object}" for edge in edges) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _may_register_models(request)


class DatasetVersionInline(ReadOnlyInline):
    model = DatasetVersion
    fields = readonly_fields = (
        "version", "file_format", "row_count", "short_sha256", "created_by", "created_at",
    )  # fmt: skip
    ordering = ("-version",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[DatasetVersion]:
        return super().get_queryset(request).select_related("dataset", "created_by")

    @admin.display(description="SHA-256")
    def short_sha256(self, obj: DatasetVersion) -> str:
        return _short(obj.sha256)


@admin.register(Dataset)
class DatasetAdmin(ServiceAdmin):
    add_form = DatasetAddForm
    list_display = (
        "name",
        "description",
        "version_count",
        "latest_version",
        "created_by",
        "created_at",
    )
    list_select_related = ("created_by",)
    search_fields = ("name", "description")
    add_fieldsets = ((None, {"fields": ("name", "description")}),)
    fieldsets = ((None, {"fields": ("name", "description", "created_by", "created_at")}),)
    inlines = (DatasetVersionInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dataset]:
        return (
            super()
            .get_queryset(request)
            .annotate(version_count=Count("versions"), latest_version=Max("versions__version"))
        )

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, obj: Dataset) -> int:
        return obj.version_count  # type: ignore[attr-defined,no-any-return]

    @admin.display(description="latest", ordering="latest_version")
    def latest_version(self, obj: Dataset) -> int | None:
        return obj.latest_version  # type: ignore[attr-defined,no-any-return]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return permissions.can_register_dataset(request.user)


_COLUMN_ROLES = ("Column roles", {"fields": (
    "target_column", "sensitive_features", "prediction_column", "score_column",
)})  # fmt: skip


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ServiceAdmin):
    """Dataset versions are immutable files: added through register_dataset_version only."""

    add_form = DatasetVersionAddForm
    list_display = (
        "dataset", "version", "file_format", "row_count", "short_sha256", "created_by",
        "created_at",
    )  # fmt: skip
    list_filter = ("file_format",)
    list_select_related = ("dataset", "created_by")
    search_fields = ("dataset__name", "^sha256")
    add_fieldsets = ((None, {"fields": ("dataset", "file", "description")}), _COLUMN_ROLES)
    fieldsets = (
        (None, {"fields": ("dataset", "version", "description")}),
        ("File", {"fields": ("file_format", "row_count", "size", "sha256", "file_key", "columns")}),
        _COLUMN_ROLES,
        ("Provenance", {"fields": ("created_by", "created_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[DatasetVersion]:
        return super().get_queryset(request).select_related("dataset", "created_by")

    @admin.display(description="SHA-256", ordering="sha256")
    def short_sha256(self, obj: DatasetVersion) -> str:
        return _short(obj.sha256)

    @admin.display(description="schema")
    def columns(self, obj: DatasetVersion) -> str:
        return _pretty_json(obj.schema)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return permissions.can_register_dataset(request.user)


@admin.register(LineageEdge)
class LineageEdgeAdmin(ServiceAdmin):
    """Edges are facts about provenance: added through add_edge (cycle-checked), never edited."""

    add_form = LineageEdgeAddForm
    list_display = ("id", "subject", "kind", "object", "created_by", "created_at")
    list_filter = ("kind",)
    list_select_related = (
        "subject_model_version__model", "subject_dataset_version__dataset",
        "object_model_version__model", "object_dataset_version__dataset", "created_by",
    )  # fmt: skip
    search_fields = (
        "subject_model_version__model__name", "subject_dataset_version__dataset__name",
        "object_model_version__model__name", "object_dataset_version__dataset__name",
    )  # fmt: skip
    autocomplete_fields = (
        "subject_model_version", "subject_dataset_version", "object_model_version",
        "object_dataset_version",
    )  # fmt: skip
    add_fieldsets = (
        ("Subject (one of)", {"fields": ("subject_model_version", "subject_dataset_version")}),
        (None, {"fields": ("kind",)}),
        ("Object (one of)", {"fields": ("object_model_version", "object_dataset_version")}),
    )
    fieldsets = ((None, {"fields": ("subject", "kind", "object", "created_by", "created_at")}),)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Data scientists, validators and admins may link something; add_edge decides whether
        # this actor may link this particular subject.
        return permissions.can_register_dataset(request.user)
