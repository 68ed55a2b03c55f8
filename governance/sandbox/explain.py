"""SHAP values of one model on one table of rows, computed in the sandbox child (`explain`).

The fastest exact method each model family has is used, and `method` in the result says which:

- XGBoost booster (artifact, or an XGBModel estimator): `predict(pred_contribs=True)`, exact
  Tree SHAP with path-dependent expectations, in margin space; the last column is the bias.
- LightGBM booster (artifact, or an LGBMModel estimator): `predict(pred_contrib=True)`, likewise,
  in raw-score space.
- scikit-learn trees (decision tree, random forest, extra trees, gradient boosting, and
  histogram gradient boosting without native categorical splits, which shap's conversion does
  not model): `shap.TreeExplainer(feature_perturbation="tree_path_dependent")`, exact, no
  background. Random forests, extra trees and decision trees are explained in probability space
  (their trees hold class frequencies), gradient boosting in margin (log-odds) space.
- Linear models (scikit-learn's LinearModel and LinearClassifierMixin): closed form
  `coef * (x - mean(background))`, base `coef @ mean + intercept`, in margin space. This is what
  `shap.LinearExplainer` computes with its default (interventional) masker, without its per-call
  overhead; unlike LinearExplainer the mean is over the whole background, never a 100-row sample.
- Anything else (ONNX, other estimators, pickles): `shap.PermutationExplainer` over the
  background sample, explaining the positive-class probability (else the decision function, else
  the prediction), with `max_evals` from params (at least 2k + 1, one antithetic permutation).
  Approximate, so `exact` is false. Each row is seeded from `seed` and the row's own bytes, so
  the values do not depend on how rows are split into chunks.

A scikit-learn Pipeline is explained at its final estimator, on the rows transformed by the
steps before it; each encoded feature is traced back to the input column it comes from through
ColumnTransformer, OneHotEncoder (by category counts, never by splitting names), one-to-one
transformers and SimpleImputer. Features that cannot be traced are their own source and are
listed under method["unmapped_features"].

Binary classifiers are explained for classes_[1]; multiclass models are refused for now.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from governance.sandbox import child
from governance.sandbox.child import Job, Outcome, describe
from governance.sandbox.feature_sources import trace_sources

# Objectives whose margin is the prediction itself: their regressors are explained "raw".
XGBOOST_IDENTITY = {"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:linear"}
XGBOOST_IDENTITY |= {"reg:quantileerror"}
LIGHTGBM_IDENTITY = {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}
LIGHTGBM_MULTICLASS = {"multiclass", "multiclassova"}


@dataclass
class Rows:
    """The explained model's input, and how its columns relate to the caller's table."""

    matrix: Any  # ndarray or DataFrame, exactly what the explained model is given
    background: Any  # the same for the background rows, or None
    feature_names: list[str]
    source_columns: list[str]
    unmapped: list[str]


@dataclass
class Explained:
    values: np.ndarray
    base_values: np.ndarray
    model_output: np.ndarray
    method: dict[str, Any]


def explain(job: Job) -> Outcome:
    """Load the artifact with the deployment's safety settings and explain `features`."""
    from registry.artifacts import load_model

    job.stage("reading the features")
    features = job.read_table("features")
    background = job.read_table("background") if "background" in job.inputs else None
    for name, table in (("features", features), ("background", background)):
        if table is not None and not isinstance(table, pd.DataFrame):
            raise refusal(f"{name} must be a table with named columns")
    job.stage("loading the model")
    model = load_model(
        job.input("artifact"),
        job.params["artifact_format"],
        trusted_types=job.params["trusted_types"],
        allow_pickle=job.params["allow_pickle"],
    )
    explained, rows = _explain_model(job, model, features, background)
    method = dict(explained.method)
    if rows.unmapped:
        method["unmapped_features"] = rows.unmapped
    return Outcome(
        arrays={
            "values": explained.values,
            "base_values": explained.base_values,
            "model_output": explained.model_output,
            "data": float_matrix(rows.matrix),
        },
        data={
            "feature_names": rows.feature_names,
            "source_columns": rows.source_columns,
            "method": method,
            "rows": len(features),
        },
    )


