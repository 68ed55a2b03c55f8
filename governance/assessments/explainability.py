"""Explainability evidence from SHAP values: global importance, local explanations, the share of
attributions that go to sensitive features, and an additivity check.

Pure: arrays in, a JSON-ready dict out (encode it with `results_json.dumps`). The arrays are
those of `governance.sandbox.explain_client.ExplainOutput`, passed as keyword arguments so this
module needs neither the sandbox nor Django; `report_for(output, ...)` unpacks one. Rows computed
in chunks (on several workers) are put back together with `merge_chunks` first.

Layout:
  "method": how the values were computed (explainer, exact, model_family, output_space, ...);
  "global_importance": {input column: mean over rows of |sum of its encoded features' values|},
    keyed by the caller's column names (a one-hot encoded "sex" is one entry, its columns'
    values summed per row before the absolute value: SHAP values are additive, so that is the
    column's own attribution); "global_importance_encoded": {encoded feature: mean |value|};
  "ranking": input columns by importance, highest first, ties by name;
  "local_explanations": the rows with the highest and the lowest model output (n_local in all,
    the odd one among the highest), then n_local other rows drawn with numpy default_rng(seed),
    each {"row", "reason", "output", "base_value", "contributions": {input column: value}};
  "sensitive_share": the declared sensitive features' part of the total global importance,
    overall ("share") and per feature ("by_feature"); those the model does not use are listed
    under "absent"; null with "null_reason" when every value is zero;
  "additivity": max |sum(values) + base - model_output| over the rows, against a tolerance of
    1e-4 for libraries that compute in float32 (XGBoost, LightGBM's contributions, ONNX) and
    1e-9 otherwise, both scaled by the largest |model output| when it exceeds 1 (a float's error
    is relative to its size).

Deterministic: the same arrays, row numbers and seed give the same results_json bytes.
"""

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
FLOAT32_FAMILIES = {"xgboost", "lightgbm", "onnx"}
FLOAT32_TOLERANCE = 1e-4
FLOAT64_TOLERANCE = 1e-9


def explainability_report(
    *,
    values: np.ndarray,
    base_values: np.ndarray,
    model_output: np.ndarray,
    feature_names: Sequence[str],
    source_columns: Sequence[str],
    method: dict[str, Any],
    row_index: np.ndarray,
    sensitive_features: Sequence[str],
    n_local: int,
    seed: int,
    rows_in_dataset: int,
    sampled: bool,
) -> dict[str, Any]:
    """The report of one explanation; `row_index` is each explained row's dataset row number."""
    values, base_values, model_output, rows = _checked(
        values, base_values, model_output, feature_names, source_columns, row_index
    )
    columns, by_column = _sum_by_source(values, source_columns)
    importance = dict(zip(columns, _mean_abs(by_column), strict=True))
    return {
        "kind": "explainability",
        "schema_version": SCHEMA_VERSION,
        "method": dict(method),
        "n_rows_explained": len(rows),
        "rows_in_dataset": int(rows_in_dataset),
        "sampled": bool(sampled),
        "seed": int(seed),
        "global_importance": importance,
        "global_importance_encoded": dict(
            zip(map(str, feature_names), _mean_abs(values), strict=True)
        ),
        "ranking": sorted(columns, key=lambda c: (-importance[c], c)),
        "local_explanations": _local(
            by_column, columns, base_values, model_output, rows, n_local, seed
        ),
        "sensitive_share": _sensitive_share(importance, sensitive_features),
        "additivity": _additivity(values, base_values, model_output, method),
    }


def report_for(output: Any, **options: Any) -> dict[str, Any]:
    """explainability_report of an ExplainOutput; `options` are the other keyword arguments."""
    fields = ("values", "base_values", "model_output", "feature_names", "source_columns")
    return explainability_report(
        **{name: getattr(output, name) for name in fields}, method=output.method, **options
    )


def merge_chunks(chunks: Sequence[tuple[np.ndarray, Any]]) -> tuple[np.ndarray, Any]:
    """Put (row_index, ExplainOutput) chunks back together, in increasing row number whatever
    order the workers finished in. Every chunk must come from the same model and method."""
    if not chunks:
        raise ValueError("there are no chunks to merge")
    first = chunks[0][1]
    for _, chunk in chunks[1:]:
        for name in ("feature_names", "source_columns", "method"):
            if getattr(chunk, name) != getattr(first, name):
                raise ValueError(f"the chunks disagree on {name}: they are not one explanation")
    rows = np.concatenate([np.asarray(r, dtype=np.int64).reshape(-1) for r, _ in chunks])
    if len(np.unique(rows)) != len(rows):
        raise ValueError("a row was explained in more than one chunk")
    order = np.argsort(rows, kind="stable")
    arrays = {
        name: np.concatenate([getattr(chunk, name) for _, chunk in chunks])[order]
        for name in ("values", "base_values", "model_output", "data")
    }
    if any(len(a) != len(rows) for a in arrays.values()):
        raise ValueError("a chunk's row numbers do not match its rows")
    details = {"chunks": [chunk.details for _, chunk in chunks]}
    return rows[order], replace(first, **arrays, details=details)


