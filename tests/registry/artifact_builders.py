"""Build real, tiny model artifacts on the fly from synthetic numpy data.

Each builder trains (or, for ONNX, writes by hand) a genuine model, saves it
with its library's own writer and returns what the original predicts, so
the tests compare a reloaded artifact against the model that produced it.
Nothing is downloaded; every builder runs in well under a second.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any

import joblib
import lightgbm
import numpy as np
import onnx
import pandas as pd
import skops.io
import xgboost
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

FEATURES = ["age", "income", "tenure", "score"]


@dataclass
class Built:
    path: pathlib.Path
    X: Any
    expected_predict: np.ndarray
    expected_proba: np.ndarray | None = None
    classes: list[Any] | None = None


def classification_data(n: int = 120, n_classes: int = 2, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURES)))
    signal = X[:, 0] + 0.5 * X[:, 1] - 0.25 * X[:, 2]
    edges = np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1])
    y = np.digitize(signal, edges)
    return X, y


def frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=FEATURES)


# --- scikit-learn via skops ------------------------------------------------------------------


class DoubleFeatures(TransformerMixin, BaseEstimator):
    """A user-defined step: skops cannot know it is harmless, so it is untrusted by default."""

    def fit(self, X: Any, y: Any = None) -> DoubleFeatures:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=float) * 2.0


def _skops(tmp_path: pathlib.Path, name: str, model: Any, X: Any) -> Built:
    path = tmp_path / f"{name}.skops"
    skops.io.dump(model, path)
    proba = model.predict_proba(X) if hasattr(model, "predict_proba") else None
    classes = model.classes_.tolist() if hasattr(model, "classes_") else None
    return Built(path, X, model.predict(X), proba, classes)


def skops_logistic(tmp_path: pathlib.Path) -> Built:
    X, y = classification_data()
    model = LogisticRegression().fit(frame(X), y)
    return _skops(tmp_path, "logistic", model, frame(X))


def skops_column_pipeline(tmp_path: pathlib.Path) -> Built:
    X, y = classification_data(n_classes=3)
    data = frame(X)[FEATURES[:2]].assign(region=np.where(X[:, 3] > 0, "north", "south"))
    model = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("numbers", StandardScaler(), FEATURES[:2]),
                        ("region", OneHotEncoder(handle_unknown="ignore"), ["region"]),
                    ]
                ),
            ),
            ("classifier", LogisticRegression()),
        ]
    ).fit(data, y)
    return _skops(tmp_path, "column_pipeline", model, data)


def skops_ridge(tmp_path: pathlib.Path) -> Built:
    X, _ = classification_data()
    model = Ridge().fit(X, X[:, 0] * 3.0 - X[:, 1])
    return _skops(tmp_path, "ridge", model, X)


def skops_hist_gradient_boosting(tmp_path: pathlib.Path) -> Built:
    X, y = classification_data()
    model = HistGradientBoostingClassifier(max_iter=5, max_depth=3).fit(X, y)
    return _skops(tmp_path, "hgb", model, X)


def skops_custom_step(tmp_path: pathlib.Path) -> Built:
    X, y = classification_data()
    model = Pipeline([("double", DoubleFeatures()), ("classifier", LogisticRegression())])
    return _skops(tmp_path, "custom", model.fit(X, y), X)


def skops_not_a_model(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "dict.skops"
    skops.io.dump({"weights": np.arange(3.0)}, path)
    return path


def add_zip_member(path: pathlib.Path, name: str, data: bytes = b"x") -> None:
    with zipfile.ZipFile(path, "a") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we may be adding
        # A ZipInfo keeps the name verbatim, unlike write() which sanitises it.
        archive.writestr(zipfile.ZipInfo(name), data)


def plain_zip(tmp_path: pathlib.Path, members: dict[str, bytes]) -> pathlib.Path:
    path = tmp_path / "plain.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


# --- xgboost ---------------------------------------------------------------------------------


def xgboost_booster(tmp_path: pathlib.Path, objective: str, suffix: str) -> Built:
    n_classes = 3 if objective.startswith("multi:") else 2
    X, y = classification_data(n_classes=n_classes)
    X = X.astype(np.float32)
    params: dict[str, Any] = {"objective": objective, "max_depth": 3, "nthread": 1}
    if objective.startswith("multi:"):
        params["num_class"] = n_classes
    label = X[:, 0] * 2.0 if objective.startswith("reg:") else y
    train = xgboost.DMatrix(X, label=label, feature_names=FEATURES)
    booster = xgboost.train(params, train, num_boost_round=4)
    path = tmp_path / f"model.{suffix}"
    booster.save_model(path)
    raw = booster.predict(xgboost.DMatrix(X, feature_names=FEATURES))
    if objective == "binary:logistic":
        return Built(path, X, (raw >= 0.5).astype(int), np.column_stack([1 - raw, raw]), [0, 1])
    if objective == "multi:softprob":
        return Built(path, X, raw.argmax(axis=1), raw, list(range(n_classes)))
    return Built(path, X, raw)


# --- lightgbm --------------------------------------------------------------------------------


def lightgbm_booster(tmp_path: pathlib.Path, objective: str, **extra: Any) -> Built:
    n_classes = 3 if objective == "multiclass" else 2
    X, y = classification_data(n_classes=n_classes)
    params: dict[str, Any] = {
        "objective": objective,
        "num_leaves": 4,
        "min_data_in_leaf": 5,
        "num_threads": 1,
        "deterministic": True,
        "verbose": -1,
        **extra,
    }
    if objective == "multiclass":
        params["num_class"] = n_classes
    label = X[:, 0] * 2.0 if objective == "regression" else y
    data = lightgbm.Dataset(X, label=label, feature_name=FEATURES)
    booster = lightgbm.train(params, data, num_boost_round=3)
    path = tmp_path / "model.txt"
    booster.save_model(path)
    raw = booster.predict(X)
    if objective == "binary":
        return Built(path, X, (raw >= 0.5).astype(int), np.column_stack([1 - raw, raw]), [0, 1])
    if objective == "multiclass":
        return Built(path, X, raw.argmax(axis=1), raw, list(range(n_classes)))
    return Built(path, X, raw)


def lightgbm_categorical(tmp_path: pathlib.Path) -> Built:
    """Categorical splits exercise the bitset checks on real LightGBM output."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, len(FEATURES)))
    X[:, 3] = rng.integers(0, 6, size=200)
    y = ((X[:, 0] > 0) ^ (X[:, 3] > 3)).astype(int)
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "cat_smooth": 1,
        "num_threads": 1,
        "verbose": -1,
    }
    data = lightgbm.Dataset(X, label=y, feature_name=FEATURES, categorical_feature=[3])
    booster = lightgbm.train(params, data, num_boost_round=3)
    path = tmp_path / "categorical.txt"
    booster.save_model(path)
    raw = booster.predict(X)
    return Built(path, X, (raw >= 0.5).astype(int), np.column_stack([1 - raw, raw]), [0, 1])


