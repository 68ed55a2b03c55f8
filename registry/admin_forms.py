"""Admin forms whose validation ends in a registry service call.

The admin never saves a registry row itself: each form's last validation step calls the service
(permission checks, audit event, storage, all or nothing) and hands the admin the instance the
service created. A refusal (`ModelGateError`) becomes a form error, so the page shows it instead of
a server error, and the service's own transaction has already undone everything it wrote.
"""

from typing import Any, ClassVar

from django import forms
from django.db import models

from core import roles
from core.errors import ModelGateError
from core.models import Team
from registry.models import (
    Dataset,
    DatasetVersion,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
)
from registry.services import datasets as dataset_service
from registry.services import lineage as lineage_service
from registry.services import models as model_service
from registry.services import versions as version_service


class CommaSeparatedListField(forms.CharField):
    """A short list of strings typed as `a, b, c` (tags, column names)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [item.strip() for item in text.split(",") if item.strip()]


class ServiceForm(forms.ModelForm):  # type: ignore[type-arg]
    """A ModelForm whose instance is built by a service call instead of `construct_instance`."""

    # The signed-in user; ModelAdmin.get_form binds it on the per-request form class.
    actor: Any = None
    # Service field names (as the API spells them) that this form calls something else.
    field_aliases: ClassVar[dict[str, str]] = {}

    def call_service(self) -> models.Model:
        raise NotImplementedError

    def _post_clean(self) -> None:
        # Django would build and validate the instance here (as UserCreationForm also overrides
        # it); the service does both, under the same rules as the API.
        if self.errors:
            return
        try:
            self.instance = self.call_service()
        except ModelGateError as exc:
            self.add_error(self._field_for(exc), exc.detail)

    def _field_for(self, exc: ModelGateError) -> str | None:
        name = exc.extra.get("field")
        name = self.field_aliases.get(name, name)
        return name if name in self.fields else None


def _teams_of(user: Any) -> models.QuerySet[Team]:
    """Teams to offer in a choice list. Narrowing only: the service still decides."""
    if roles.is_admin(user):
        return Team.objects.all()
    return Team.objects.filter(members=user.pk)


class RegisteredModelAddForm(ServiceForm):
    tags = CommaSeparatedListField(required=False, help_text="Comma-separated.")

    class Meta:
        model = RegisteredModel
        fields = [
            "name", "owner_team", "title", "description", "risk_tier", "intended_use",
            "limitations", "tags",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "owner_team" in self.fields:
            self.fields["owner_team"].queryset = _teams_of(self.actor)  # type: ignore[attr-defined]

    def call_service(self) -> RegisteredModel:
        data = self.cleaned_data
        return model_service.register_model(
            by=self.actor,
            name=data["name"],
            owner_team=data["owner_team"],
            title=data["title"],
            description=data["description"],
            risk_tier=data["risk_tier"],
            intended_use=data["intended_use"],
            limitations=data["limitations"],
            tags=data["tags"],
        )


class RegisteredModelChangeForm(ServiceForm):
    """Only the card fields: name and owner never change after registration."""

    tags = CommaSeparatedListField(required=False, help_text="Comma-separated.")

    class Meta:
        model = RegisteredModel
        fields = list(model_service.EDITABLE_FIELDS)

    def call_service(self) -> RegisteredModel:
        changes = {
            f: self.cleaned_data[f] for f in model_service.EDITABLE_FIELDS if f in self.fields
        }
        return model_service.update_model(self.instance, by=self.actor, **changes)


def _dataset_versions() -> models.QuerySet[DatasetVersion]:
    return DatasetVersion.objects.select_related("dataset").order_by("dataset__name", "-version")


class ModelVersionAddForm(ServiceForm):
    artifact = forms.FileField(help_text="skops, XGBoost JSON/UBJ, LightGBM text or ONNX.")
    training_dataset = forms.ModelChoiceField(queryset=_dataset_versions(), required=False)
    evaluation_dataset = forms.ModelChoiceField(queryset=_dataset_versions(), required=False)
    field_aliases = {"parent_version": "parent"}

    class Meta:
        model = ModelVersion
        fields = [
            "model", "artifact_format", "framework", "feature_names", "metrics", "parameters",
            "code_repository", "code_commit", "parent", "description",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "model" in self.fields:
            self.fields["model"].queryset = RegisteredModel.objects.filter(  # type: ignore[attr-defined]
                owner_team__in=_teams_of(self.actor)
            )

    def call_service(self) -> ModelVersion:
        data = self.cleaned_data
        return version_service.register_version(
            data["model"],
            by=self.actor,
            artifact=data["artifact"],
            artifact_format=data["artifact_format"],
            framework=data["framework"],
            feature_names=data["feature_names"],
            metrics=data["metrics"],
            parameters=data["parameters"],
            training_dataset=data["training_dataset"],
            evaluation_dataset=data["evaluation_dataset"],
            code_repository=data["code_repository"],
            code_commit=data["code_commit"],
            parent=data["parent"],
            description=data["description"],
        )


class DatasetAddForm(ServiceForm):
    class Meta:
        model = Dataset
        fields = ["name", "description"]

    def call_service(self) -> Dataset:
        return dataset_service.register_dataset(
            by=self.actor,
            name=self.cleaned_data["name"],
            description=self.cleaned_data["description"],
        )


class DatasetVersionAddForm(ServiceForm):
    file = forms.FileField(help_text="CSV or Parquet.")
    sensitive_features = CommaSeparatedListField(
        required=False, help_text="Comma-separated column names."
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "dataset", "target_column", "sensitive_features", "prediction_column",
            "score_column", "description",
        ]  # fmt: skip

    def call_service(self) -> DatasetVersion:
        data = self.cleaned_data
        return dataset_service.register_dataset_version(
            data["dataset"],
            by=self.actor,
            file=data["file"],
            target_column=data["target_column"],
            sensitive_features=data["sensitive_features"],
            prediction_column=data["prediction_column"],
            score_column=data["score_column"],
            description=data["description"],
        )


class LineageEdgeAddForm(ServiceForm):
    """Subject and object are each one model version or one dataset version."""

    class Meta:
        model = LineageEdge
        fields = [
            "subject_model_version", "subject_dataset_version", "kind",
            "object_model_version", "object_dataset_version",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for side in ("subject", "object"):
            chosen = [data.get(f"{side}_model_version"), data.get(f"{side}_dataset_version")]
            if sum(item is not None for item in chosen) != 1:
                raise forms.ValidationError(
                    f"Choose exactly one {side}: a model version or a dataset version."
                )
        return data

    def call_service(self) -> LineageEdge:
        data = self.cleaned_data
        subject = data["subject_model_version"] or data["subject_dataset_version"]
        obj = data["object_model_version"] or data["object_dataset_version"]
        return lineage_service.add_edge(subject, data["kind"], obj, by=self.actor)
