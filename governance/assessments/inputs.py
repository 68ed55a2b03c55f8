"""Input checks shared by the assessment computations, and the error they raise.

`AssessmentInputError` is meant to become the failed assessment's reason as it stands, so
every message names the offending input and what was expected.

Binary conventions: metrics work on 0/1 arrays where 1 is the positive class. `binarize` maps raw
labels (for example ">50K"/"<=50K") onto that encoding and refuses anything that is not
two-valued, because a multi-class target fed to a binary metric gives numbers that look
plausible and mean nothing.
"""

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# U+00D7 MULTIPLICATION SIGN joins the feature names ("sex" and "race" give "sex\u00d7race")
# and the group values of an intersection. It reads as a product of partitions, and real
# category names essentially never contain it (unlike "&", "-" or ":"); inputs that do are
# refused so that a key always splits back unambiguously.
INTERSECTION_SEP = "\u00d7"


class AssessmentInputError(ValueError):
    """The inputs cannot give a meaningful result; the message says which input and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def as_1d(values: Any, name: str, *, numeric: bool = False) -> np.ndarray:
    """A 1-D numpy view of `values`; refuses missing values (and non-finite ones if numeric)."""
    if values is None:
        raise AssessmentInputError(f"{name} is required")
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise AssessmentInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if len(arr) == 0:
        raise AssessmentInputError(f"{name} is empty")
    if numeric:
        if arr.dtype == bool:
            arr = arr.astype(np.int8)
        if not np.issubdtype(arr.dtype, np.number):
            raise AssessmentInputError(f"{name} must be numeric, got dtype {arr.dtype}")
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise AssessmentInputError(f"{name} has {bad} missing or infinite values")
    else:
        missing = int(pd.isna(arr).sum())
        if missing:
            raise AssessmentInputError(f"{name} has {missing} missing values")
    return arr


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def two_valued(arr: np.ndarray, name: str) -> list[Any]:
    distinct = [_scalar(v) for v in pd.unique(arr)]
    if len(distinct) > 2:
        shown = ", ".join(repr(v) for v in sorted(distinct, key=str)[:10])
        raise AssessmentInputError(
            f"{name} must be binary for binary metrics, but it has {len(distinct)} distinct "
            f"values: {shown}"
        )
    return distinct


def binarize(labels: Any, pos_label: Hashable = 1, *, name: str = "labels") -> np.ndarray:
    """Map labels to an int8 array: 1 where the label equals `pos_label`, else 0.

    Refuses missing values, more than two distinct labels, and a `pos_label` that does not occur
    (a typo such as ">50K." would otherwise silently turn every row negative). 0/1 and boolean
    labels with pos_label=1 pass even when one class is absent, so an all-negative slice works.
    """
    arr = as_1d(labels, name)
    distinct = two_valued(arr, name)
    hits = arr == pos_label
    already_01 = pos_label == 1 and all(v in (0, 1) for v in distinct)
    if not hits.any() and not already_01:
        shown = ", ".join(repr(v) for v in distinct)
        raise AssessmentInputError(f"pos_label {pos_label!r} does not occur in {name} ({shown})")
    return hits.astype(np.int8)


def binary_predictions(
    *,
    y_true: Any,
    y_pred: Any,
    y_score: Any,
    threshold: float,
    pos_label: Hashable,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """(y_true as 0/1, y_pred as 0/1, scores or None, where y_pred came from).

    Given hard predictions win over y_score (they are the model's own decision rule, and
    `threshold` is then unused); otherwise y_pred = (y_score >= threshold). Scores may be
    probabilities or margins: ROC AUC needs only their order.
    """
    truth = binarize(y_true, pos_label, name="y_true")
    scores = None if y_score is None else as_1d(y_score, "y_score", numeric=True).astype(float)
    if y_pred is not None:
        raw = as_1d(y_pred, "y_pred")
        # A model may never predict the positive class, so y_pred need not contain pos_label,
        # but it must speak the same labels as y_true (0/1 against ">50K" is a mapping bug).
        allowed = [*two_valued(as_1d(y_true, "y_true"), "y_true"), pos_label]
        strangers = [v for v in two_valued(raw, "y_pred") if v not in allowed]
        if strangers:
            raise AssessmentInputError(
                f"y_pred has labels that y_true does not: {', '.join(map(repr, strangers))}"
            )
        pred = (raw == pos_label).astype(np.int8)
        source = "y_pred"
    elif scores is not None:
        if not np.isfinite(threshold):
            raise AssessmentInputError(f"threshold must be finite, got {threshold!r}")
        pred = (scores >= threshold).astype(np.int8)
        source = f"y_score >= {float(threshold)!r}"
    else:
        raise AssessmentInputError("binary assessments need y_pred or y_score")
    check_lengths(y_true=truth, y_pred=pred, y_score=scores)
    return truth, pred, scores, source


def check_lengths(**arrays: np.ndarray | pd.DataFrame | None) -> int:
    """The common length of the given arrays; refuses a mismatch naming every length."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise AssessmentInputError(f"inputs have different lengths: {shown}")
    return next(iter(lengths.values()))


