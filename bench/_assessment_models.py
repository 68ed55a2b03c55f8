"""Data, models and raw library calls for bench/assessments.py. No Django here.

Every model family takes the same numeric frame: the Adult columns, with each categorical column
ordinal-encoded (missing values as their own "?" category), so XGBoost, LightGBM, scikit-learn
forests and a logistic regression are compared on identical inputs. The evaluation file keeps
`sex` and `race` as text under other names (SENSITIVE) for the fairness groups, and `income` as
the dataset's own labels, mapped onto the models' 0/1 by the version's label_encoding.

The "raw" functions are what the assessment jobs call under their plumbing: prediction plus
the report function for fairness and performance, the native exact SHAP call for
explainability. They run single-threaded (threadpoolctl), as the sandbox runs the model (its
SandboxLimits.threads is 1), so that job/raw compares plumbing and not thread counts.
"""

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance import demo_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"
# The demo's column roles: one definition of the Adult schema.
TARGET, POSITIVE, CATEGORICAL, NUMERIC = (
    demo_model.TARGET,
    demo_model.POSITIVE_LABEL,
    demo_model.CATEGORICAL,
    demo_model.NUMERIC,
)
LABEL_ENCODING = {"<=50K": 0, POSITIVE: 1}
# Text copies of the sensitive columns: the model's own `sex` and `race` are ordinal codes.
SENSITIVE = {"sex": "sex_group", "race": "race_group"}
FAMILIES = {
    "xgboost": "XGBoost XGBClassifier (booster as xgboost-json)",
    "lightgbm": "LightGBM LGBMClassifier (booster as lightgbm-text)",
    "gbm": "scikit-learn GradientBoostingClassifier (skops)",
    "rf": "scikit-learn RandomForestClassifier (skops)",
    "logistic": "scikit-learn StandardScaler + LogisticRegression pipeline (skops)",
}
# What the models' skops files need beyond skops' default trusted types.
# (skops.io.get_untrusted_types on the gbm and rf artifacts: the tree arrays' container.)
SKOPS_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


@dataclass(frozen=True)
class Adult:
    """Encoded Adult train and test frames (features in FEATURES order)."""

    features: list[str]
    X_train: pd.DataFrame
    y_train: np.ndarray
    test: pd.DataFrame  # encoded features + SENSITIVE text columns + TARGET text


def load_adult() -> Adult:
    from sklearn.preprocessing import OrdinalEncoder

    train = pd.read_csv(EXAMPLES / "adult_train.csv.gz")
    test = pd.read_csv(EXAMPLES / "adult_test.csv.gz")
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64)
    encoder.fit(train[CATEGORICAL].fillna("?").astype(str))
    features = [c for c in train.columns if c != TARGET]

    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[features].copy()
        out[CATEGORICAL] = encoder.transform(frame[CATEGORICAL].fillna("?").astype(str))
        out[NUMERIC] = out[NUMERIC].astype(np.float64)
        return out

    encoded_test = encode(test)
    for column, copy in SENSITIVE.items():
        encoded_test[copy] = test[column].astype(str)
    encoded_test[TARGET] = test[TARGET].astype(str)
    y_train = (train[TARGET].astype(str) == POSITIVE).to_numpy(dtype=np.int64)
    return Adult(features, encode(train), y_train, encoded_test)


