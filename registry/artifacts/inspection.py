"""Validate an uploaded artifact and describe it, without ever unpickling."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm
import onnxruntime
import sklearn
import skops
import xgboost

from ._common import (
    JOBLIB,
    LIGHTGBM_TEXT,
    ONNX,
    SKOPS,
    UNSAFE_FORMATS,
    XGBOOST_JSON,
    XGBOOST_UBJ,
    check_format,
    corrupt,
    jsonable,
    refuse_pickle_unless_allowed,
    safe_attribute,
    str_list,
)
from .loading import wrap_estimator, wrap_lightgbm, wrap_xgboost
from .onnx_adapter import INPUT_DTYPES, is_probability_output, onnx_class_labels
from .pickle_scan import PickleScanError, scan_pickle
from .readers import (
    read_lightgbm,
    read_onnx,
    read_skops,
    read_xgboost,
    xgboost_learner_config,
)


@dataclass(frozen=True)
class ArtifactInspection:
    artifact_format: str
    """One of: skops, xgboost-json, xgboost-ubj, lightgbm-text, onnx, pickle, joblib."""
    unsafe: bool
    """True only for pickle and joblib, whose loading runs code from the file."""
    framework: str
    """The library (and version) that validated the artifact; "" for pickle and joblib."""
    n_features: int | None
    feature_names: list[str] | None
    details: dict[str, Any]
    """JSON-serialisable facts; which keys appear depends on the format."""


def inspect_artifact(
    path: pathlib.Path,
    artifact_format: str,
    *,
    trusted_types: Sequence[str],
    allow_pickle: bool,
    max_uncompressed_bytes: int,
    max_members: int,
) -> ArtifactInspection:
    """Prove the artifact is what `artifact_format` says and loads, or raise InvalidInput.

    `trusted_types` is the deployment's skops allow-list; the file can never
    extend it. pickle and joblib files are only scanned statically.
    """
    check_format(artifact_format)
    refuse_pickle_unless_allowed(artifact_format, allow_pickle)
    if artifact_format == SKOPS:
        return _inspect_skops(path, trusted_types, max_uncompressed_bytes, max_members)
    if artifact_format in {XGBOOST_JSON, XGBOOST_UBJ}:
        return _inspect_xgboost(path, artifact_format)
    if artifact_format == LIGHTGBM_TEXT:
        return _inspect_lightgbm(path)
    if artifact_format == ONNX:
        return _inspect_onnx(path)
    assert artifact_format in UNSAFE_FORMATS
    return _inspect_pickle(path, artifact_format)


def _class_path(obj: Any) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _inspect_skops(
    path: pathlib.Path, trusted_types: Sequence[str], max_bytes: int, max_members: int
) -> ArtifactInspection:
    model = read_skops(
        path,
        trusted_types=trusted_types,
        max_uncompressed_bytes=max_bytes,
        max_members=max_members,
    )
    estimator = model.estimator
    adapter = wrap_estimator(estimator)
    details: dict[str, Any] = {
        "estimator_class": _class_path(estimator),
        "has_predict_proba": hasattr(adapter, "predict_proba"),
        "classes": adapter.classes_,
        "trusted_via_allow_list": model.trusted_via_allow_list,
        "skops_version": skops.__version__,
    }
    steps = safe_attribute(estimator, "steps")
    if isinstance(steps, list):
        details["steps"] = [
            {"name": str(step[0]), "class": _class_path(step[1])}
            for step in steps
            if isinstance(step, tuple) and len(step) == 2
        ]
    n_features = safe_attribute(estimator, "n_features_in_")
    return ArtifactInspection(
        artifact_format=SKOPS,
        unsafe=False,
        framework=f"scikit-learn {sklearn.__version__}",
        n_features=int(n_features) if n_features is not None else None,
        feature_names=adapter.feature_names,
        details=details,
    )


def _inspect_xgboost(path: pathlib.Path, artifact_format: str) -> ArtifactInspection:
    booster = read_xgboost(path, artifact_format)
    adapter = wrap_xgboost(booster)
    params = xgboost_learner_config(booster).get("learner_model_param", {})
    details = {
        "objective": adapter.objective,
        "num_boosted_rounds": booster.num_boosted_rounds(),
        "num_class": int(params.get("num_class", 0) or 0),
        "feature_types": str_list(booster.feature_types),
        "has_predict_proba": hasattr(adapter, "predict_proba"),
        "classes": adapter.classes_,
    }
    return ArtifactInspection(
        artifact_format=artifact_format,
        unsafe=False,
        framework=f"xgboost {xgboost.__version__}",
        n_features=booster.num_features(),
        feature_names=adapter.feature_names,
        details=details,
    )


def _inspect_lightgbm(path: pathlib.Path) -> ArtifactInspection:
    model = read_lightgbm(path)
    adapter = wrap_lightgbm(model)
    details = {
        "objective": model.header.objective,
        "num_class": model.header.num_class,
        "num_trees": model.booster.num_trees(),
        "has_predict_proba": hasattr(adapter, "predict_proba"),
        "classes": adapter.classes_,
    }
    return ArtifactInspection(
        artifact_format=LIGHTGBM_TEXT,
        unsafe=False,
        framework=f"lightgbm {lightgbm.__version__}",
        n_features=model.booster.num_feature(),
        feature_names=adapter.feature_names,
        details=details,
    )


def _inspect_onnx(path: pathlib.Path) -> ArtifactInspection:
    model = read_onnx(path)
    inputs = model.session.get_inputs()
    outputs = model.session.get_outputs()

    def describe(arg: Any) -> dict[str, Any]:
        return {"name": arg.name, "type": arg.type, "shape": jsonable(list(arg.shape))}

    n_features: int | None = None
    feature_names: list[str] | None = None
    shapes = [list(i.shape) for i in inputs]
    if len(inputs) == 1 and len(shapes[0]) == 2 and isinstance(shapes[0][1], int):
        n_features = shapes[0][1]
    elif len(inputs) > 1 and all(len(s) == 2 and s[1] == 1 for s in shapes):
        # One [n, 1] input per column: the input names are the feature names.
        n_features = len(inputs)
        feature_names = [i.name for i in inputs]

    proto = model.proto
    producer = f"{proto.producer_name} {proto.producer_version}".strip()
    details = {
        "inputs": [describe(i) for i in inputs],
        "outputs": [describe(o) for o in outputs],
        "opset": [
            {"domain": o.domain or "ai.onnx", "version": o.version} for o in proto.opset_import
        ],
        "ir_version": proto.ir_version,
        "producer": producer,
        "has_predict_proba": any(is_probability_output(o.name, o.type) for o in outputs),
        "classes": onnx_class_labels(proto),
        # load_model feeds one float tensor; anything else is inspectable but not loadable.
        "loadable": len(inputs) == 1 and inputs[0].type in INPUT_DTYPES,
    }
    return ArtifactInspection(
        artifact_format=ONNX,
        unsafe=False,
        framework=f"onnxruntime {onnxruntime.__version__}",
        n_features=n_features,
        feature_names=feature_names,
        details=details,
    )


def _inspect_pickle(path: pathlib.Path, artifact_format: str) -> ArtifactInspection:
    try:
        scan = scan_pickle(path, joblib=artifact_format == JOBLIB)
    except PickleScanError as exc:
        raise corrupt(f"the artifact is not a {artifact_format} file: {exc}") from exc
    except OSError as exc:
        raise corrupt(f"the artifact could not be read: {exc.strerror or exc}") from exc
    details: dict[str, Any] = {
        "pickle_globals": scan.globals,
        "scan_complete": scan.complete,
        "compressed": scan.compression is not None,
    }
    if scan.compression is not None:
        details["compression"] = scan.compression
    return ArtifactInspection(
        artifact_format=artifact_format,
        unsafe=True,
        framework="",
        n_features=None,
        feature_names=None,
        details=details,
    )
