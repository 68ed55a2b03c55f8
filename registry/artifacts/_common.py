"""Format names, error helpers and tiny conversions shared by inspection and loading."""

from __future__ import annotations

import pathlib
from typing import Any, Final

import numpy as np

from core.errors import InvalidInput

SKOPS: Final = "skops"
XGBOOST_JSON: Final = "xgboost-json"
XGBOOST_UBJ: Final = "xgboost-ubj"
LIGHTGBM_TEXT: Final = "lightgbm-text"
ONNX: Final = "onnx"
PICKLE: Final = "pickle"
JOBLIB: Final = "joblib"

ARTIFACT_FORMATS: Final[tuple[str, ...]] = (
    SKOPS,
    XGBOOST_JSON,
    XGBOOST_UBJ,
    LIGHTGBM_TEXT,
    ONNX,
    PICKLE,
    JOBLIB,
)
UNSAFE_FORMATS: Final[frozenset[str]] = frozenset({PICKLE, JOBLIB})

PICKLE_REFUSED: Final = (
    "pickle and joblib artifacts run arbitrary code when loaded; "
    "this deployment refuses them (MODELGATE_ALLOW_PICKLE)"
)


def corrupt(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="corrupt_artifact")


def check_format(artifact_format: str) -> None:
    if artifact_format not in ARTIFACT_FORMATS:
        raise InvalidInput(
            f"unknown artifact format {artifact_format!r}; expected one of "
            f"{', '.join(ARTIFACT_FORMATS)}",
            code="unknown_format",
            supported_formats=list(ARTIFACT_FORMATS),
        )


def refuse_pickle_unless_allowed(artifact_format: str, allow_pickle: bool) -> None:
    if artifact_format in UNSAFE_FORMATS and not allow_pickle:
        raise InvalidInput(PICKLE_REFUSED, code="unsafe_format")


def read_bytes(path: pathlib.Path) -> bytes:
    """Read the artifact once, so every check and the load see the same bytes."""
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as exc:
        raise corrupt(f"the artifact could not be read: {exc.strerror or exc}") from exc


def describe_error(exc: BaseException) -> str:
    """First line of a library error: native libraries append whole stack traces."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    name = type(exc).__name__
    return f"{name}: {first[:300]}" if first else name


def jsonable(value: Any) -> Any:
    """numpy scalars and arrays into plain JSON types, for `details` and `classes_`."""
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def str_list(values: Any) -> list[str] | None:
    if values is None:
        return None
    return [str(v) for v in values]


def safe_attribute(obj: Any, name: str) -> Any:
    # sklearn properties raise more than AttributeError when a step is unfitted or missing.
    try:
        return getattr(obj, name, None)
    except Exception:
        return None