def _explain_model(
    job: Job, model: Any, features: pd.DataFrame, background: pd.DataFrame | None
) -> tuple[Explained, Rows]:
    from registry.artifacts.loading import EstimatorModel, LightGBMBoosterModel, XGBoostModel

    job.stage("transforming features")
    if isinstance(model, XGBoostModel):
        rows = _booster_rows(features, model.feature_names, model.booster.num_features())
        return _xgboost(job, model.booster, rows, model.objective), rows
    if isinstance(model, LightGBMBoosterModel):
        rows = _booster_rows(features, model.feature_names, model.booster.num_feature())
        return _lightgbm(job, model.booster, rows, model.objective), rows
    if isinstance(model, EstimatorModel):
        final, rows = _estimator_rows(model.estimator, features, background)
        return _explain_estimator(job, final, rows, job.params), rows
    # ONNX, or any other adapter: a numeric matrix in, predict/predict_proba out, no names.
    names = [str(c) for c in features.columns]
    tables = [features, None if background is None else _select(background, names, "background")]
    matrix, bg = (
        None if table is None else _model_call("reading the features", table.to_numpy, np.float64)
        for table in tables
    )
    family = "onnx" if type(model).__name__ == "OnnxSessionModel" else "other"
    rows = Rows(matrix, bg, names, names, [])
    return _permutation(job, model, rows, job.params, family), rows


# --- rows ----------------------------------------------------------------------------------


def _select(frame: pd.DataFrame, names: list[str], what: str) -> pd.DataFrame:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise refusal(f"the {what} lack column(s) the model needs: {', '.join(missing)}")
    return frame[names]


def _booster_rows(features: pd.DataFrame, names: list[str] | None, width: int) -> Rows:
    """A booster's features by name, or by position when it was trained without names (LightGBM
    then calls them Column_0, ...): the artifact adapters do the same."""
    if names and any(name in features.columns for name in names):
        matrix = _select(features, names, "features")
    elif features.shape[1] == width:
        matrix, names = features, [str(c) for c in features.columns]
    else:
        raise refusal(
            f"the model takes {width} features and the table has {features.shape[1]} columns"
        )
    return Rows(matrix, None, list(names), list(names), [])


def _estimator_rows(
    estimator: Any, features: pd.DataFrame, background: pd.DataFrame | None
) -> tuple[Any, Rows]:
    """(final estimator, its input rows): a Pipeline's leading steps are applied here."""
    from sklearn.pipeline import Pipeline

    names_in = getattr(estimator, "feature_names_in_", None)
    if names_in is not None:
        inputs = [str(n) for n in names_in]
        features = _select(features, inputs, "features")
        background = None if background is None else _select(background, inputs, "background")
    else:
        inputs = [str(c) for c in features.columns]
        expected = getattr(estimator, "n_features_in_", len(inputs))
        if expected != len(inputs):
            raise refusal(
                f"the model takes {expected} features and the table has {len(inputs)} columns"
            )
    if isinstance(estimator, Pipeline) and len(estimator) == 1:
        estimator = estimator[0]
    if not isinstance(estimator, Pipeline):
        return estimator, Rows(features, background, inputs, inputs, [])
    steps, final = estimator[:-1], estimator[-1]
    matrix = _model_call("transforming the features", lambda: _dense(steps.transform(features)))
    bg = None
    if background is not None:
        bg = _model_call("transforming the background", lambda: _dense(steps.transform(background)))
    width = matrix.shape[1]
    try:
        names = [str(n) for n in steps.get_feature_names_out()]
    except Exception:  # a custom step without feature names: positions will do
        names = []
    if len(names) != width:
        names = [f"x{i}" for i in range(width)]
    names = unique_names(names)
    traced = trace_sources(steps, inputs, width)
    sources = [source or name for source, name in zip(traced, names, strict=True)]
    unmapped = [name for source, name in zip(traced, names, strict=True) if source is None]
    return final, Rows(matrix, bg, names, sources, unmapped)


