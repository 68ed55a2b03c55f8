"""Predictive performance of a model on an evaluation dataset, with scikit-learn's metrics.

Pure: arrays in, a JSON-ready dict out (encode it with `results_json.dumps`).

Binary: y_true and y_pred are mapped to 0/1 with `binarize` (1 = pos_label); without y_pred,
y_pred = (y_score >= threshold). Reported: accuracy, precision, recall, f1 (from y_pred);
roc_auc (any score that orders rows: probability or margin); log_loss and brier_score (need
probabilities of the positive class in [0, 1]); the confusion counts and positive rates.
Regression: mae, rmse, r2.

A metric that cannot be computed is null with its reason under "null_reasons", never 0: a
precision of 0 because nothing was predicted positive would read as a terrible model.
"""

from collections.abc import Hashable
from typing import Any, Literal

import numpy as np
import sklearn.metrics as skm

from governance.assessments.inputs import (
    AssessmentInputError,
    as_1d,
    binary_predictions,
    check_lengths,
)

BINARY_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "brier_score",
)
REGRESSION_METRICS = ("mae", "rmse", "r2")


def performance_report(
    *,
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    task: Literal["binary", "regression"],
    threshold: float = 0.5,
    pos_label: Hashable = 1,
) -> dict[str, Any]:
    """Performance metrics for `task`; see the module docstring for inputs and names."""
    if task == "binary":
        return _binary(y_true, y_pred, y_score, threshold, pos_label)
    if task == "regression":
        return _regression(y_true, y_pred, y_score)
    raise AssessmentInputError(f"task must be 'binary' or 'regression', got {task!r}")


def _binary(
    y_true: Any, y_pred: Any, y_score: Any, threshold: float, pos_label: Hashable
) -> dict[str, Any]:
    truth, pred, scores, source = binary_predictions(
        y_true=y_true, y_pred=y_pred, y_score=y_score, threshold=threshold, pos_label=pos_label
    )
    tn, fp, fn, tp = (int(v) for v in skm.confusion_matrix(truth, pred, labels=[0, 1]).ravel())
    n = len(truth)
    values: dict[str, float | None] = {
        "accuracy": float(skm.accuracy_score(truth, pred)),
        # zero_division=nan: an undefined precision/recall/F1 is unknown, not 0.
        "precision": _finite(skm.precision_score(truth, pred, zero_division=np.nan)),
        "recall": _finite(skm.recall_score(truth, pred, zero_division=np.nan)),
        "f1": _finite(skm.f1_score(truth, pred, zero_division=np.nan)),
    }
    reasons: dict[str, str] = {}
    if values["precision"] is None:
        reasons["precision"] = "no predicted positives"
    if values["recall"] is None:
        reasons["recall"] = "no actual positives (y_true = 1)"
    if values["f1"] is None:
        reasons["f1"] = "no actual and no predicted positives"
    both_classes = 0 < tp + fn < n
    probabilities = scores is not None and bool(np.all((scores >= 0.0) & (scores <= 1.0)))
    if scores is None:
        for metric in ("roc_auc", "log_loss", "brier_score"):
            values[metric] = None
            reasons[metric] = "no y_score given"
    else:
        values["roc_auc"] = float(skm.roc_auc_score(truth, scores)) if both_classes else None
        if not both_classes:
            reasons["roc_auc"] = "y_true has only one class"
        if probabilities:
            values["log_loss"] = float(skm.log_loss(truth, scores, labels=[0, 1]))
            values["brier_score"] = float(skm.brier_score_loss(truth, scores, labels=[0, 1]))
        else:
            for metric in ("log_loss", "brier_score"):
                values[metric] = None
                reasons[metric] = "y_score is not a probability in [0, 1]"
    return {
        "kind": "performance",
        "schema_version": 1,
        "task": "binary",
        "parameters": {
            "threshold": float(threshold),
            "pos_label": pos_label.item() if isinstance(pos_label, np.generic) else pos_label,
            "y_pred_source": source,
            "has_scores": scores is not None,
        },
        "n_rows": n,
        "counts": {
            "true_negatives": tn,
            "false_positives": fp,
            "false_negatives": fn,
            "true_positives": tp,
            "positives": tp + fn,
            "negatives": tn + fp,
            "predicted_positives": tp + fp,
        },
        "positive_rate": (tp + fn) / n,
        "predicted_positive_rate": (tp + fp) / n,
        "metrics": values,
        "null_reasons": reasons,
    }


def _regression(y_true: Any, y_pred: Any, y_score: Any) -> dict[str, Any]:
    if y_score is not None:
        raise AssessmentInputError("y_score is for classifiers; give y_pred for regression")
    truth = as_1d(y_true, "y_true", numeric=True).astype(np.float64)
    pred = as_1d(y_pred, "y_pred", numeric=True).astype(np.float64)
    check_lengths(y_true=truth, y_pred=pred)
    reasons: dict[str, str] = {}
    # force_finite=False: with a constant y_true R² is undefined; sklearn would say 0 or 1.
    r2 = _finite(skm.r2_score(truth, pred, force_finite=False)) if len(truth) > 1 else None
    if r2 is None:
        reasons["r2"] = "y_true is constant (or has one row), so R² is undefined"
    return {
        "kind": "performance",
        "schema_version": 1,
        "task": "regression",
        "parameters": {},
        "n_rows": len(truth),
        "mean_target": float(truth.mean()),
        "mean_prediction": float(pred.mean()),
        "metrics": {
            "mae": float(skm.mean_absolute_error(truth, pred)),
            "rmse": float(skm.root_mean_squared_error(truth, pred)),
            "r2": r2,
        },
        "null_reasons": reasons,
    }


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
