"""Real registered models and datasets for assessment tests, made through the registry services.

A small Adult sample (a few hundred rows) keeps every job fast; the model is the demo's real
scikit-learn pipeline, stored as skops, so jobs load and run it in the sandbox as in production.
Trained pipelines are cached per process by (estimator, rows): training is not what is tested.
"""

import functools
import io
import pickle
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from governance import demo_model
from registry.models import DatasetVersion, ModelVersion, RegisteredModel
from registry.services.datasets import register_dataset, register_dataset_version
from registry.services.models import register_model
from registry.services.versions import register_version

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"
ADULT_TRAIN = EXAMPLES / "adult_train.csv.gz"
ADULT_TEST = EXAMPLES / "adult_test.csv.gz"


@functools.cache
def adult_rows(which: str, rows: int) -> pd.DataFrame:
    frame = pd.read_csv(ADULT_TRAIN if which == "train" else ADULT_TEST)
    return frame.head(rows).reset_index(drop=True)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def dataset_version(
    by: Any,
    frame: pd.DataFrame,
    *,
    name: str = "adult-eval",
    target_column: str = "income",
    sensitive_features: tuple[str, ...] = ("sex", "race"),
    prediction_column: str = "",
    score_column: str = "",
) -> DatasetVersion:
    from registry.models import Dataset

    dataset = Dataset.objects.filter(name=name).first() or register_dataset(by=by, name=name)
    return register_dataset_version(
        dataset,
        by=by,
        file=io.BytesIO(csv_bytes(frame)),
        target_column=target_column,
        sensitive_features=list(sensitive_features),
        prediction_column=prediction_column,
        score_column=score_column,
    )


def adult_dataset(by: Any, rows: int = 400, **options: Any) -> DatasetVersion:
    return dataset_version(by, adult_rows("test", rows), **options)


@functools.cache
def _trained(estimator: str, rows: int) -> tuple[bytes, tuple[str, ...], str]:
    with tempfile.TemporaryDirectory() as tmp:
        train = Path(tmp) / "train.csv"
        test = Path(tmp) / "test.csv"
        adult_rows("train", rows).to_csv(train, index=False)
        adult_rows("test", 200).to_csv(test, index=False)
        trained = demo_model.train(train, test, Path(tmp), estimator=estimator)
        return (
            trained.path.read_bytes(),
            tuple(trained.feature_names),
            pickle.dumps(trained.parameters),
        )


def adult_model(
    by: Any,
    *,
    name: str = "adult-income",
    estimator: str = "logistic-regression",
    rows: int = 800,
    team: Any = None,
) -> ModelVersion:
    """A registered version of the demo pipeline trained on `rows` Adult rows."""
    content, features, parameters = _trained(estimator, rows)
    model = RegisteredModel.objects.filter(name=name).first()
    if model is None:
        model = register_model(
            by=by, name=name, owner_team=team or by.teams.first(), risk_tier="high"
        )
    return register_version(
        model,
        by=by,
        artifact=io.BytesIO(content),
        artifact_format="skops",
        feature_names=list(features),
        parameters=pickle.loads(parameters),
    )


def artifact_version(
    by: Any,
    content: bytes,
    artifact_format: str,
    *,
    name: str,
    features: list[str],
    team: Any = None,
    parameters: dict | None = None,
) -> ModelVersion:
    """A registered version of any artifact (xgboost, lightgbm, pickle...)."""
    model = RegisteredModel.objects.filter(name=name).first()
    if model is None:
        model = register_model(by=by, name=name, owner_team=team or by.teams.first())
    return register_version(
        model,
        by=by,
        artifact=io.BytesIO(content),
        artifact_format=artifact_format,
        feature_names=features,
        parameters=parameters or {},
    )