def unique_names(names: list[str]) -> list[str]:
    """One-hot names can collide (column "a" value "b_c", column "a_b" value "c": both "a_b_c"),
    and the report keys values by name: later repeats get "#2", "#3"..."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return unique if len(set(unique)) == len(unique) else [f"x{i}" for i in range(len(names))]


def _dense(matrix: Any) -> Any:
    # The parent sends bounded chunks, so a dense copy of a sparse one-hot matrix is affordable.
    if hasattr(matrix, "toarray"):
        return matrix.toarray()
    return matrix


def float_matrix(matrix: Any) -> np.ndarray:
    """The explained features as float64, NaN where a column is not numeric (categories)."""
    if isinstance(matrix, pd.DataFrame):
        columns = [
            matrix[c].to_numpy(dtype=np.float64, na_value=np.nan)
            if pd.api.types.is_numeric_dtype(matrix[c]) or pd.api.types.is_bool_dtype(matrix[c])
            else np.full(len(matrix), np.nan)
            for c in matrix.columns
        ]
        return np.column_stack(columns) if columns else np.empty((len(matrix), 0))
    array = np.asarray(matrix)
    if array.dtype.kind in "biuf":
        return array.astype(np.float64)
    return float_matrix(pd.DataFrame(array).infer_objects())


# --- explaining each family ------------------------------------------------------------------


def _xgboost(job: Job, booster: Any, rows: Rows, objective: str, positive: Any = 1) -> Explained:
    import xgboost

    if objective.startswith("multi:"):
        raise _multiclass()
    matrix, names = rows.matrix, booster.feature_names
    if isinstance(matrix, pd.DataFrame) and names and list(matrix.columns) == names:
        dmatrix = _model_call(
            "reading the features", lambda: xgboost.DMatrix(matrix, enable_categorical=True)
        )
    else:  # by position, as the artifact adapter does for a booster trained without names
        dmatrix = _model_call(
            "reading the features",
            lambda: xgboost.DMatrix(np.asarray(matrix), feature_names=names),
        )
    job.stage("computing the model's output")
    output = _model_call("predicting", lambda: booster.predict(dmatrix, output_margin=True))
    job.stage("computing SHAP values")
    contributions = _model_call("explaining", lambda: booster.predict(dmatrix, pred_contribs=True))
    classifier = objective.startswith("binary:")
    method = _method(
        "xgboost.Booster.predict(pred_contribs=True)",
        "xgboost",
        "margin" if classifier or objective not in XGBOOST_IDENTITY else "raw",
        positive if classifier else None,
    )
    if _xgboost_linear(booster):
        method["note"] = "gblinear: each contribution is coefficient * value, against zero"
    return _split_bias(contributions, output, method)


def _xgboost_linear(booster: Any) -> bool:
    from registry.artifacts.readers import xgboost_learner_config

    try:
        config = xgboost_learner_config(booster)
        return config.get("gradient_booster", {}).get("name") == "gblinear"
    except Exception:  # provenance only: never fail an explanation over a note
        return False


def _lightgbm(job: Job, booster: Any, rows: Rows, objective: str, positive: Any = 1) -> Explained:
    if objective in LIGHTGBM_MULTICLASS:
        raise _multiclass()
    job.stage("computing the model's output")
    output = _model_call("predicting", lambda: booster.predict(rows.matrix, raw_score=True))
    job.stage("computing SHAP values")
    contributions = _model_call(
        "explaining", lambda: booster.predict(rows.matrix, pred_contrib=True)
    )
    classifier = objective in {"binary", "cross_entropy", "xentropy"}
    method = _method(
        "lightgbm.Booster.predict(pred_contrib=True)",
        "lightgbm",
        "margin" if classifier or objective not in LIGHTGBM_IDENTITY else "raw",
        positive if objective == "binary" else None,
    )
    return _split_bias(contributions, output, method)


def _split_bias(contributions: Any, output: Any, method: dict[str, Any]) -> Explained:
    contributions = np.asarray(contributions, dtype=np.float64)
    if contributions.ndim != 2:
        raise _multiclass()
    return Explained(
        values=contributions[:, :-1],
        base_values=contributions[:, -1],
        model_output=np.asarray(output, dtype=np.float64).reshape(-1),
        method=method,
    )


def _explain_estimator(job: Job, final: Any, rows: Rows, params: dict[str, Any]) -> Explained:
    classes = getattr(final, "classes_", None)
    if classes is not None and len(classes) > 2:
        raise _multiclass()
    booster = _native_booster(final)
    if booster is not None:
        library, objective = booster
        positive = _positive_class(final)
        if library == "xgboost":
            return _xgboost(job, final.get_booster(), rows, objective, positive)
        return _lightgbm(job, final.booster_, rows, objective, positive)
    if _is_linear(final):
        return _linear(job, final, rows)
    tree = _tree_explainer(final)
    if isinstance(tree, str):
        return _permutation(job, final, rows, params, "other", fallback_reason=tree or None)
    return _tree(job, final, tree, rows)


def _native_booster(final: Any) -> tuple[str, str] | None:
    """An XGBoost or LightGBM scikit-learn wrapper, explained through its booster."""
    module = type(final).__module__.split(".")[0]
    if module == "xgboost" and hasattr(final, "get_booster"):
        from registry.artifacts.readers import xgboost_objective

        return "xgboost", xgboost_objective(final.get_booster())
    if module == "lightgbm" and hasattr(final, "booster_"):
        return "lightgbm", str(final.booster_.params.get("objective", final.objective_))
    return None


def _is_linear(final: Any) -> bool:
    try:
        from sklearn.linear_model._base import LinearClassifierMixin, LinearModel
    except ImportError:  # moved in a future scikit-learn: the permutation path still works
        return False
    return isinstance(final, LinearClassifierMixin | LinearModel) and hasattr(final, "coef_")


def _linear(job: Job, final: Any, rows: Rows) -> Explained:
    from sklearn.base import is_classifier

    if rows.background is None:
        raise refusal("explaining a linear model needs a background sample of rows")
    classifier = is_classifier(final)
    job.stage("computing the model's output")
    score = final.decision_function if classifier else final.predict
    output = _model_call("predicting", lambda: np.asarray(score(rows.matrix), dtype=np.float64))
    coef = final.coef_
    coef = np.asarray(coef.toarray() if hasattr(coef, "toarray") else coef, dtype=np.float64)
    if coef.ndim == 2 and coef.shape[0] != 1:
        raise refusal("the model has several outputs; only single-output models are explained")
    coef = coef.reshape(-1)
    intercept = float(np.ravel(final.intercept_)[0])  # 0.0 when fit without an intercept
    job.stage("computing SHAP values")
    mean = np.asarray(rows.background, dtype=np.float64).mean(axis=0)
    values = (np.asarray(rows.matrix, dtype=np.float64) - mean) * coef
    base = float(np.dot(coef, mean) + intercept)
    method = _method(
        "linear closed form, identical to shap.LinearExplainer (interventional)",
        "linear",
        "margin" if classifier else "raw",
        _positive_class(final),
        background_rows=len(rows.background),
    )
    return Explained(values, np.full(len(values), base), output.reshape(-1), method)


def _tree_explainer(final: Any) -> Any:
    """shap's TreeExplainer for a supported scikit-learn tree model, or why not ("" if the model
    is simply not a tree model)."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    supported = (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
        DecisionTreeClassifier,
        DecisionTreeRegressor,
    )
    if not isinstance(final, supported):
        return ""
    categorical = getattr(final, "is_categorical_", None)
    if categorical is not None and np.any(categorical):
        return "shap's TreeExplainer does not model native categorical splits"
    import shap

    try:
        return shap.TreeExplainer(final, feature_perturbation="tree_path_dependent")
    except Exception as exc:  # e.g. a gradient boosting init estimator shap cannot read
        return f"shap's TreeExplainer refused the model: {describe(exc)}"


