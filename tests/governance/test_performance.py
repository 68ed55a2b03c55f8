"""Performance reports equal scikit-learn's own metrics on the real Adult test set."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from governance.assessments import results_json
from governance.assessments.inputs import AssessmentInputError
from governance.assessments.performance import performance_report

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, np.ndarray]:
    train = pd.read_csv(DATA / "adult_train.csv.gz")
    test = pd.read_csv(DATA / "adult_test.csv.gz")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[NUMERIC], (train["income"] == ">50K").astype(int))
    return test, model.predict_proba(test[NUMERIC])[:, 1]


def test_binary_metrics_equal_scikit_learn(adult: tuple[pd.DataFrame, np.ndarray]) -> None:
    test, score = adult
    result = performance_report(
        y_true=test["income"], y_score=score, task="binary", pos_label=">50K"
    )
    y = (test["income"] == ">50K").astype(int).to_numpy()
    pred = (score >= 0.5).astype(int)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, score),
        "log_loss": skm.log_loss(y, score),
        "brier_score": skm.brier_score_loss(y, score),
    }
    assert result["metrics"] == pytest.approx(expected, abs=1e-12)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert result["counts"] == {
        "true_negatives": tn,
        "false_positives": fp,
        "false_negatives": fn,
        "true_positives": tp,
        "positives": tp + fn,
        "negatives": tn + fp,
        "predicted_positives": tp + fp,
    }
    assert result["positive_rate"] == pytest.approx(y.mean(), abs=1e-12)
    assert result["predicted_positive_rate"] == pytest.approx(pred.mean(), abs=1e-12)
    assert results_json.to_bytes(result) == results_json.to_bytes(
        performance_report(y_true=test["income"], y_score=score, task="binary", pos_label=">50K")
    )


def test_threshold_decides_the_labels(adult: tuple[pd.DataFrame, np.ndarray]) -> None:
    test, score = adult
    y = (test["income"] == ">50K").astype(int)
    result = performance_report(y_true=y, y_score=score, task="binary", threshold=0.3)
    assert result["metrics"]["recall"] == pytest.approx(skm.recall_score(y, score >= 0.3))
    assert result["parameters"]["y_pred_source"] == "y_score >= 0.3"


def test_score_metrics_are_null_with_a_reason_without_probabilities(
    adult: tuple[pd.DataFrame, np.ndarray],
) -> None:
    test, score = adult
    y = (test["income"] == ">50K").astype(int)
    labels_only = performance_report(y_true=y, y_pred=(score >= 0.5).astype(int), task="binary")
    assert labels_only["metrics"]["roc_auc"] is None
    assert labels_only["null_reasons"]["log_loss"] == "no y_score given"
    margins = performance_report(y_true=y, y_score=np.log(score / (1 - score)), task="binary")
    assert margins["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score))
    assert margins["metrics"]["brier_score"] is None
    assert "probability" in margins["null_reasons"]["brier_score"]


def test_precision_without_predicted_positives_is_null_not_zero() -> None:
    result = performance_report(y_true=[0, 1, 1, 0], y_pred=[0, 0, 0, 0], task="binary")
    assert result["metrics"]["precision"] is None
    assert result["null_reasons"]["precision"] == "no predicted positives"
    assert result["metrics"]["recall"] == 0.0


def test_a_three_class_target_is_refused() -> None:
    with pytest.raises(AssessmentInputError, match="3 distinct values"):
        performance_report(y_true=[0, 1, 2, 1], y_pred=[0, 1, 1, 1], task="binary")


def test_regression_metrics_equal_scikit_learn(adult: tuple[pd.DataFrame, np.ndarray]) -> None:
    test, _ = adult
    features = test[["age", "education_num", "capital_gain"]]
    target = test["hours_per_week"]
    predicted = LinearRegression().fit(features, target).predict(features)
    result = performance_report(y_true=target, y_pred=predicted, task="regression")
    assert result["metrics"] == pytest.approx(
        {
            "mae": skm.mean_absolute_error(target, predicted),
            "rmse": skm.root_mean_squared_error(target, predicted),
            "r2": skm.r2_score(target, predicted),
        },
        abs=1e-12,
    )
    assert result["n_rows"] == len(test)


def test_regression_refuses_missing_predictions() -> None:
    with pytest.raises(AssessmentInputError, match="1 missing"):
        performance_report(y_true=[1.0, 2.0], y_pred=[1.0, np.nan], task="regression")
