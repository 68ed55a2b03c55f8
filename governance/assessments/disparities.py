"""Per-group tables turned into the results layout: entries with intervals, and disparities.

A disparity compares the eligible groups of one feature: the difference is max - min and the
ratio min / max, as Fairlearn's MetricFrame.difference() and .ratio() compute them with
method="between_groups". Values a group lacks (null) are left out of the comparison instead
of being compared as 0, and a bootstrap interval of a gap is the percentile interval of that
same gap recomputed on every resample.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np

from governance.assessments import bootstrap
from governance.assessments.inputs import Partition

# name -> (metrics, how to combine their gaps): Fairlearn's definitions of each disparity.
DISPARITIES: dict[str, tuple[tuple[str, ...], str]] = {
    "demographic_parity_difference": (("selection_rate",), "difference"),
    "demographic_parity_ratio": (("selection_rate",), "ratio"),
    "equalized_odds_difference": (("true_positive_rate", "false_positive_rate"), "difference"),
    "equalized_odds_ratio": (("true_positive_rate", "false_positive_rate"), "ratio"),
    "equal_opportunity_difference": (("true_positive_rate",), "difference"),
    "equal_opportunity_ratio": (("true_positive_rate",), "ratio"),
}


@dataclass
class GroupTable:
    """Per-group numbers of one partition: point values and (n_bootstrap, groups) resamples."""

    part: Partition
    counts: np.ndarray
    point: dict[str, np.ndarray] = field(default_factory=dict)
    boot: dict[str, np.ndarray] = field(default_factory=dict)
    null_reasons: dict[str, str] = field(default_factory=dict)


def _gaps(
    values: np.ndarray, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str] | None]]:
    """Largest difference (max - min) and ratio (min / max) across columns, per row.

    NaN where fewer than two groups have a defined value, and the ratio also where a value is
    negative (min/max of signed numbers is no disparity measure) or the maximum is 0.
    Also returns, per row, the (lowest, highest) group labels; ties go to the first label.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    finite = np.isfinite(values)
    enough = finite.sum(axis=1) >= 2
    lo_idx = np.argmin(np.where(finite, values, np.inf), axis=1)
    hi_idx = np.argmax(np.where(finite, values, -np.inf), axis=1)
    rows = np.arange(values.shape[0])
    lo, hi = values[rows, lo_idx], values[rows, hi_idx]
    difference = np.where(enough, hi - lo, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(enough & (lo >= 0) & (hi > 0), lo / hi, np.nan)
    named = [
        (labels[a], labels[b]) if ok else None
        for a, b, ok in zip(lo_idx.tolist(), hi_idx.tolist(), enough.tolist(), strict=True)
    ]
    return difference, ratio, named


_NO_VALUES = "fewer than two compared groups have a value"
_NO_RATIO = "fewer than two compared groups have a value, the largest is 0, or one is negative"


def group_entries(
    table: GroupTable, min_group_size: int, confidence: float
) -> dict[str, dict[str, Any]]:
    """results["by_feature"][feature]: per group its count, metrics, intervals and flags."""
    cis = {m: bootstrap.percentile_intervals(s, confidence) for m, s in table.boot.items()}
    n_boot = next((len(s) for s in table.boot.values()), 0)
    entries = {}
    for g, label in enumerate(table.part.labels):
        entry: dict[str, Any] = {
            "count": int(table.counts[g]),
            "small_group": bool(table.counts[g] < min_group_size),
            "ci": {},
        }
        for metric, values in table.point.items():
            entry[metric] = _num(values[g])
            if entry[metric] is None:
                reason = table.null_reasons.get(metric, "undefined for this group")
                entry.setdefault("null_reasons", {})[metric] = reason
            if metric in cis:
                intervals, valid = cis[metric]
                entry["ci"][metric] = _interval(intervals[g])
                if valid[g] < n_boot:
                    entry.setdefault("ci_undefined_resamples", {})[metric] = n_boot - valid[g]
        entries[label] = entry
    return entries


def disparities(
    table: GroupTable,
    eligible: np.ndarray,
    named: dict[str, tuple[tuple[str, ...], str]],
    min_group_size: int,
    confidence: float,
) -> dict[str, Any]:
    """results["disparities"][feature]: the named disparities and every metric's max gap,
    over the groups marked `eligible` only, each with its bootstrap interval."""
    labels = [label for label, ok in zip(table.part.labels, eligible.tolist(), strict=True) if ok]
    out: dict[str, Any] = {"groups_compared": labels, "max_gap": {}, "ci": {}}
    if len(labels) < 2:
        reason = f"fewer than two groups with at least {min_group_size} rows"
        out["null_reasons"] = {name: reason for name in [*named, "max_gap"]}
        out.update(dict.fromkeys(named))
        return out
    point, boot = {}, {}
    for metric, values in table.point.items():
        difference, ratio, groups = _gaps(values[eligible][None, :], labels)
        point[metric] = {"difference": difference, "ratio": ratio}
        gap: dict[str, Any] = {
            "difference": _num(difference[0]),
            "ratio": _num(ratio[0]),
            "groups": None if groups[0] is None else list(groups[0]),
        }
        reasons = {"difference": _NO_VALUES, "ratio": _NO_RATIO}
        if nulls := {kind: reasons[kind] for kind in reasons if gap[kind] is None}:
            gap["null_reasons"] = nulls
        if metric in table.boot:
            diff_b, ratio_b, _ = _gaps(table.boot[metric][:, eligible], labels)
            boot[metric] = {"difference": diff_b, "ratio": ratio_b}
            gap["ci"] = {kind: _interval_of(s, confidence) for kind, s in boot[metric].items()}
        out["max_gap"][metric] = gap
    for name, (metrics, kind) in named.items():
        # Equalized odds is the worse of the TPR and FPR gaps, Fairlearn's agg="worst_case".
        combine = np.maximum if kind == "difference" else np.minimum
        out[name] = _num(reduce(combine, [point[m][kind] for m in metrics])[0])
        if out[name] is None:
            reason = _NO_VALUES if kind == "difference" else _NO_RATIO
            out.setdefault("null_reasons", {})[name] = reason
        if all(m in boot for m in metrics):
            sample = reduce(combine, [boot[m][kind] for m in metrics])
            out["ci"][name] = _interval_of(sample, confidence)
    return out


def _num(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _interval(found: tuple[float, float] | None) -> list[float] | None:
    return None if found is None else [found[0], found[1]]


def _interval_of(sample: np.ndarray, confidence: float) -> list[float] | None:
    return _interval(bootstrap.percentile_intervals(sample[:, None], confidence)[0][0])
