"""Resolving the textual references clients use: `name:version`, `model:name:version`."""

import re

from core.errors import InvalidInput, NotFound
from registry.models import DatasetVersion, ModelVersion

_NUMBER = re.compile(r"[0-9]{1,9}")


def _split(ref: str, field: str) -> tuple[str, int]:
    name, sep, number = ref.rpartition(":")
    # str.isdigit() accepts "²": only ASCII digits make a version number.
    if not sep or not name or not _NUMBER.fullmatch(number):
        raise InvalidInput(f'{field} must look like "name:version", got {ref!r}', field=field)
    return name, int(number)


def dataset_version(ref: str, *, field: str = "dataset") -> DatasetVersion:
    name, number = _split(ref, field)
    try:
        return DatasetVersion.objects.select_related("dataset").get(
            dataset__name=name, version=number
        )
    except DatasetVersion.DoesNotExist as exc:
        raise InvalidInput(f"{field}: dataset version {ref!r} does not exist", field=field) from exc


def model_version(ref: str, *, field: str = "model") -> ModelVersion:
    name, number = _split(ref, field)
    try:
        return ModelVersion.objects.select_related("model__owner_team").get(
            model__name=name, version=number
        )
    except ModelVersion.DoesNotExist as exc:
        raise InvalidInput(f"{field}: model version {ref!r} does not exist", field=field) from exc


def node(ref: str, *, field: str) -> ModelVersion | DatasetVersion:
    kind, sep, rest = ref.partition(":")
    if kind == "model" and sep:
        return model_version(rest, field=field)
    if kind == "dataset" and sep:
        return dataset_version(rest, field=field)
    raise InvalidInput(
        f'{field} must look like "model:<name>:<version>" or "dataset:<name>:<version>"',
        field=field,
    )


def get_model_version(name: str, number: int) -> ModelVersion:
    try:
        return ModelVersion.objects.select_related("model__owner_team").get(
            model__name=name, version=number
        )
    except ModelVersion.DoesNotExist as exc:
        raise NotFound(f"model {name!r} has no version {number}") from exc