@dataclass(frozen=True)
class Partition:
    """Rows split into groups: `codes[i]` indexes `labels`, which are sorted strings."""

    name: str
    labels: list[str]
    codes: np.ndarray


def sensitive_partitions(sensitive: pd.DataFrame, n_rows: int) -> list[Partition]:
    """One partition per declared feature, then their intersection when there are several.

    Group values become strings (JSON keys); two values that print alike (1 and "1") would then
    merge silently, so that is refused, as are missing values, which have no honest group.
    """
    if not isinstance(sensitive, pd.DataFrame) or sensitive.shape[1] == 0:
        raise AssessmentInputError("sensitive must be a DataFrame with at least one column")
    if len(sensitive) != n_rows:
        raise AssessmentInputError(
            f"sensitive has {len(sensitive)} rows but the predictions have {n_rows}"
        )
    parts: list[Partition] = []
    for name in sensitive.columns:
        if not isinstance(name, str) or not name or INTERSECTION_SEP in name:
            raise AssessmentInputError(f"sensitive feature name {name!r} is not usable")
        column = sensitive[name]
        missing = int(column.isna().sum())
        if missing:
            raise AssessmentInputError(
                f"sensitive feature {name!r} has {missing} missing values; "
                "map them to an explicit group first"
            )
        raw_codes, uniques = pd.factorize(column, sort=False)
        labels = [str(_scalar(v)) for v in uniques]
        if len(set(labels)) != len(labels):
            raise AssessmentInputError(f"sensitive feature {name!r} has values that print alike")
        if any(INTERSECTION_SEP in label for label in labels):
            raise AssessmentInputError(
                f"sensitive feature {name!r} has a value containing {INTERSECTION_SEP!r}"
            )
        # Sorted labels make codes, and thus the bootstrap's cell order, independent of row order.
        order = np.argsort(np.array(labels, dtype=object), kind="stable")
        rank = np.empty(len(labels), dtype=np.int64)
        rank[order] = np.arange(len(labels))
        parts.append(Partition(name, [labels[i] for i in order], rank[raw_codes]))
    if len(parts) > 1:
        parts.append(_intersection(parts))
    return parts


def _intersection(parts: list[Partition]) -> Partition:
    combined = np.zeros(len(parts[0].codes), dtype=np.int64)
    for part in parts:
        combined = combined * len(part.labels) + part.codes
    # Mixed-radix codes sort like the tuple of labels, so only observed combinations remain,
    # in lexicographic order of (feature 1, feature 2, ...).
    observed, codes = np.unique(combined, return_inverse=True)
    labels = []
    for code in observed.tolist():
        values = []
        for part in reversed(parts):
            code, digit = divmod(code, len(part.labels))
            values.append(part.labels[digit])
        labels.append(INTERSECTION_SEP.join(reversed(values)))
    name = INTERSECTION_SEP.join(p.name for p in parts)
    return Partition(name, labels, codes.astype(np.int64))