def replicate(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """`rows` rows: the frame repeated as many times as needed, then cut."""
    if rows <= len(frame):
        return frame.iloc[:rows].reset_index(drop=True)
    times = -(-rows // len(frame))
    return pd.concat([frame] * times, ignore_index=True).iloc[:rows].reset_index(drop=True)


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path


# --- models ------------------------------------------------------------------------------------


@dataclass
class Trained:
    """One trained model: its artifact bytes and format, and an in-memory twin for raw calls."""

    family: str
    artifact: bytes
    artifact_format: str
    model: Any  # xgboost.Booster, lightgbm.Booster, or a fitted scikit-learn estimator
    description: str
    seconds: float
    test_auc: float = 0.0


def train(family: str, adult: Adult, *, trees: int, seed: int = 0) -> Trained:
    """Fit `family` on the encoded Adult train set; the artifact is what a user would upload."""
    started = time.perf_counter()
    X, y = adult.X_train, adult.y_train
    if family == "xgboost":
        import xgboost

        estimator = xgboost.XGBClassifier(
            n_estimators=trees, max_depth=6, learning_rate=0.1, random_state=seed, n_jobs=2
        )
        estimator.fit(X, y)
        booster = estimator.get_booster()
        artifact = bytes(booster.save_raw("json"))
        model: Any = xgboost.Booster(model_file=bytearray(artifact))
        fmt, description = "xgboost-json", f"{trees} trees, max_depth 6"
    elif family == "lightgbm":
        import lightgbm

        estimator = lightgbm.LGBMClassifier(
            n_estimators=trees,
            num_leaves=31,
            learning_rate=0.1,
            random_state=seed,
            n_jobs=2,
            verbose=-1,
        )
        estimator.fit(X, y)
        artifact = estimator.booster_.model_to_string().encode()
        model = lightgbm.Booster(model_str=artifact.decode())
        fmt, description = "lightgbm-text", f"{trees} trees, 31 leaves"
    elif family in ("gbm", "rf", "logistic"):
        import skops.io

        model = sklearn_estimator(family, trees, seed)
        model.fit(X, y)
        if hasattr(model, "n_jobs"):
            model.n_jobs = None  # predicts single-threaded, in the sandbox and here alike
        artifact = skops.io.dumps(model)
        fmt = "skops"
        description = {
            "gbm": f"{trees} trees, max_depth 3",
            "rf": f"{trees} trees, max_depth 8",
            "logistic": "lbfgs, standardised inputs",
        }[family]
    else:
        raise ValueError(f"unknown model family {family!r}")
    trained = Trained(family, artifact, fmt, model, description, time.perf_counter() - started)
    from sklearn.metrics import roc_auc_score

    y_test = adult.test[TARGET].map(LABEL_ENCODING).to_numpy()
    trained.test_auc = float(
        roc_auc_score(y_test, predict_proba(trained, adult.test[adult.features]))
    )
    return trained


def sklearn_estimator(family: str, trees: int, seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if family == "gbm":
        return GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=seed)
    if family == "rf":
        return RandomForestClassifier(
            n_estimators=trees, max_depth=8, min_samples_leaf=5, random_state=seed, n_jobs=2
        )
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))


# --- raw library calls ---------------------------------------------------------------------------


def single_threaded() -> Any:
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def predict_proba(trained: Trained, X: pd.DataFrame) -> np.ndarray:
    """Positive-class probability: the library's own call, as the artifact adapters make it."""
    if trained.family == "xgboost":
        import xgboost

        return trained.model.predict(xgboost.DMatrix(X, nthread=1))
    if trained.family == "lightgbm":
        return trained.model.predict(X, num_threads=1)
    return trained.model.predict_proba(X)[:, 1]


def native_shap(
    trained: Trained, X: pd.DataFrame, background: pd.DataFrame
) -> tuple[np.ndarray, str]:
    """(SHAP values, what was called): the exact method the sandbox picks for the family."""
    if trained.family == "xgboost":
        import xgboost

        values = trained.model.predict(xgboost.DMatrix(X, nthread=1), pred_contribs=True)
        return values, "Booster.predict(DMatrix, pred_contribs=True)"
    if trained.family == "lightgbm":
        values = trained.model.predict(X, pred_contrib=True, num_threads=1)
        return values, "Booster.predict(pred_contrib=True)"
    import shap

    if trained.family in ("gbm", "rf"):
        explainer = shap.TreeExplainer(trained.model, feature_perturbation="tree_path_dependent")
        values = explainer.shap_values(X, check_additivity=False)
        return np.asarray(values), "shap.TreeExplainer(tree_path_dependent).shap_values"
    scaler, final = trained.model[:-1], trained.model[-1]
    explainer = shap.LinearExplainer(final, scaler.transform(background))
    return explainer.shap_values(scaler.transform(X)), "scaler.transform + shap.LinearExplainer"


def default_shap_explainer(
    trained: Trained, X: pd.DataFrame, background: pd.DataFrame
) -> np.ndarray:
    """shap.Explainer(model, background): interventional Tree SHAP over the background rows."""
    import shap

    explainer = shap.Explainer(trained.model, background)
    return np.asarray(explainer(X, check_additivity=False).values)


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    with single_threaded():
        result = call()
    return time.perf_counter() - started, result


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
