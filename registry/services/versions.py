"""Registering a model version: validate the artifact, store it by digest, record its lineage."""

from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from audit import trail
from core.errors import Conflict, InvalidInput
from registry import permissions, storage
from registry.models import (
    ArtifactFormat,
    DatasetVersion,
    EdgeKind,
    ModelVersion,
    RegisteredModel,
)
from registry.services.lineage import create_edge
from registry.validation import check_json, is_violation_of


def register_version(
    model: RegisteredModel,
    *,
    by: Any,
    artifact: IO[bytes],
    artifact_format: str,
    framework: str = "",
    feature_names: list[str] | None = None,
    metrics: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    training_dataset: DatasetVersion | None = None,
    evaluation_dataset: DatasetVersion | None = None,
    code_repository: str = "",
    code_commit: str = "",
    parent: ModelVersion | None = None,
    description: str = "",
) -> ModelVersion:
    """Register the next version of `model`.

    Guards: the actor is a data scientist of the owner team (or an admin); the artifact is within
    the size limit, really is `artifact_format`, loads safely (skops types trusted, no ONNX
    external data; pickle/joblib only when the deployment allows it, then marked unsafe and never
    executed here). Changes: one ModelVersion, its artifact in content-addressed storage, lineage
    edges (trained_on, evaluated_on, derived_from) and audit events, all or nothing.
    """
    permissions.require(
        permissions.can_register_version(by, model),
        f"only data scientists of team {model.owner_team.name!r} or admins can register "
        f"versions of {model.name!r}",
    )
    if artifact_format not in ArtifactFormat.values:
        raise InvalidInput(
            f"artifact_format must be one of {ArtifactFormat.values}", field="artifact_format"
        )
    feature_names = check_json(feature_names, list, "feature_names")
    metrics = check_json(metrics, dict, "metrics")
    parameters = check_json(parameters, dict, "parameters")
    if parent is not None and parent.model_id != model.pk:
        raise InvalidInput(
            "parent_version must be a version of the same model", field="parent_version"
        )

    # Imported here: the ML libraries behind it cost seconds of start-up that reads never need.
    from registry import artifacts

    with storage.spooled(
        artifact, limit=settings.MODELGATE_MAX_ARTIFACT_BYTES, what="the artifact"
    ) as upload:
        inspection = artifacts.inspect_artifact(
            upload.path,
            artifact_format,
            trusted_types=settings.MODELGATE_SKOPS_TRUSTED_TYPES,
            allow_pickle=settings.MODELGATE_ALLOW_PICKLE,
            max_uncompressed_bytes=settings.MODELGATE_SKOPS_MAX_UNCOMPRESSED_BYTES,
            max_members=settings.MODELGATE_SKOPS_MAX_MEMBERS,
        )
        recorded_names = inspection.feature_names or []
        if feature_names and recorded_names and list(feature_names) != list(recorded_names):
            raise InvalidInput(
                f"feature_names differ from the names recorded in the artifact ({recorded_names})",
                field="feature_names",
                code="feature_names_mismatch",
            )
        key = storage.put("artifacts", upload)
        try:
            with transaction.atomic():
                # Lock the model row so concurrent registrations get consecutive numbers. NO KEY:
                # rows that reference the model (a promotion's stage change) hold KEY SHARE on it
                # until commit, and a FOR UPDATE would deadlock against them.
                RegisteredModel.objects.select_for_update(no_key=True).filter(pk=model.pk).exists()
                latest = model.versions.aggregate(n=Max("version"))["n"] or 0
                version = ModelVersion.objects.create(
                    model=model,
                    version=latest + 1,
                    artifact_key=key,
                    artifact_sha256=upload.sha256,
                    artifact_size=upload.size,
                    artifact_format=artifact_format,
                    artifact_details=inspection.details,
                    is_unsafe=inspection.unsafe,
                    framework=framework or inspection.framework,
                    feature_names=list(feature_names or recorded_names),
                    metrics=metrics,
                    parameters=parameters,
                    code_repository=code_repository,
                    code_commit=code_commit,
                    parent=parent,
                    description=description,
                    created_by=by,
                )
                trail.record(
                    version,
                    "registry.version.registered",
                    by=by,
                    data={
                        "artifact_sha256": upload.sha256,
                        "artifact_size": upload.size,
                        "artifact_format": artifact_format,
                        "unsafe": inspection.unsafe,
                        "code_repository": code_repository,
                        "code_commit": code_commit,
                    },
                )
                for kind, target in (
                    (EdgeKind.TRAINED_ON, training_dataset),
                    (EdgeKind.EVALUATED_ON, evaluation_dataset),
                    (EdgeKind.DERIVED_FROM, parent),
                ):
                    if target is not None:
                        create_edge(version, kind, target, by=by)
        except IntegrityError as exc:
            if not is_violation_of(exc, "unique_model_version"):
                raise
            raise Conflict(
                f"version numbering for {model.name!r} changed concurrently; retry", code="conflict"
            ) from exc
    return version
