"""The demo's real model: does a person earn more than $50K a year (UCI Adult), with scikit-learn.

Pure functions: CSV files in, a skops file plus its metrics and parameters out; no database.
Labels are encoded as integers (1 = ">50K", 0 = "<=50K") before training, so the stored estimator's
`classes_` are [0, 1] and "positive" is explicit rather than an accident of string sorting; the
mapping is recorded in the version's parameters (`positive_label`, `label_encoding`) so that an
assessment can map the dataset's string target onto the model's outputs.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TARGET = "income"
POSITIVE_LABEL = ">50K"
CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]
NUMERIC = [
    "age",
    "fnlwgt",
    "education_num",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
]
ESTIMATORS = ("logistic-regression", "hist-gradient-boosting")


@dataclass(frozen=True)
class TrainedModel:
    """A fitted pipeline saved with skops, and what it scored on the held-out test file."""

    path: Path
    estimator: str
    feature_names: list[str]
    train_rows: int
    test_rows: int
    metrics: dict[str, float]
    parameters: dict[str, Any]
    seconds: float


def read_frame(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Features in file order (target dropped) and the 0/1 target."""
    frame = pd.read_csv(path)
    missing = [c for c in (*CATEGORICAL, *NUMERIC, TARGET) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name} lacks the Adult columns {missing}")
    labels = frame[TARGET].astype(str).str.strip()
    unknown = sorted(set(labels) - {POSITIVE_LABEL, "<=50K"})
    if unknown:
        raise ValueError(f"{path.name} has unexpected {TARGET} labels {unknown}")
    return frame.drop(columns=TARGET), (labels == POSITIVE_LABEL).to_numpy(dtype=np.int64)


def build_pipeline(estimator: str, seed: int) -> Pipeline:
    if estimator == "logistic-regression":
        # Scaling the numeric columns lets lbfgs converge in well under a second.
        numeric: Any = StandardScaler()
        classifier: Any = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
        sparse = True
    elif estimator == "hist-gradient-boosting":
        numeric = "passthrough"
        classifier = HistGradientBoostingClassifier(random_state=seed)
        sparse = False  # HistGradientBoosting needs dense input
    else:
        raise ValueError(f"estimator must be one of {ESTIMATORS}")
    preprocess = ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=sparse),
                CATEGORICAL,
            ),
            ("numeric", numeric, NUMERIC),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def train(
    train_csv: Path,
    test_csv: Path,
    out_dir: Path,
    *,
    estimator: str = "logistic-regression",
    seed: int = 0,
    sample: int = 0,
) -> TrainedModel:
    """Fit on `train_csv` (or `sample` rows of it), score on `test_csv`, dump to `out_dir`."""
    started = time.perf_counter()
    X, y = read_frame(train_csv)
    if 0 < sample < len(X):
        rows = np.random.default_rng(seed).choice(len(X), size=sample, replace=False)
        rows.sort()
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    X_test, y_test = read_frame(test_csv)
    pipeline = build_pipeline(estimator, seed)
    pipeline.fit(X, y)
    predicted = pipeline.predict(X_test)
    scores = pipeline.predict_proba(X_test)[:, 1]
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y_test, predicted)),
        "f1": float(f1_score(y_test, predicted)),
        "roc_auc": float(roc_auc_score(y_test, scores)),
    }
    classifier = pipeline.named_steps["classifier"]
    parameters: dict[str, Any] = {
        "estimator": type(classifier).__name__,
        "pipeline": [f"{name}: {type(step).__name__}" for name, step in pipeline.steps],
        "categorical_features": CATEGORICAL,
        "numeric_features": NUMERIC,
        "target": TARGET,
        "positive_label": POSITIVE_LABEL,
        "label_encoding": {"<=50K": 0, POSITIVE_LABEL: 1},
        "seed": seed,
        "train_rows": len(X),
        "scikit_learn": sklearn.__version__,
        **{
            key: value
            for key, value in classifier.get_params().items()
            if isinstance(value, bool | int | float | str) or value is None
        },
    }
    path = out_dir / "adult-income.skops"
    skops.io.dump(pipeline, path)
    return TrainedModel(
        path=path,
        estimator=estimator,
        feature_names=[str(name) for name in pipeline.feature_names_in_],
        train_rows=len(X),
        test_rows=len(X_test),
        metrics=metrics,
        parameters=parameters,
        seconds=time.perf_counter() - started,
    )
