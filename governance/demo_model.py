"""The demo's real model: does a person earn more than $50K a year (UCI Adult), with scikit-learn.

Pure functions: CSV files in, a skops file plus its metrics and parameters out; no database.
Labels are encoded as integers (1 = ">50K", 0 = "<=50K") before training, so the stored estimator's
`classes_` are [0, 1] and "positive" is explicit rather than an accident of string sorting; the
mapping is recorded in the version's parameters (`positive_label`, `label_encoding`) so that an
assessment can map the dataset's string target onto the model's outputs.

`train` fits the plain pipeline (the demo's version 1). `train_mitigated` fits its
fairness-mitigated counterpart (version 2) with Fairlearn's reductions approach and keeps one plain
scikit-learn pipeline out of it, so the artifact holds no Fairlearn class and loads with skops'
default trusted types, like version 1.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fairlearn
import numpy as np
import pandas as pd
import sklearn
import skops.io
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient
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
SENSITIVE_FEATURE = "sex"
# constraint -> (Fairlearn moment, the Fairlearn metric it bounds)
CONSTRAINTS: dict[str, tuple[Any, Any]] = {
    "demographic-parity": (DemographicParity, demographic_parity_difference),
    "equalized-odds": (EqualizedOdds, equalized_odds_difference),
}


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


def build_pipeline(estimator: str, seed: int, exclude: tuple[str, ...] = ()) -> Pipeline:
    """The preprocessing and classifier; columns in `exclude` are dropped (not model inputs)."""
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
                [c for c in CATEGORICAL if c not in exclude],
            ),
            ("numeric", numeric, [c for c in NUMERIC if c not in exclude]),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def _training_frame(train_csv: Path, seed: int, sample: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The training features and target, or `sample` random rows of them (in file order)."""
    X, y = read_frame(train_csv)
    if 0 < sample < len(X):
        rows = np.random.default_rng(seed).choice(len(X), size=sample, replace=False)
        rows.sort()
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    return X, y


def _held_out_metrics(
    pipeline: Pipeline, X_test: pd.DataFrame, y_test: np.ndarray
) -> dict[str, float]:
    predicted = pipeline.predict(X_test)
    scores = pipeline.predict_proba(X_test)[:, 1]
    return {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y_test, predicted)),
        "f1": float(f1_score(y_test, predicted)),
        "roc_auc": float(roc_auc_score(y_test, scores)),
    }


def _parameters(pipeline: Pipeline, seed: int, train_rows: int) -> dict[str, Any]:
    classifier = pipeline.named_steps["classifier"]
    return {
        "estimator": type(classifier).__name__,
        "pipeline": [f"{name}: {type(step).__name__}" for name, step in pipeline.steps],
        "categorical_features": CATEGORICAL,
        "numeric_features": NUMERIC,
        "target": TARGET,
        "positive_label": POSITIVE_LABEL,
        "label_encoding": {"<=50K": 0, POSITIVE_LABEL: 1},
        "seed": seed,
        "train_rows": train_rows,
        "scikit_learn": sklearn.__version__,
        **{
            key: value
            for key, value in classifier.get_params().items()
            if isinstance(value, bool | int | float | str) or value is None
        },
    }


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
    X, y = _training_frame(train_csv, seed, sample)
    X_test, y_test = read_frame(test_csv)
    pipeline = build_pipeline(estimator, seed)
    pipeline.fit(X, y)
    metrics = _held_out_metrics(pipeline, X_test, y_test)
    parameters = _parameters(pipeline, seed, len(X))
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


def train_mitigated(
    train_csv: Path,
    test_csv: Path,
    out_dir: Path,
    *,
    constraint: str = "demographic-parity",
    eps: float = 0.01,
    max_iter: int = 50,
    seed: int = 0,
    sample: int = 0,
    drop_sensitive: bool = True,
) -> TrainedModel:
    """`train`'s logistic-regression pipeline, mitigated for `constraint` across SENSITIVE_FEATURE.

    Fairlearn's ExponentiatedGradient (Agarwal et al., 2018) refits the whole pipeline on
    reweighted and relabelled rows until the randomized mixture of the fits satisfies the
    constraint within `eps` on the training rows. A randomized classifier is no scikit-learn
    estimator, so the deterministic fit with the largest mixture weight is kept: a plain Pipeline
    with `predict_proba`, `classes_` [0, 1] and the same input columns as `train`'s. With
    `drop_sensitive` (the default) the pipeline ignores the sensitive column, so no attribution
    can rest on it; the mitigation still uses it while training. Only the mixture carries the guarantee, so the kept fit's own training-set disparity
    is recorded in parameters["mitigation"]. It is dumped to `out_dir` as
    "adult-income-mitigated.skops", so it does not overwrite `train`'s file in the same directory.
    """
    if constraint not in CONSTRAINTS:
        raise ValueError(f"constraint must be one of {tuple(CONSTRAINTS)}")
    moment, bounded_metric = CONSTRAINTS[constraint]
    started = time.perf_counter()
    X, y = _training_frame(train_csv, seed, sample)
    X_test, y_test = read_frame(test_csv)
    mitigator = ExponentiatedGradient(
        build_pipeline(
            "logistic-regression", seed, exclude=(SENSITIVE_FEATURE,) if drop_sensitive else ()
        ),
        moment(),
        eps=eps,
        max_iter=max_iter,
        sample_weight_name="classifier__sample_weight",
    )
    mitigator.fit(X, y, sensitive_features=X[SENSITIVE_FEATURE])
    weights = mitigator.weights_.to_numpy()
    kept = int(np.argmax(weights))  # first of equal weights: deterministic
    pipeline: Pipeline = mitigator.predictors_.iloc[kept]
    metrics = _held_out_metrics(pipeline, X_test, y_test)
    parameters = _parameters(pipeline, seed, len(X))
    parameters["mitigation"] = {
        "method": "fairlearn.reductions.ExponentiatedGradient",
        "constraint": moment.__name__,
        "sensitive_feature": SENSITIVE_FEATURE,
        "sensitive_feature_is_input": not drop_sensitive,
        "eps": float(eps),
        "max_iter": int(max_iter),
        "sample_weight_name": "classifier__sample_weight",
        "predictors": len(weights),
        "predictors_with_weight": int((weights > 0).sum()),
        "kept_predictor": kept,
        "kept_predictor_weight": float(weights[kept]),
        "oracle_calls": int(mitigator.n_oracle_calls_),
        "best_gap": float(mitigator.best_gap_),
        "kept": "the deterministic predictor with the largest weight in the randomized mixture",
        # The constraint's metric of the kept predictor on the training rows it was fitted to.
        f"train_{bounded_metric.__name__}": float(
            bounded_metric(y, pipeline.predict(X), sensitive_features=X[SENSITIVE_FEATURE])
        ),
        "fairlearn": fairlearn.__version__,
    }
    path = out_dir / "adult-income-mitigated.skops"
    skops.io.dump(pipeline, path)
    return TrainedModel(
        path=path,
        estimator="logistic-regression",
        feature_names=[str(name) for name in pipeline.feature_names_in_],
        train_rows=len(X),
        test_rows=len(X_test),
        metrics=metrics,
        parameters=parameters,
        seconds=time.perf_counter() - started,
    )