# --- onnx (written by hand: skl2onnx is not a dependency) -----------------------------------

_OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
_IR_VERSION = 9


def _save_onnx(path: pathlib.Path, graph: onnx.GraphProto) -> pathlib.Path:
    model = helper.make_model(
        graph, opset_imports=_OPSETS, producer_name="modelgate-tests", producer_version="1.0"
    )
    model.ir_version = _IR_VERSION
    path.write_bytes(model.SerializeToString())
    return path


def _linear_weights(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(n_classes, len(FEATURES))).astype(np.float32)
    return weights, rng.normal(size=n_classes).astype(np.float32)


def onnx_linear_classifier(tmp_path: pathlib.Path, *, zipmap: bool) -> Built:
    """ai.onnx.ml LinearClassifier with softmax, optionally followed by ZipMap like skl2onnx."""
    weights, intercepts = _linear_weights(3)
    classes = [0, 1, 2]
    nodes = [
        helper.make_node(
            "LinearClassifier",
            ["input"],
            ["label", "probabilities"],
            domain="ai.onnx.ml",
            coefficients=weights.ravel().tolist(),
            intercepts=intercepts.tolist(),
            classlabels_ints=classes,
            post_transform="SOFTMAX",
        )
    ]
    probability_output = helper.make_tensor_value_info(
        "probabilities", TensorProto.FLOAT, [None, len(classes)]
    )
    if zipmap:
        nodes.append(
            helper.make_node(
                "ZipMap",
                ["probabilities"],
                ["output_probability"],
                domain="ai.onnx.ml",
                classlabels_int64s=classes,
            )
        )
        map_type = helper.make_map_type_proto(
            TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])
        )
        probability_output = helper.make_value_info(
            "output_probability", helper.make_sequence_type_proto(map_type)
        )
    graph = helper.make_graph(
        nodes,
        "linear_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(FEATURES)])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]), probability_output],
    )
    path = _save_onnx(tmp_path / "classifier.onnx", graph)

    X, _ = classification_data()
    scores = X.astype(np.float32) @ weights.T + intercepts
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    proba = exp / exp.sum(axis=1, keepdims=True)
    return Built(path, X, proba.argmax(axis=1), proba, classes)


def _regression_graph(weights: onnx.TensorProto, bias: onnx.TensorProto) -> onnx.GraphProto:
    nodes = [
        helper.make_node("MatMul", ["input", "weights"], ["product"]),
        helper.make_node("Add", ["product", "bias"], ["variable"]),
    ]
    return helper.make_graph(
        nodes,
        "linear_regression",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(FEATURES)])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        initializer=[weights, bias],
    )


