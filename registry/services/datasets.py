"""Registering datasets and dataset versions (CSV or Parquet files with an inferred schema)."""

from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from audit import trail
from core.errors import Conflict, InvalidInput
from registry import dataset_files, permissions, storage
from registry.models import Dataset, DatasetVersion
from registry.validation import check_name, is_violation_of


def register_dataset(*, by: Any, name: str, description: str = "") -> Dataset:
    """Create a named dataset. Guards: the actor is a data scientist, validator or admin."""
    permissions.require(
        permissions.can_register_dataset(by),
        "only data scientists, validators or admins can register datasets",
    )
    dataset = Dataset(name=check_name(name), description=description, created_by=by)
    try:
        with transaction.atomic():
            dataset.save(force_insert=True)
            trail.record(
                dataset,
                "registry.dataset.registered",
                by=by,
                data={"after": {"name": name, "description": description}},
            )
    except IntegrityError as exc:
        raise Conflict(f"a dataset named {name!r} already exists", code="duplicate") from exc
    return dataset


def register_dataset_version(
    dataset: Dataset,
    *,
    by: Any,
    file: IO[bytes],
    target_column: str = "",
    sensitive_features: list[str] | None = None,
    prediction_column: str = "",
    score_column: str = "",
    description: str = "",
) -> DatasetVersion:
    """Add the next version of `dataset`. Guards: the actor may register datasets; the file is
    within the size limit, a well-formed CSV or Parquet file with rows; every declared column
    exists. Changes: one DatasetVersion, its file in content-addressed storage, one audit event."""
    permissions.require(
        permissions.can_register_dataset(by),
        "only data scientists, validators or admins can register dataset versions",
    )
    sensitive = list(sensitive_features or [])
    if not all(isinstance(name, str) for name in sensitive):
        raise InvalidInput(
            "sensitive_features must be a list of column names", field="sensitive_features"
        )
    with storage.spooled(
        file, limit=settings.MODELGATE_MAX_DATASET_BYTES, what="the dataset file"
    ) as upload:
        inspection = dataset_files.inspect_dataset(upload.path)
        dataset_files.validate_declared_columns(
            inspection.column_names,
            target_column=target_column,
            sensitive_features=sensitive,
            prediction_column=prediction_column,
            score_column=score_column,
        )
        key = storage.put("datasets", upload)
        try:
            with transaction.atomic():
                Dataset.objects.select_for_update(no_key=True).filter(pk=dataset.pk).exists()
                latest = dataset.versions.aggregate(n=Max("version"))["n"] or 0
                version = DatasetVersion.objects.create(
                    dataset=dataset,
                    version=latest + 1,
                    file_key=key,
                    sha256=upload.sha256,
                    size=upload.size,
                    file_format=inspection.file_format,
                    row_count=inspection.row_count,
                    schema=inspection.schema_json(),
                    target_column=target_column,
                    sensitive_features=sensitive,
                    prediction_column=prediction_column,
                    score_column=score_column,
                    description=description,
                    created_by=by,
                )
                trail.record(
                    version,
                    "registry.dataset_version.registered",
                    by=by,
                    data={
                        "sha256": upload.sha256,
                        "size": upload.size,
                        "file_format": inspection.file_format,
                        "row_count": inspection.row_count,
                        "target_column": target_column,
                        "sensitive_features": sensitive,
                    },
                )
        except IntegrityError as exc:
            if not is_violation_of(exc, "unique_dataset_version"):
                raise
            raise Conflict(
                f"version numbering for {dataset.name!r} changed concurrently; retry"
            ) from exc
    return version
