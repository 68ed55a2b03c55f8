"""Turn artifact bytes into library objects, after the structural checks, never unpickling.

Every third-party call on uploaded bytes is wrapped: hostile input can make
those parsers raise almost any exception type, and callers must only ever
see InvalidInput with a stable code.
"""

from __future__ import annotations

import io
import json
import pathlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm
import onnx
import onnxruntime
import skops.io
import xgboost
from skops.io.exceptions import UntrustedTypesFoundException

from core.errors import InvalidInput

from ._common import XGBOOST_JSON, corrupt, describe_error, read_bytes
from .lightgbm_text import LightGBMHeader, check_lightgbm_text
from .validation import check_onnx_no_external_data, check_skops_archive
from .xgboost_model import check_xgboost_json, check_xgboost_ubj


@dataclass(frozen=True)
class SkopsModel:
    estimator: Any
    trusted_via_allow_list: list[str]


def read_skops(
    path: pathlib.Path,
    *,
    trusted_types: Sequence[str],
    max_uncompressed_bytes: int | None,
    max_members: int | None,
) -> SkopsModel:
    # One read serves every check and the load, so the file cannot change between them.
    raw = read_bytes(path)
    check_skops_archive(raw, max_uncompressed_bytes=max_uncompressed_bytes, max_members=max_members)
    try:
        found = skops.io.get_untrusted_types(data=raw)
    except Exception as exc:  # hostile schema.json can break skops' parser in any way
        raise corrupt(f"the skops artifact could not be audited: {describe_error(exc)}") from exc

    # Only the deployment's list counts: nothing in the file can widen it.
    allowed = set(trusted_types)
    refused = sorted(name for name in found if name not in allowed)
    if refused:
        raise _untrusted(refused)
    trusted = sorted(name for name in found if name in allowed)
    try:
        with warnings.catch_warnings():
            # sklearn warns on version skew; the recorded framework version covers that.
            warnings.simplefilter("ignore")
            estimator = skops.io.loads(raw, trusted=trusted)
    except UntrustedTypesFoundException as exc:  # defensive: the audit above should match
        raise _untrusted(sorted(found)) from exc
    except Exception as exc:
        raise corrupt(f"the skops artifact could not be loaded: {describe_error(exc)}") from exc
    if not callable(getattr(estimator, "predict", None)):
        raise corrupt(
            f"the skops artifact holds a {type(estimator).__name__}, which has no predict method"
        )
    return SkopsModel(estimator=estimator, trusted_via_allow_list=trusted)


def _untrusted(names: list[str]) -> InvalidInput:
    return InvalidInput(
        f"the skops artifact contains types this deployment does not trust: {', '.join(names)}",
        code="untrusted_types",
        untrusted_types=names,
    )


def read_xgboost(path: pathlib.Path, artifact_format: str) -> xgboost.Booster:
    raw = read_bytes(path)
    if artifact_format == XGBOOST_JSON:
        check_xgboost_json(raw)
    else:
        check_xgboost_ubj(raw)
    booster = xgboost.Booster()
    try:
        # From memory xgboost sniffs JSON vs UBJSON itself; from a path it trusts the suffix.
        booster.load_model(bytearray(raw))
    except Exception as exc:
        raise corrupt(f"xgboost could not load the artifact: {describe_error(exc)}") from exc
    return booster


def xgboost_learner_config(booster: xgboost.Booster) -> dict[str, Any]:
    try:
        config = json.loads(booster.save_config())
        learner = config["learner"]
        return learner if isinstance(learner, dict) else {}
    except (ValueError, KeyError, TypeError, xgboost.core.XGBoostError):
        return {}


def xgboost_objective(booster: xgboost.Booster) -> str:
    objective = xgboost_learner_config(booster).get("objective", {})
    return str(objective.get("name", "")) if isinstance(objective, dict) else ""


@dataclass(frozen=True)
class LightGBMModel:
    booster: lightgbm.Booster
    header: LightGBMHeader


def read_lightgbm(path: pathlib.Path) -> LightGBMModel:
    raw = read_bytes(path)
    header = check_lightgbm_text(raw)
    try:
        booster = lightgbm.Booster(model_str=raw.decode("utf-8"))
    except Exception as exc:
        raise corrupt(f"lightgbm could not load the artifact: {describe_error(exc)}") from exc
    return LightGBMModel(booster=booster, header=header)


@dataclass(frozen=True)
class OnnxModel:
    proto: onnx.ModelProto
    session: onnxruntime.InferenceSession


def read_onnx(path: pathlib.Path) -> OnnxModel:
    raw = read_bytes(path)
    try:
        # Parsing from memory can never follow external-data references.
        proto = onnx.load_model(io.BytesIO(raw), load_external_data=False)
    except Exception as exc:
        raise corrupt(f"the artifact is not an ONNX model: {describe_error(exc)}") from exc
    check_onnx_no_external_data(proto)
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise corrupt(f"the ONNX model is invalid: {describe_error(exc)}") from exc
    try:
        session = onnxruntime.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise corrupt(f"onnxruntime could not load the model: {describe_error(exc)}") from exc
    return OnnxModel(proto=proto, session=session)