def _regression_tensors() -> tuple[np.ndarray, np.ndarray, onnx.TensorProto, onnx.TensorProto]:
    w = np.array([[0.5], [-1.0], [2.0], [0.25]], dtype=np.float32)
    b = np.array([0.1], dtype=np.float32)
    return w, b, onnx.numpy_helper.from_array(w, "weights"), onnx.numpy_helper.from_array(b, "bias")


def onnx_linear_regression(tmp_path: pathlib.Path) -> Built:
    w, b, weights, bias = _regression_tensors()
    path = _save_onnx(tmp_path / "regression.onnx", _regression_graph(weights, bias))
    X, _ = classification_data()
    return Built(path, X, (X.astype(np.float32) @ w + b).ravel())


def onnx_per_column_inputs(tmp_path: pathlib.Path) -> pathlib.Path:
    """One [n, 1] input per feature: inspectable, but load_model refuses it."""
    _, _, weights, bias = _regression_tensors()
    nodes = [
        helper.make_node("Concat", FEATURES, ["input"], axis=1),
        helper.make_node("MatMul", ["input", "weights"], ["product"]),
        helper.make_node("Add", ["product", "bias"], ["variable"]),
    ]
    graph = helper.make_graph(
        nodes,
        "per_column",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in FEATURES],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        initializer=[weights, bias],
    )
    return _save_onnx(tmp_path / "per_column.onnx", graph)


def _make_external(tensor: onnx.TensorProto, location: str) -> onnx.TensorProto:
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def onnx_external_initializer(tmp_path: pathlib.Path) -> pathlib.Path:
    w, _, weights, bias = _regression_tensors()
    # The referenced file really exists: the refusal must not depend on it being missing.
    (tmp_path / "weights.bin").write_bytes(w.tobytes())
    graph = _regression_graph(_make_external(weights, "weights.bin"), bias)
    return _save_onnx(tmp_path / "external.onnx", graph)


def onnx_external_in_subgraph(tmp_path: pathlib.Path) -> pathlib.Path:
    """External data hidden in a Constant inside an If branch."""
    _, _, weights, _ = _regression_tensors()

    def branch(name: str, tensor: onnx.TensorProto) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node("Constant", [], [f"{name}_out"], value=tensor)],
            name,
            [],
            [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [4, 1])],
        )

    hidden = _make_external(onnx.TensorProto.FromString(weights.SerializeToString()), "/etc/hosts")
    nodes = [
        helper.make_node(
            "If",
            ["flag"],
            ["chosen"],
            then_branch=branch("then", hidden),
            else_branch=branch("else", weights),
        )
    ]
    graph = helper.make_graph(
        nodes,
        "conditional",
        [helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("chosen", TensorProto.FLOAT, [4, 1])],
    )
    return _save_onnx(tmp_path / "subgraph.onnx", graph)


# --- pickle and joblib -----------------------------------------------------------------------


def pickled_logistic(tmp_path: pathlib.Path, artifact_format: str, **options: Any) -> Built:
    X, y = classification_data()
    model = LogisticRegression().fit(X, y)
    path = tmp_path / f"model.{artifact_format}"
    if artifact_format == "joblib":
        joblib.dump(model, path, **options)
    else:
        path.write_bytes(pickle.dumps(model, **options))
    return Built(path, X, model.predict(X), model.predict_proba(X), model.classes_.tolist())


class TouchOnUnpickle:
    """Unpickling this calls pathlib.Path.touch(marker): proof that code ran."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (pathlib.Path.touch, (self.marker,))


class SystemOnUnpickle:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (os.system, (f"touch '{self.marker}'",))


def _hostile_payload(marker: pathlib.Path, protocol: int) -> Any:
    # Before protocol 4 a method like Path.touch pickles as getattr(Path, "touch").
    return TouchOnUnpickle(marker) if protocol >= 4 else SystemOnUnpickle(marker)


def hostile_global(protocol: int) -> str:
    return "pathlib.Path.touch" if protocol >= 4 else f"{os.name}.system"


def hostile_pickle(tmp_path: pathlib.Path, marker: pathlib.Path, protocol: int) -> pathlib.Path:
    path = tmp_path / f"hostile-{protocol}.pkl"
    payload = {"model": _hostile_payload(marker, protocol)}
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    return path


def hostile_joblib(
    tmp_path: pathlib.Path, marker: pathlib.Path, protocol: int = pickle.DEFAULT_PROTOCOL
) -> pathlib.Path:
    """The payload sits after raw array buffers and a nested object-array pickle, so the scan
    only finds it by stepping over joblib's array data correctly."""
    path = tmp_path / f"hostile-{protocol}.joblib"
    payload = {
        "weights": np.arange(37, dtype=np.float64),
        "names": np.array(["a", None, 3], dtype=object),
        "matrix": np.ones((3, 5), dtype=np.int32, order="F"),
        "empty": np.zeros((0, 3)),
        "model": _hostile_payload(marker, protocol),
    }
    joblib.dump(payload, path, protocol=protocol)
    return path
