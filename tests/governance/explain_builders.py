"""Real models on UCI Adult (the vendored copy) for the explainability tests, saved with their
libraries' own writers, and a one-call sandboxed explanation. Nothing is downloaded."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import skops.io
import xgboost

from governance.demo_model import NUMERIC, read_frame
from governance.sandbox.explain_client import ExplainOutput, explain_in_sandbox

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
TREE = "sklearn.tree._tree.Tree"
TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
KNN_TYPES = [
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
]


@functools.cache
def _adult(split: str) -> tuple[pd.DataFrame, np.ndarray]:
    return read_frame(DATA / f"adult_{split}.csv.gz")


def adult(split: str, rows: int, start: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """`rows` consecutive rows of the Adult train or test file: features (all 14) and 0/1."""
    X, y = _adult(split)
    stop = start + rows
    return X.iloc[start:stop].reset_index(drop=True), y[start:stop]


def numeric(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[NUMERIC]


def skops_file(tmp_path: Path, name: str, model: Any) -> Path:
    path = tmp_path / f"{name}.skops"
    skops.io.dump(model, path)
    return path


def xgboost_file(
    tmp_path: Path, X: pd.DataFrame, y: np.ndarray, rounds: int = 50
) -> tuple[Path, xgboost.Booster]:
    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "nthread": 1}
    booster = xgboost.train(params, xgboost.DMatrix(X, label=y), num_boost_round=rounds)
    path = tmp_path / "model.json"
    booster.save_model(path)
    return path, booster


def lightgbm_file(
    tmp_path: Path, X: pd.DataFrame, y: np.ndarray, rounds: int = 50
) -> tuple[Path, lightgbm.Booster]:
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "num_threads": 1,
        "deterministic": True,
        "verbose": -1,
    }
    booster = lightgbm.train(params, lightgbm.Dataset(X, label=y), num_boost_round=rounds)
    path = tmp_path / "model.txt"
    booster.save_model(path)
    return path, booster


def explain(
    path: Path,
    artifact_format: str,
    features: pd.DataFrame,
    background: pd.DataFrame | None = None,
    trusted: list[str] | None = None,
    **params: Any,
) -> ExplainOutput:
    return explain_in_sandbox(
        path,
        artifact_format,
        features,
        background=background,
        trusted_types=trusted or [],
        allow_pickle=False,
        params=params,
    )


def mean_abs(values: np.ndarray, names: list[str]) -> dict[str, float]:
    return dict(zip(names, np.abs(values).mean(axis=0).tolist(), strict=True))


def additivity_error(output: ExplainOutput) -> float:
    return float(np.abs(output.values.sum(axis=1) + output.base_values - output.model_output).max())