def _tree(job: Job, final: Any, explainer: Any, rows: Rows) -> Explained:
    from sklearn.base import is_classifier

    classifier = is_classifier(final)
    probability = explainer.model.tree_output == "probability"
    job.stage("computing the model's output")
    if classifier and probability:
        output = _model_call("predicting", lambda: final.predict_proba(rows.matrix)[:, 1])
    elif classifier:
        output = _model_call("predicting", lambda: final.decision_function(rows.matrix))
    else:
        output = _model_call("predicting", lambda: final.predict(rows.matrix))
    job.stage("computing SHAP values")
    # shap's own additivity check raises; the report states the error against a tolerance.
    values = np.asarray(explainer.shap_values(rows.matrix, check_additivity=False), np.float64)
    expected = np.ravel(np.asarray(explainer.expected_value, dtype=np.float64))
    if values.ndim == 3:  # one slice per class: the positive class
        values, expected = values[:, :, -1], expected[-1:]
    method = _method(
        "shap.TreeExplainer(feature_perturbation='tree_path_dependent')",
        "sklearn-tree",
        ("probability" if probability else "margin") if classifier else "raw",
        _positive_class(final),
    )
    base = np.full(len(values), float(expected[0]))
    return Explained(values, base, np.asarray(output, np.float64).reshape(-1), method)


