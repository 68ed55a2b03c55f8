"""Reading an assessment's evaluation data: the exact recorded bytes, only the needed columns.

The dataset file is copied out of storage with its digest re-checked (a file changed on disk is
never assessed), and only the columns the assessment uses are parsed, which bounds memory on wide
files. The target is mapped into the model's label space with the version's declared
`label_encoding` (e.g. {"<=50K": 0, ">50K": 1}), so a model trained on encoded labels is assessed
against the dataset's own values.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from governance.assessments.inputs import AssessmentInputError, two_valued
from registry import storage
from registry.models import DatasetVersion, ModelVersion

PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class EvaluationData:
    frame: pd.DataFrame
    feature_columns: list[str]
    target_column: str


def feature_columns(dataset_version: DatasetVersion, model_version: ModelVersion) -> list[str]:
    """The model's declared features, or every column that plays no other role in the file."""
    if model_version.feature_names:
        return list(model_version.feature_names)
    roles = {
        dataset_version.target_column,
        dataset_version.prediction_column,
        dataset_version.score_column,
    }
    return [c["name"] for c in dataset_version.schema if c["name"] not in roles]


def read_columns(dataset_version: DatasetVersion, columns: list[str]) -> pd.DataFrame:
    """The named columns of the dataset version, in file order, after re-checking its digest."""
    wanted = list(dict.fromkeys(c for c in columns if c))
    with storage.verified_copy(
        dataset_version.file_key, sha256=dataset_version.sha256, size=dataset_version.size
    ) as path:
        with path.open("rb") as handle:
            is_parquet = handle.read(4) == PARQUET_MAGIC
        try:
            if is_parquet:
                frame = pd.read_parquet(path, columns=wanted)
            else:
                frame = pd.read_csv(path, usecols=wanted, encoding="utf-8-sig", low_memory=False)
        except (ValueError, KeyError) as exc:
            raise AssessmentInputError(
                f"dataset {dataset_version} could not be read with columns {wanted}: {exc}"
            ) from exc
    if len(frame) != dataset_version.row_count:
        raise AssessmentInputError(
            f"dataset {dataset_version} has {len(frame)} rows, but {dataset_version.row_count} "
            "were recorded at registration"
        )
    return frame[wanted]


def encode_target(values: pd.Series, model_version: ModelVersion | None) -> np.ndarray:
    """The target in the model's label space: through the version's label_encoding if declared."""
    encoding = (model_version.parameters or {}).get("label_encoding") if model_version else None
    if values.isna().any():
        raise AssessmentInputError(
            f"the target column {values.name!r} has {int(values.isna().sum())} missing values"
        )
    if not encoding:
        return values.to_numpy()
    if not isinstance(encoding, dict):
        raise AssessmentInputError(
            f"version parameter label_encoding must map dataset labels to model labels, got "
            f"{encoding!r}"
        )
    mapped = values.astype(str).map(encoding)
    unknown = sorted(values[mapped.isna()].astype(str).unique().tolist())
    if unknown:
        shown = ", ".join(map(repr, unknown[:10]))
        raise AssessmentInputError(
            f"the target column {values.name!r} has value(s) {shown} that the version's "
            f"label_encoding {encoding!r} does not map"
        )
    return mapped.to_numpy()


def check_binary(values: pd.Series) -> None:
    two_valued(values.dropna().to_numpy(), f"the target column {values.name!r}")


def check_target_matches(y_true: np.ndarray, classes: list[Any]) -> None:
    """Refuse a target whose labels the model never predicts (e.g. ">50K" against 0/1)."""
    distinct = pd.unique(y_true)
    known = set(classes)
    strangers = [v.item() if isinstance(v, np.generic) else v for v in distinct if v not in known]
    if strangers:
        shown = ", ".join(map(repr, sorted(strangers, key=str)[:10]))
        raise AssessmentInputError(
            f"the target has label(s) {shown} that the model does not know (its classes are "
            f"{classes!r}); declare label_encoding in the version's parameters to map them"
        )
