"""Load an artifact into one small interface: predict, and predict_proba when there are
probabilities.

`predict_proba` is defined on an adapter class only when the model has
probabilities, so callers can rely on `hasattr(model, "predict_proba")`.
"""

from __future__ import annotations

import pathlib
import pickle
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
import xgboost

from ._common import (
    JOBLIB,
    LIGHTGBM_TEXT,
    ONNX,
    SKOPS,
    XGBOOST_JSON,
    XGBOOST_UBJ,
    check_format,
    corrupt,
    describe_error,
    jsonable,
    refuse_pickle_unless_allowed,
    safe_attribute,
    str_list,
)
from .onnx_adapter import wrap_onnx
from .readers import (
    LightGBMModel,
    read_lightgbm,
    read_onnx,
    read_skops,
    read_xgboost,
    xgboost_learner_config,
    xgboost_objective,
)


class LoadedModel(Protocol):
    """What load_model returns. `predict_proba(X)` (shape (n, n_classes)) exists only when the
    model yields probabilities: test with hasattr()."""

    classes_: list[Any] | None
    feature_names: list[str] | None

    def predict(self, X: Any) -> np.ndarray: ...


def load_model(
    path: pathlib.Path, artifact_format: str, *, trusted_types: Sequence[str], allow_pickle: bool
) -> LoadedModel:
    """Load an artifact for prediction, re-applying every check that needs no size limits.

    The zip size limits are enforced by inspect_artifact at upload; here the
    skops type audit, member names, ONNX external-data refusal and LightGBM
    layout checks run again because the stored bytes are what gets loaded.
    Multi-input ONNX models are refused with code "unsupported_model".
    """
    check_format(artifact_format)
    refuse_pickle_unless_allowed(artifact_format, allow_pickle)
    if artifact_format == SKOPS:
        model = read_skops(
            path, trusted_types=trusted_types, max_uncompressed_bytes=None, max_members=None
        )
        return wrap_estimator(model.estimator)
    if artifact_format in {XGBOOST_JSON, XGBOOST_UBJ}:
        return wrap_xgboost(read_xgboost(path, artifact_format))
    if artifact_format == LIGHTGBM_TEXT:
        return wrap_lightgbm(read_lightgbm(path))
    if artifact_format == ONNX:
        return wrap_onnx(read_onnx(path))
    return wrap_estimator(_unpickle(path, artifact_format))


def _unpickle(path: pathlib.Path, artifact_format: str) -> Any:
    # Runs the file's code by design; callers run this in an isolated child process.
    try:
        if artifact_format == JOBLIB:
            import joblib

            estimator = joblib.load(path)
        else:
            with pathlib.Path(path).open("rb") as handle:
                estimator = pickle.load(handle)  # noqa: S301 - allow_pickle was checked
    except Exception as exc:
        raise corrupt(
            f"the {artifact_format} artifact could not be loaded: {describe_error(exc)}"
        ) from exc
    if not callable(getattr(estimator, "predict", None)):
        raise corrupt(
            f"the {artifact_format} artifact holds a {type(estimator).__name__}, "
            "which has no predict method"
        )
    return estimator


# --- scikit-learn style estimators (skops, pickle, joblib) ----------------------------------


class EstimatorModel:
    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        classes = safe_attribute(estimator, "classes_")
        self.classes_: list[Any] | None = None if classes is None else jsonable(list(classes))
        self.feature_names: list[str] | None = str_list(
            safe_attribute(estimator, "feature_names_in_")
        )

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict(X))


class ProbabilisticEstimatorModel(EstimatorModel):
    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(X))


def wrap_estimator(estimator: Any) -> EstimatorModel:
    if hasattr(estimator, "predict_proba"):
        return ProbabilisticEstimatorModel(estimator)
    return EstimatorModel(estimator)


# --- xgboost ---------------------------------------------------------------------------------

_XGB_PROBABILITY = {"binary:logistic", "binary:logitraw", "multi:softprob"}
_XGB_LABELS = {"binary:hinge", "multi:softmax"}


class XGBoostModel:
    def __init__(self, booster: xgboost.Booster) -> None:
        self.booster = booster
        self.objective = xgboost_objective(booster)
        self.feature_names: list[str] | None = str_list(booster.feature_names)
        self.classes_: list[Any] | None = None
        if self.objective.startswith("binary:"):
            self.classes_ = [0, 1]
        elif self.objective.startswith("multi:"):
            params = xgboost_learner_config(booster).get("learner_model_param", {})
            self.classes_ = list(range(int(params.get("num_class", 0))))

    def _raw(self, X: Any) -> np.ndarray:
        names = self.feature_names
        if isinstance(X, pd.DataFrame):
            if names and set(names) <= set(X.columns):
                X = X[names]
            matrix = xgboost.DMatrix(X, enable_categorical=True)
        else:
            matrix = xgboost.DMatrix(np.asarray(X), feature_names=names)
        return np.asarray(self.booster.predict(matrix))

    def predict(self, X: Any) -> np.ndarray:
        raw = self._raw(X)
        if self.objective == "binary:logistic":
            return (raw >= 0.5).astype(int)
        if self.objective == "binary:logitraw":
            return (raw >= 0.0).astype(int)
        if self.objective == "multi:softprob":
            return raw.argmax(axis=1)
        if self.objective in _XGB_LABELS:
            return raw.astype(int)
        return raw


class ProbabilisticXGBoostModel(XGBoostModel):
    def predict_proba(self, X: Any) -> np.ndarray:
        raw = self._raw(X)
        if self.objective == "multi:softprob":
            return raw
        positive = raw if self.objective == "binary:logistic" else 1.0 / (1.0 + np.exp(-raw))
        return np.column_stack([1.0 - positive, positive])


def wrap_xgboost(booster: xgboost.Booster) -> XGBoostModel:
    if xgboost_objective(booster) in _XGB_PROBABILITY:
        return ProbabilisticXGBoostModel(booster)
    return XGBoostModel(booster)


# --- lightgbm --------------------------------------------------------------------------------

_LGB_BINARY = {"binary"}
_LGB_MULTICLASS = {"multiclass", "multiclassova"}


class LightGBMBoosterModel:
    def __init__(self, model: LightGBMModel) -> None:
        self.booster = model.booster
        self.objective = model.header.objective
        self.feature_names: list[str] | None = str_list(model.booster.feature_name())
        self.classes_: list[Any] | None = None
        if self.objective in _LGB_BINARY:
            self.classes_ = [0, 1]
        elif self.objective in _LGB_MULTICLASS:
            self.classes_ = list(range(model.header.num_class))

    def _raw(self, X: Any) -> np.ndarray:
        return np.asarray(self.booster.predict(X))

    def predict(self, X: Any) -> np.ndarray:
        raw = self._raw(X)
        if self.objective in _LGB_BINARY:
            return (raw >= 0.5).astype(int)
        if self.objective in _LGB_MULTICLASS:
            return raw.argmax(axis=1)
        return raw


class ProbabilisticLightGBMModel(LightGBMBoosterModel):
    def predict_proba(self, X: Any) -> np.ndarray:
        raw = self._raw(X)
        if self.objective in _LGB_BINARY:
            return np.column_stack([1.0 - raw, raw])
        return raw


def wrap_lightgbm(model: LightGBMModel) -> LightGBMBoosterModel:
    if model.header.objective in _LGB_BINARY | _LGB_MULTICLASS:
        return ProbabilisticLightGBMModel(model)
    return LightGBMBoosterModel(model)