def _permutation(
    job: Job,
    model: Any,
    rows: Rows,
    params: dict[str, Any],
    family: str,
    fallback_reason: str | None = None,
) -> Explained:
    import shap

    if rows.background is None:
        raise refusal(
            "this model is explained by permutation, which needs a background sample of rows"
        )
    function, space = _output_function(model)
    encoding = _Encoding(rows.matrix, rows.background)
    job.stage("computing the model's output")
    output = _model_call("predicting", lambda: function(rows.matrix))
    if output.ndim != 1 or len(output) != len(encoding.rows):
        raise _multiclass()
    width = encoding.rows.shape[1]
    budget = max(2 * width + 1, int(params.get("max_evals") or 0))
    seed = int(params.get("seed", 0))
    masker = shap.maskers.Independent(encoding.background, max_samples=len(encoding.background))
    explainer = shap.PermutationExplainer(lambda z: function(encoding.decode(z)), masker, seed=seed)
    job.stage("computing SHAP values")
    values = np.zeros(encoding.rows.shape)
    base = np.zeros(len(values))
    for i, row in enumerate(encoding.rows):
        # shap draws permutations from numpy's global generator.
        np.random.seed(row_seed(seed, encoding.keys[i]))
        explanation = _model_call(
            "explaining", lambda row=row: explainer(row[None, :], max_evals=budget, silent=True)
        )
        values[i], base[i] = explanation.values[0], explanation.base_values[0]
    method = _method(
        "shap.PermutationExplainer",
        family,
        space,
        _positive_class(model) if space == "probability" else None,
        exact=False,
        background_rows=len(encoding.background),
        max_evals=budget,
    )
    if fallback_reason:
        method["fallback_reason"] = fallback_reason
    return Explained(values, base, output, method)


def row_seed(seed: int, key: bytes) -> int:
    """A row's own seed (from its key, see _Encoding): the same in whatever chunk the row is."""
    return zlib.crc32(key, seed & 0xFFFFFFFF)