def aggregate_by_source(
    values: np.ndarray, data: np.ndarray, source_columns: Sequence[str]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """For a beeswarm per input column: (columns in first-seen order, per-row SHAP values summed
    by column (n, m), feature values (n, m)). A column's feature value is its one encoded
    feature's transformed value (scaled, for a StandardScaler) and NaN when it was encoded into
    several features (one-hot) or is not numeric."""
    values, data = np.asarray(values, dtype=np.float64), np.asarray(data, dtype=np.float64)
    if values.shape != data.shape or values.shape[1:] != (len(source_columns),):
        raise ValueError("values, data and source_columns do not have the same features")
    columns, summed = _sum_by_source(values, source_columns)
    shown = np.full(summed.shape, np.nan)
    for j, column in enumerate(columns):
        encoded = [i for i, source in enumerate(source_columns) if source == column]
        if len(encoded) == 1:
            shown[:, j] = data[:, encoded[0]]
    return columns, summed, shown


# --- parts -------------------------------------------------------------------------------------


def _checked(
    values: np.ndarray,
    base_values: np.ndarray,
    model_output: np.ndarray,
    feature_names: Sequence[str],
    source_columns: Sequence[str],
    row_index: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    base_values = np.asarray(base_values, dtype=np.float64).reshape(-1)
    model_output = np.asarray(model_output, dtype=np.float64).reshape(-1)
    rows = np.asarray(row_index).reshape(-1)
    n = len(values)
    if values.ndim != 2 or values.shape[1] != len(feature_names):
        raise ValueError("values must be (rows, features) with one name per feature")
    if len(source_columns) != len(feature_names) or len(set(feature_names)) != len(feature_names):
        raise ValueError("feature_names must be unique, with one source column each")
    if not len(base_values) == len(model_output) == len(rows) == n:
        raise ValueError("values, base_values, model_output and row_index differ in rows")
    if rows.dtype.kind not in "iu" or len(np.unique(rows)) != n:
        raise ValueError("row_index must hold distinct integer row numbers")
    return values, base_values, model_output, rows.astype(np.int64)


def _sum_by_source(
    values: np.ndarray, source_columns: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    columns = list(dict.fromkeys(map(str, source_columns)))
    position = {column: j for j, column in enumerate(columns)}
    summed = np.zeros((len(values), len(columns)))
    for i, source in enumerate(source_columns):
        summed[:, position[str(source)]] += values[:, i]
    return columns, summed


def _mean_abs(matrix: np.ndarray) -> list[float]:
    if len(matrix) == 0:
        return [0.0] * matrix.shape[1]
    return [float(v) for v in np.abs(matrix).mean(axis=0)]


def _local(
    by_column: np.ndarray,
    columns: list[str],
    base_values: np.ndarray,
    model_output: np.ndarray,
    rows: np.ndarray,
    n_local: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Extremes first (ties broken by row number), then random rows among the others."""
    n_high = min(n_local - n_local // 2, len(rows))
    highest = [int(i) for i in np.lexsort((rows, -model_output))[:n_high]]
    lowest = [int(i) for i in np.lexsort((rows, model_output)) if i not in highest]
    lowest = lowest[: n_local // 2]
    chosen = [(i, "highest_output") for i in highest] + [(i, "lowest_output") for i in lowest]
    taken = {i for i, _ in chosen}
    others = np.array([i for i in np.argsort(rows, kind="stable") if i not in taken], dtype=int)
    if n_local > 0 and len(others):
        drawn = np.random.default_rng(seed).choice(
            others, size=min(n_local, len(others)), replace=False
        )
        chosen += [(int(i), "random") for i in sorted(drawn, key=lambda i: rows[i])]
    return [
        {
            "row": int(rows[i]),
            "reason": reason,
            "output": float(model_output[i]),
            "base_value": float(base_values[i]),
            "contributions": {c: float(by_column[i, j]) for j, c in enumerate(columns)},
        }
        for i, reason in chosen
    ]


def _sensitive_share(
    importance: dict[str, float], sensitive_features: Sequence[str]
) -> dict[str, Any]:
    declared = list(dict.fromkeys(sensitive_features))
    present = [f for f in declared if f in importance]
    total = sum(importance.values())
    share: dict[str, Any] = {
        "features": present,
        "absent": [f for f in declared if f not in importance],
    }
    if total <= 0:
        reason = "every SHAP value is zero: there is no importance to share"
        return {**share, "share": None, "by_feature": dict.fromkeys(present), "null_reason": reason}
    return {
        **share,
        "share": sum(importance[f] for f in present) / total,
        "by_feature": {f: importance[f] / total for f in present},
    }


def _additivity(
    values: np.ndarray, base_values: np.ndarray, model_output: np.ndarray, method: dict[str, Any]
) -> dict[str, Any]:
    error = np.abs(values.sum(axis=1) + base_values - model_output)
    family = method.get("model_family")
    tolerance = FLOAT32_TOLERANCE if family in FLOAT32_FAMILIES else FLOAT64_TOLERANCE
    scale = max(1.0, float(np.abs(model_output).max())) if len(model_output) else 1.0
    max_error = float(error.max()) if len(error) else 0.0
    return {
        "max_abs_error": max_error,
        "output_space": method.get("output_space"),
        "tolerance": tolerance * scale,
        "within_tolerance": max_error <= tolerance * scale,
    }
