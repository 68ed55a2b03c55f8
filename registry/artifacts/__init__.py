"""Artifact safety: validate, describe and load uploaded model files.

Pure functions over files on disk: no database and no Django. Formats:
skops, xgboost-json, xgboost-ubj, lightgbm-text, onnx, and (only when the
deployment allows it) pickle and joblib. Every refusal is core.errors.InvalidInput
with a stable `code`.
"""

from ._common import ARTIFACT_FORMATS, UNSAFE_FORMATS
from .inspection import ArtifactInspection, inspect_artifact
from .loading import LoadedModel, load_model
from .pickle_scan import PickleScan, PickleScanError, scan_pickle

__all__ = [
    "ARTIFACT_FORMATS",
    "UNSAFE_FORMATS",
    "ArtifactInspection",
    "LoadedModel",
    "PickleScan",
    "PickleScanError",
    "inspect_artifact",
    "load_model",
    "scan_pickle",
]