def _output_function(model: Any) -> tuple[Callable[[Any], np.ndarray], str]:
    """The explained output: positive-class probability, else margin, else prediction."""
    if hasattr(model, "predict_proba"):

        def probability(x: Any) -> np.ndarray:
            proba = np.asarray(model.predict_proba(x), dtype=np.float64)
            if proba.ndim != 2 or proba.shape[1] != 2:
                raise _multiclass()
            return proba[:, 1]

        return probability, "probability"
    if hasattr(model, "decision_function") and getattr(model, "classes_", None) is not None:
        return lambda x: np.asarray(model.decision_function(x), np.float64), "margin"

    def prediction(x: Any) -> np.ndarray:
        predicted = np.asarray(model.predict(x), dtype=np.float64)
        if predicted.ndim == 2 and predicted.shape[1] == 1:  # ONNX regressors: (n, 1)
            predicted = predicted[:, 0]
        if predicted.ndim != 1:
            raise refusal("the model has several outputs; only single-output models are explained")
        return predicted

    return prediction, "raw"


class _Encoding:
    """shap's masker works on float matrices: non-numeric columns become codes into their
    distinct values, decoded back into a table of the original types before each model call."""

    def __init__(self, rows: Any, background: Any) -> None:
        self.frame = isinstance(rows, pd.DataFrame)
        if not self.frame:
            self.rows = np.asarray(rows, dtype=np.float64)
            self.background = np.asarray(background, dtype=np.float64)
            self.keys = [row.tobytes() for row in np.ascontiguousarray(self.rows)]
            return
        # A row's key comes from its own values, never from codes that depend on the other rows
        # of the chunk: the same row then gets the same permutations in any chunk.
        hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy(dtype=np.uint64)
        self.keys = [int(h).to_bytes(8, "little") for h in hashed]
        both = pd.concat([rows, background], ignore_index=True)
        self.columns, self.dtypes = rows.columns, rows.dtypes
        self.uniques: dict[Any, Any] = {}
        codes = []
        for column in rows.columns:
            values = both[column]
            if pd.api.types.is_numeric_dtype(values) and not isinstance(
                values.dtype, pd.CategoricalDtype
            ):
                codes.append(values.to_numpy(dtype=np.float64, na_value=np.nan))
                continue
            numbers, self.uniques[column] = pd.factorize(values, use_na_sentinel=False)
            codes.append(numbers.astype(np.float64))
        matrix = np.column_stack(codes)
        self.rows, self.background = matrix[: len(rows)], matrix[len(rows) :]

    def decode(self, matrix: np.ndarray) -> Any:
        if not self.frame:
            return matrix
        columns = {}
        for j, column in enumerate(self.columns):
            if column in self.uniques:
                values = self.uniques[column].take(matrix[:, j].astype(np.int64))
                columns[column] = pd.Series(values).astype(self.dtypes.iloc[j])
            else:
                columns[column] = pd.Series(matrix[:, j]).astype(self.dtypes.iloc[j])
        return pd.DataFrame(columns)


# --- helpers ---------------------------------------------------------------------------------


def _method(
    explainer: str,
    family: str,
    space: str,
    explained_class: Any,
    *,
    exact: bool = True,
    background_rows: int | None = None,
    max_evals: int | None = None,
) -> dict[str, Any]:
    return {
        "explainer": explainer,
        "exact": exact,
        "model_family": family,
        "output_space": space,
        "explained_class": explained_class,
        "background_rows": background_rows,
        "max_evals": max_evals,
    }


def _positive_class(model: Any) -> Any:
    classes = getattr(model, "classes_", None)
    if classes is None or len(classes) != 2:
        return None
    positive = classes[1]
    return positive.item() if isinstance(positive, np.generic) else positive


def _multiclass() -> Exception:
    return refusal(
        "the model has more than two classes; only binary classifiers and regressors can be "
        "explained for now"
    )


def refusal(message: str) -> Exception:
    """An "invalid_input" OperationError (child.py makes itself importable under its name when it
    runs as __main__, so this is the class its failure() recognises)."""
    return child.OperationError("invalid_input", message)


def _model_call(what: str, call: Callable[..., Any], *args: Any) -> Any:
    """Run model code; a ValueError or TypeError is the model refusing these rows (missing
    values, wrong types), which the caller can fix, so it is reported as invalid input."""
    try:
        return call(*args)
    except (ValueError, TypeError) as exc:
        raise refusal(f"the model refused the features while {what}: {describe(exc)}") from exc
