"""Fairness of a model's predictions across the groups of declared sensitive features.

Pure: arrays and a DataFrame in, a JSON-ready dict out (encode it with `results_json.dumps`).

Inputs. For task="binary", y_true and y_pred are mapped to 0/1 with `binarize` (1 = pos_label;
already-0/1 arrays pass unchanged); without y_pred, y_pred = (y_score >= threshold). y_score
(probability or margin) is optional and only feeds roc_auc. For task="regression", y_true and
y_pred are numbers. `sensitive` has one column per declared feature; missing values are refused.

Groups. Each declared feature is reported, and with two or more features also their full
intersection, keyed by the names joined with "×" ("sex×race"), with groups keyed by the values
joined the same way in the same order ("Female×Black"). Groups with fewer than min_group_size
rows are reported with "small_group": true but left out of every disparity and listed under
results["excluded_groups"][feature]: a gap against 12 people is noise, not evidence.

Metrics (Fairlearn's function names for the rates, scikit-learn's scorer names otherwise):
  binary: count, selection_rate, accuracy, precision, true_positive_rate (= recall),
          false_positive_rate, false_negative_rate, roc_auc (needs y_score).
  regression: count, mae, rmse (named as in performance_report), mean_prediction (Fairlearn).
Rates come from Fairlearn's MetricFrame. It runs on the confusion counts per (group, y_true,
y_pred) cell passed as sample weights, not on the raw rows: the result is identical, and
MetricFrame 0.15 spends seconds per metric per million raw rows. A value with a zero denominator
is null with a reason under "null_reasons" where Fairlearn would report 0 (TPR of a group without
positives is unknown, not zero). roc_auc is scikit-learn's roc_auc_score per group; regression
metrics are exact group sums (MetricFrame is too slow on raw rows at this scale).

Layout:
  results["overall"][metric], results["by_feature"][feature][group][metric] = value or null;
  beside the metrics: "ci": {metric: [lo, hi]}, "small_group", "null_reasons",
  "ci_undefined_resamples" (resamples where the metric had no value, when any).
  results["disparities"][feature] (binary) = demographic_parity_{difference,ratio},
  equalized_odds_{difference,ratio}, equal_opportunity_{difference,ratio} (TPR), with "ci" and
  "groups_compared"; both tasks have "max_gap": {metric: {"difference", "ratio",
  "groups": [lowest, highest], "ci": {"difference", "ratio"}}}. Differences are max - min and
  ratios min / max over the compared groups, as Fairlearn's between_groups method computes them.

Confidence intervals: percentile bootstrap of whole rows with replacement, numpy
default_rng(seed), for every per-group value, gap and disparity (not for counts). Rate metrics
are resampled from multinomial cell counts, in O(cells) per resample whatever the row count;
roc_auc and regression metrics also draw rows within cells, O(rows) per resample and reused, so
memory never scales with n_bootstrap (see `bootstrap`); results["ci_method"] says the same.
The bootstrap and everything else are deterministic: the same inputs, seed and library
versions give the same results_json bytes.

progress(fraction, stage), if given, is called with fractions from 0.0 to 1.0 in order; stages
are "checking inputs", "per-group metrics", "bootstrap" (and "bootstrap roc_auc" while the
rows are resampled), "disparities", "done".
"""  # noqa: RUF002 - the multiplication sign is the documented key separator

from collections.abc import Callable, Hashable
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
import sklearn.metrics as skm
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from governance.assessments import bootstrap
from governance.assessments.disparities import DISPARITIES, GroupTable, disparities, group_entries
from governance.assessments.inputs import (
    AssessmentInputError,
    Partition,
    as_1d,
    binarize,
    binary_predictions,
    check_lengths,
    sensitive_partitions,
)

__all__ = ["AssessmentInputError", "binarize", "fairness_report"]

RATE_METRICS = (
    "selection_rate",
    "accuracy",
    "precision",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
)
CLASSIFICATION_METRICS = ("count", *RATE_METRICS, "roc_auc")
REGRESSION_METRICS = ("count", "mae", "rmse", "mean_prediction")

