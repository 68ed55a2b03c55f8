"""Predict through an onnxruntime session with the conventions skl2onnx uses.

A classifier exports a label output and a probability output, the latter
either a (n, k) tensor or a sequence of {class: probability} maps (ZipMap).
Only single-input models are supported: feeding several named inputs needs
a column mapping the registry does not record.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pandas as pd
from onnx import helper

from core.errors import InvalidInput

from .readers import OnnxModel

INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}
_CLASS_LABEL_ATTRIBUTES = ("classlabels_int64s", "classlabels_ints", "classlabels_strings")


def is_probability_output(name: str, type_name: str) -> bool:
    if type_name.startswith("seq(map("):
        return True
    return "prob" in name.lower() and type_name.startswith("tensor(")


def is_label_output(name: str, type_name: str) -> bool:
    return "label" in name.lower() and type_name.startswith("tensor(")


def onnx_class_labels(proto: onnx.ModelProto) -> list[Any] | None:
    """Class labels declared by ZipMap or an ai.onnx.ml *Classifier node, if any."""
    candidates = [node for node in proto.graph.node if node.op_type == "ZipMap"]
    candidates += [node for node in proto.graph.node if node.op_type.endswith("Classifier")]
    for node in candidates:
        for attribute in node.attribute:
            if attribute.name in _CLASS_LABEL_ATTRIBUTES:
                values = helper.get_attribute_value(attribute)
                return [v.decode() if isinstance(v, bytes) else int(v) for v in values]
    return None


class OnnxSessionModel:
    def __init__(self, model: OnnxModel) -> None:
        session = model.session
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise InvalidInput(
                f"the ONNX model has {len(inputs)} inputs; only single-input models "
                "(one float tensor of shape [n, features]) can be loaded",
                code="unsupported_model",
                inputs=[i.name for i in inputs],
            )
        dtype = INPUT_DTYPES.get(inputs[0].type)
        if dtype is None:
            raise InvalidInput(
                f"the ONNX model input is {inputs[0].type}; only float and double are supported",
                code="unsupported_model",
            )
        self._session = session
        self._input_name = inputs[0].name
        self._dtype = dtype
        outputs = [(o.name, o.type) for o in session.get_outputs()]
        self._label = next((n for n, t in outputs if is_label_output(n, t)), None)
        self._probability = next((n for n, t in outputs if is_probability_output(n, t)), None)
        self._value = outputs[0][0]
        self.classes_: list[Any] | None = onnx_class_labels(model.proto)
        self.feature_names: list[str] | None = None

    def _run(self, output: str, X: Any) -> Any:
        if isinstance(X, pd.DataFrame):
            X = X.to_numpy()
        feed = np.asarray(X, dtype=self._dtype)
        return self._session.run([output], {self._input_name: feed})[0]

    def _probabilities(self, X: Any) -> np.ndarray:
        assert self._probability is not None
        result = self._run(self._probability, X)
        if isinstance(result, list):  # ZipMap: one {class: probability} per row
            order = self.classes_ or (list(result[0]) if result else [])
            return np.array([[row[c] for c in order] for row in result], dtype=np.float64)
        matrix = np.asarray(result)
        if matrix.ndim == 1 or (matrix.ndim == 2 and matrix.shape[1] == 1):
            # A single probability column is the positive class of a binary model.
            positive = matrix.reshape(-1)
            return np.column_stack([1.0 - positive, positive])
        return matrix

    def predict(self, X: Any) -> np.ndarray:
        if self._label is not None:
            return np.asarray(self._run(self._label, X)).ravel()
        if self._probability is not None:
            best = self._probabilities(X).argmax(axis=1)
            return np.asarray(self.classes_)[best] if self.classes_ else best
        values = np.asarray(self._run(self._value, X))
        return values.ravel() if values.ndim == 2 and values.shape[1] == 1 else values


class ProbabilisticOnnxSessionModel(OnnxSessionModel):
    def predict_proba(self, X: Any) -> np.ndarray:
        return self._probabilities(X)


def wrap_onnx(model: OnnxModel) -> OnnxSessionModel:
    outputs = model.session.get_outputs()
    if any(is_probability_output(o.name, o.type) for o in outputs):
        return ProbabilisticOnnxSessionModel(model)
    return OnnxSessionModel(model)