_NULL_REASONS = {
    "precision": "no predicted positives in the group",
    "true_positive_rate": "no actual positives (y_true = 1) in the group",
    "false_negative_rate": "no actual positives (y_true = 1) in the group",
    "false_positive_rate": "no actual negatives (y_true = 0) in the group",
    "roc_auc": "the group has only one class of y_true",
}
_FAIRLEARN_METRICS: dict[str, Callable[..., float]] = {
    "selection_rate": selection_rate,
    "accuracy": skm.accuracy_score,
    "precision": partial(skm.precision_score, zero_division=np.nan),
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
}

Progress = Callable[[float, str], None]


def fairness_report(
    *,
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    sensitive: pd.DataFrame,
    task: Literal["binary", "regression"],
    threshold: float = 0.5,
    pos_label: Hashable = 1,
    n_bootstrap: int = 200,
    seed: int = 0,
    min_group_size: int = 30,
    confidence: float = 0.95,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Per-group metrics, disparities and bootstrap intervals; see the module docstring."""
    say = progress or (lambda fraction, stage: None)
    say(0.0, "checking inputs")
    for name, value in (
        ("n_bootstrap", n_bootstrap),
        ("seed", seed),
        ("min_group_size", min_group_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise AssessmentInputError(f"{name} must be a non-negative integer, got {value!r}")
    if not 0.0 < confidence < 1.0:
        raise AssessmentInputError(f"confidence must be between 0 and 1, got {confidence!r}")
    rng = np.random.default_rng(int(seed))
    parameters: dict[str, Any] = {
        "task": task,
        "n_bootstrap": int(n_bootstrap),
        "seed": int(seed),
        "min_group_size": int(min_group_size),
        "confidence": float(confidence),
    }
    if task == "binary":
        truth, pred, scores, source = binary_predictions(
            y_true=y_true, y_pred=y_pred, y_score=y_score, threshold=threshold, pos_label=pos_label
        )
        parts = sensitive_partitions(sensitive, len(truth))
        tables = _classifier_tables(truth, pred, scores, parts, int(n_bootstrap), rng, say)
        parameters.update(
            threshold=float(threshold),
            pos_label=pos_label.item() if isinstance(pos_label, np.generic) else pos_label,
            y_pred_source=source,
            has_scores=scores is not None,
        )
        metrics, named = CLASSIFICATION_METRICS, DISPARITIES
    elif task == "regression":
        if y_score is not None:
            raise AssessmentInputError("y_score is for classifiers; give y_pred for regression")
        truth = as_1d(y_true, "y_true", numeric=True).astype(float)
        pred = as_1d(y_pred, "y_pred", numeric=True).astype(float)
        check_lengths(y_true=truth, y_pred=pred)
        parts = sensitive_partitions(sensitive, len(truth))
        tables = _regression_tables(truth, pred, parts, int(n_bootstrap), rng, say)
        metrics, named = REGRESSION_METRICS, {}
    else:
        raise AssessmentInputError(f"task must be 'binary' or 'regression', got {task!r}")

    parameters["sensitive_features"] = [p.name for p in parts[: max(1, len(parts) - 1)]]
    say(0.9, "disparities")
    *feature_tables, overall = tables
    results: dict[str, Any] = {
        "kind": "fairness",
        "schema_version": 1,
        "parameters": parameters,
        "n_rows": len(truth),
        "metrics": list(metrics),
        "intersection": (
            {"feature": parts[-1].name, "of": [p.name for p in parts[:-1]]}
            if len(parts) > 1
            else None
        ),
        "overall": group_entries(overall, min_group_size, confidence)["overall"],
        "by_feature": {},
        "disparities": {},
        "excluded_groups": {},
        "ci_method": _ci_method(task, int(n_bootstrap), int(seed), confidence),
    }
    results["overall"].pop("small_group")
    for table in feature_tables:
        name = table.part.name
        results["by_feature"][name] = group_entries(table, min_group_size, confidence)
        eligible = table.counts >= min_group_size
        results["excluded_groups"][name] = [
            label for label, ok in zip(table.part.labels, eligible.tolist(), strict=True) if not ok
        ]
        results["disparities"][name] = disparities(
            table, eligible, named, min_group_size, confidence
        )
    say(1.0, "done")
    return results


def _classifier_tables(
    truth: np.ndarray,
    pred: np.ndarray,
    scores: np.ndarray | None,
    parts: list[Partition],
    n_bootstrap: int,
    rng: np.random.Generator,
    say: Progress,
) -> list[GroupTable]:
    finest = parts[-1]
    n_fine = len(finest.labels)
    all_parts = [*parts, Partition("overall", ["overall"], np.zeros(len(truth), dtype=np.int64))]
    # Cell k = 4 * finest group + 2 * y_true + y_pred; its count is all any rate metric needs.
    cells = finest.codes * 4 + truth.astype(np.int64) * 2 + pred
    sizes = np.bincount(cells, minlength=4 * n_fine)
    fine_counts = sizes.reshape(n_fine, 4).astype(np.float64)
    say(0.05, "per-group metrics")
    tables, maps, matrices = [], [], []
    for part in all_parts:
        to_part = _coarsening(finest.codes, part.codes, n_fine)
        matrix = bootstrap.one_hot(to_part, len(part.labels))
        maps.append(to_part)
        matrices.append(matrix)
        counts = fine_counts.T @ matrix  # (4, groups): tn, fp, fn, tp
        table = GroupTable(part, counts.sum(axis=0).astype(np.int64))
        exact = bootstrap.rates_from_counts(*counts)
        by_group = _metric_frame(sizes, to_part, part)
        for metric in RATE_METRICS:
            table.point[metric] = np.where(np.isnan(exact[metric]), np.nan, by_group[metric])
        table.point["roc_auc"] = _roc_auc_by_group(truth, scores, part)
        table.null_reasons = dict(_NULL_REASONS)
        if scores is None:
            table.null_reasons["roc_auc"] = "no y_score given"
        tables.append(table)
    if not n_bootstrap:
        return tables

    say(0.1, "bootstrap")
    resampled = bootstrap.cell_counts(rng, sizes, n_bootstrap).reshape(n_bootstrap, n_fine, 4)
    for table, matrix in zip(tables, matrices, strict=True):
        per_group = np.einsum("bfc,fg->cbg", resampled.astype(np.float64), matrix)
        table.boot = bootstrap.rates_from_counts(*per_group)
    if scores is not None:
        flat = resampled.reshape(n_bootstrap, -1)
        _bootstrap_auc(scores, cells, 4 * n_fine, flat, tables, maps, rng, say)
    return tables


def _bootstrap_auc(
    scores: np.ndarray,
    cells: np.ndarray,
    n_cells: int,
    resampled: np.ndarray,
    tables: list[GroupTable],
    maps: list[np.ndarray],
    rng: np.random.Generator,
    say: Progress,
) -> None:
    layout = bootstrap.RowLayout.from_cells(cells, n_cells)
    classes = bootstrap.AucClasses.build(
        cells[layout.order],
        scores[layout.order],
        (np.arange(n_cells) // 2) % 2,
        [np.repeat(to_part, 4) for to_part in maps],
    )
    samples = [np.empty((len(resampled), len(t.part.labels))) for t in tables]
    step = max(1, len(resampled) // 20)
    for b, counts in enumerate(resampled):
        for sample, values in zip(
            samples, classes.auc(layout.row_weights(rng, counts)), strict=True
        ):
            sample[b] = values
        if (b + 1) % step == 0:
            say(0.1 + 0.8 * (b + 1) / len(resampled), "bootstrap roc_auc")
    for table, sample in zip(tables, samples, strict=True):
        table.boot["roc_auc"] = sample


def _regression_tables(
    truth: np.ndarray,
    pred: np.ndarray,
    parts: list[Partition],
    n_bootstrap: int,
    rng: np.random.Generator,
    say: Progress,
) -> list[GroupTable]:
    finest = parts[-1]
    n_fine = len(finest.labels)
    all_parts = [*parts, Partition("overall", ["overall"], np.zeros(len(truth), dtype=np.int64))]
    errors = pred - truth
    columns = np.stack([np.abs(errors), errors * errors, pred])  # sums of these suffice
    say(0.05, "per-group metrics")
    tables, matrices = [], []
    for part in all_parts:
        k = len(part.labels)
        counts = np.bincount(part.codes, minlength=k)
        sums = np.stack([np.bincount(part.codes, weights=c, minlength=k) for c in columns])
        table = GroupTable(part, counts)
        table.point = _regression_metrics(counts.astype(np.float64), sums)
        tables.append(table)
        matrices.append(bootstrap.one_hot(_coarsening(finest.codes, part.codes, n_fine), k))
    if not n_bootstrap:
        return tables

    say(0.1, "bootstrap")
    sizes = np.bincount(finest.codes, minlength=n_fine)
    resampled = bootstrap.cell_counts(rng, sizes, n_bootstrap)
    layout = bootstrap.RowLayout.from_cells(finest.codes, n_fine)
    codes = finest.codes[layout.order]
    columns = columns[:, layout.order]
    samples: list[dict[str, list[np.ndarray]]] = [{} for _ in tables]
    step = max(1, n_bootstrap // 20)
    for b, counts in enumerate(resampled):
        weights = layout.row_weights(rng, counts)
        fine_sums = np.stack(
            [np.bincount(codes, weights=weights * c, minlength=n_fine) for c in columns]
        )
        for matrix, sample in zip(matrices, samples, strict=True):
            values = _regression_metrics(counts.astype(np.float64) @ matrix, fine_sums @ matrix)
            for metric, v in values.items():
                sample.setdefault(metric, []).append(v)
        if (b + 1) % step == 0:
            say(0.1 + 0.8 * (b + 1) / n_bootstrap, "bootstrap")
    for table, sample in zip(tables, samples, strict=True):
        table.boot = {metric: np.array(rows) for metric, rows in sample.items()}
    return tables


def _regression_metrics(counts: np.ndarray, sums: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "mae": sums[0] / counts,
            "rmse": np.sqrt(sums[1] / counts),
            "mean_prediction": sums[2] / counts,
        }


def _coarsening(fine_codes: np.ndarray, codes: np.ndarray, n_fine: int) -> np.ndarray:
    """For each finest group, the group of `codes` containing it (finest groups nest in it)."""
    mapping = np.zeros(n_fine, dtype=np.int64)
    mapping[fine_codes] = codes
    return mapping


def _metric_frame(sizes: np.ndarray, to_part: np.ndarray, part: Partition) -> pd.DataFrame:
    """Fairlearn's per-group rates, computed on the weighted confusion cells of the rows."""
    cells = np.flatnonzero(sizes)
    weights = sizes[cells].astype(np.float64)
    groups = np.asarray(part.labels, dtype=object)[to_part[cells // 4]]
    frame = MetricFrame(
        metrics=_FAIRLEARN_METRICS,
        y_true=(cells // 2) % 2,
        y_pred=cells % 2,
        sensitive_features=pd.Series(groups, name=part.name),
        sample_params={m: {"sample_weight": weights} for m in _FAIRLEARN_METRICS},
    )
    return frame.by_group.reindex(part.labels).astype(np.float64)


def _roc_auc_by_group(truth: np.ndarray, scores: np.ndarray | None, part: Partition) -> np.ndarray:
    values = np.full(len(part.labels), np.nan)
    if scores is None:
        return values
    for g in range(len(part.labels)):
        mask = part.codes == g
        y = truth[mask]
        if 0 < y.sum() < len(y):
            values[g] = skm.roc_auc_score(y, scores[mask])
    return values


def _ci_method(task: str, n_bootstrap: int, seed: int, confidence: float) -> str:
    if not n_bootstrap:
        return "none: n_bootstrap = 0"
    rows = (
        "rate metrics from multinomial counts over (group, y_true, y_pred) cells, which is the "
        "same experiment; roc_auc from row counts drawn within those cells for the same "
        "resamples (all rows, no subsampling)"
        if task == "binary"
        else "mae, rmse and mean_prediction from row counts drawn within groups (exact)"
    )
    return (
        f"percentile bootstrap, {confidence:.6g} level: {n_bootstrap} resamples of all rows with "
        f"replacement from numpy.random.default_rng({seed}); {rows}. Groups and their eligibility "
        "are fixed from the original data; resamples where a value is undefined are dropped "
        "from its interval and counted in ci_undefined_resamples."
    )
