"""Fairness charts: metrics by group with intervals (one per feature), and a disparity summary.

Reads the layout documented in `governance.assessments.fairness` (also after a round trip
through results_json, where NaN is the string "NaN"). Missing or null values are drawn as "n/a"
with the reason in a footnote; a feature without groups gets no chart.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from governance.assessments.charts.base import (
    GREY,
    MUTED,
    PALETTE,
    Chart,
    Slugs,
    add_footnote,
    fmt,
    header,
    interval,
    mapping,
    new_figure,
    number,
    render,
    shorten,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

KEY_METRICS = {
    "binary": ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"),
    "regression": ("mae", "rmse", "mean_prediction"),
}
RATES = {
    "selection_rate",
    "accuracy",
    "precision",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "roc_auc",
}
METRIC_LABELS = {
    "selection_rate": "Selection rate",
    "true_positive_rate": "True positive rate",
    "false_positive_rate": "False positive rate",
    "false_negative_rate": "False negative rate",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "roc_auc": "ROC AUC",
    "mae": "MAE",
    "rmse": "RMSE",
    "mean_prediction": "Mean prediction",
}
BINARY_DISPARITIES = {
    "demographic_parity_difference": "Demographic parity difference\n(selection rate, max \u2212 min)",
    "equalized_odds_difference": "Equalized odds difference\n(worse of TPR and FPR gaps)",
    "equal_opportunity_difference": "Equal opportunity difference\n(true positive rate, max \u2212 min)",
}
REGRESSION_GAPS = {"mae": "MAE gap (max \u2212 min)", "rmse": "RMSE gap (max \u2212 min)"}
MAX_GROUPS = 25
ROW_IN = 0.3


@dataclass
class Panel:
    """One horizontal bar panel: a value and an interval per row, or None for a gap."""

    title: str
    values: list[float | None]
    cis: list[tuple[float, float] | None]
    color: str
    reference: float | None = None
    bounded: bool = False
    annotate: bool = False
    muted: list[bool] = field(default_factory=list)


def fairness_charts(results: dict) -> list[Chart]:
    """Per-feature metric charts (sensitive features, then their intersection) and the
    disparity summary, each as PNG and SVG; see the module docstring."""
    results = mapping(results)
    task = _task(results)
    parameters = mapping(results.get("parameters"))
    min_size = number(parameters.get("min_group_size"))
    confidence = number(parameters.get("confidence")) or 0.95
    overall = mapping(results.get("overall"))
    slugs = Slugs()
    charts: list[Chart] = []
    by_feature = mapping(results.get("by_feature"))
    for feature in _feature_order(results, by_feature):
        groups = by_feature[feature]
        groups = {str(label): mapping(entry) for label, entry in mapping(groups).items()}
        metrics = [m for m in KEY_METRICS[task] if _has_metric(m, groups, overall)]
        if not groups or not metrics:
            continue
        title = f"Fairness metrics by {feature} group"
        charts += render(
            slugs("fairness", str(feature)),
            title,
            lambda g=groups, m=metrics, t=title: _by_group_figure(
                t, g, m, overall, min_size, confidence
            ),
        )
    disparity = _disparity_rows(results, task)
    if disparity:
        title = "Disparities across groups, by sensitive feature"
        charts += render(
            "disparities",
            title,
            lambda: _disparity_figure(title, disparity, task, confidence, min_size),
        )
    return charts


def _task(results: dict[str, Any]) -> str:
    task = mapping(results.get("parameters")).get("task")
    if task in KEY_METRICS:
        return str(task)
    metrics = results.get("metrics")
    return "regression" if isinstance(metrics, list) and "mae" in metrics else "binary"


def _feature_order(results: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """The declared features, then their intersection, then any others by name: the same
    order whether `results` is fresh or read back from JSON with its keys sorted."""
    declared = mapping(results.get("parameters")).get("sensitive_features")
    order = [str(f) for f in declared] if isinstance(declared, list) else []
    order.append(str(mapping(results.get("intersection")).get("feature")))
    known = [f for f in dict.fromkeys(order) if f in found]
    return known + sorted(str(f) for f in found if f not in known)


def _has_metric(metric: str, groups: dict[str, dict], overall: dict[str, Any]) -> bool:
    return metric in overall or any(metric in entry for entry in groups.values())


def _by_group_figure(
    title: str,
    groups: dict[str, dict[str, Any]],
    metrics: list[str],
    overall: dict[str, Any],
    min_size: float | None,
    confidence: float,
) -> "Figure":
    labels = list(groups)
    notes = []
    if len(labels) > MAX_GROUPS:
        # Largest groups first; ties by label so the choice is deterministic.
        by_size = sorted(labels, key=lambda g: (-(number(groups[g].get("count")) or 0), g))
        kept = set(by_size[:MAX_GROUPS])
        hidden = [g for g in labels if g not in kept]
        hidden_rows = sum(number(groups[g].get("count")) or 0 for g in hidden)
        notes.append(
            f"Showing the {MAX_GROUPS} largest of {len(labels)} groups; {len(hidden)} smaller "
            f"groups ({int(hidden_rows):,} rows in all) are not drawn but remain in the results."
        )
        labels = [g for g in labels if g in kept]
    small = [bool(groups[g].get("small_group")) for g in labels]
    row_labels = [_group_label(g, groups[g], small[i], min_size) for i, g in enumerate(labels)]
    panels = []
    nulls: dict[tuple[str, str], list[str]] = {}
    for k, metric in enumerate(metrics):
        values = [number(groups[g].get(metric)) for g in labels]
        for g, value in zip(labels, values, strict=True):
            if value is None:
                reason = mapping(groups[g].get("null_reasons")).get(metric) or "no value"
                nulls.setdefault((metric, str(reason)), []).append(g)
        panels.append(
            Panel(
                title=METRIC_LABELS.get(metric, metric),
                values=values,
                cis=[interval(mapping(groups[g].get("ci")).get(metric)) for g in labels],
                color=PALETTE[k % len(PALETTE)],
                reference=number(overall.get(metric)),
                bounded=metric in RATES,
                muted=small,
            )
        )
    if any(small):
        size = f"fewer than {int(min_size)}" if min_size is not None else "too few"
        notes.append(f"Hatched grey bars: small groups ({size} rows), left out of every disparity.")
    for (metric, reason), missing in nulls.items():
        names = ", ".join(missing[:4]) + (
            f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        )
        notes.append(f"n/a — {METRIC_LABELS.get(metric, metric)}: {reason} ({names}).")
    width = _width(row_labels, len(panels), 2.6)
    height = 1.9 + ROW_IN * len(labels) + 0.17 * _note_lines(notes, width)
    figure = new_figure(width, max(height, 3.2))
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        _draw_panel(ax, panel)
    _set_rows(axes[0], row_labels, muted=small)
    _legend(figure, title, confidence, small=any(small), overall=True)
    add_footnote(figure, notes, width)
    return figure


def _group_label(group: str, entry: dict[str, Any], small: bool, min_size: float | None) -> str:
    count = number(entry.get("count"))
    size = "" if count is None else f"n={int(count):,}"
    if small and min_size is not None:
        size = f"{size} < {int(min_size)}" if size else f"n < {int(min_size)}"
    return f"{shorten(group)} ({size})" if size else shorten(group)


def _width(row_labels: list[str], n_panels: int, panel_in: float) -> float:
    # DejaVu Sans at 9 pt averages about 0.07 in per character.
    label_in = 0.07 * max((len(label) for label in row_labels), default=10) + 0.4
    return max(8.0, min(label_in + panel_in * n_panels + 0.4, 16.0))


def _note_lines(notes: list[str], width: float) -> int:
    per_line = max(40, int(width * 15))
    return sum(len(note) // per_line + 1 for note in notes)


def _draw_panel(ax: "Axes", panel: Panel) -> None:
    rows = range(len(panel.values))
    finite = [v for v in panel.values if v is not None]
    finite += [x for ci in panel.cis if ci is not None for x in ci]
    if panel.reference is not None:
        finite.append(panel.reference)
    lo = min([0.0, *finite])
    hi = max([0.0, *finite])
    if panel.bounded:
        lo, hi = min(lo, 0.0), max(hi, 1.0)
    span = (hi - lo) or 1.0
    pad = 0.18 * span if panel.annotate else 0.04 * span
    ax.set_xlim(lo - (0.04 * span if lo < 0 else 0.0), hi + pad)
    if not finite:
        ax.set_xticks([])  # nothing to measure: an empty scale would only suggest zeros
    muted = panel.muted or [False] * len(panel.values)
    for grey in (False, True):
        drawn = [
            (y, v)
            for y, v, g in zip(rows, panel.values, muted, strict=True)
            if v is not None and g == grey
        ]
        if drawn:
            ax.barh(
                [y for y, _ in drawn],
                [v for _, v in drawn],
                height=0.64,
                color="#d9d9d9" if grey else panel.color,
                edgecolor=GREY if grey else panel.color,
                hatch="///" if grey else None,
                linewidth=0.6,
            )
    for y, value, ci in zip(rows, panel.values, panel.cis, strict=True):
        if value is None:
            ax.text(lo + 0.01 * span, y, "n/a", va="center", ha="left", color=MUTED, style="italic")
        elif panel.annotate:
            end = max(value, ci[1] if ci else value)
            ax.text(end + 0.015 * span, y, fmt(value), va="center", ha="left", fontsize=8)
    # Whiskers span the interval itself: a percentile bootstrap interval need not be centred
    # on (or even contain) the point estimate, so they are not drawn as value ± error.
    spans = [(y, ci) for y, ci in zip(rows, panel.cis, strict=True) if ci is not None]
    if spans:
        ax.errorbar(
            [(ci[0] + ci[1]) / 2 for _, ci in spans],
            [y for y, _ in spans],
            xerr=[(ci[1] - ci[0]) / 2 for _, ci in spans],
            fmt="none",
            ecolor="#222222",
            elinewidth=1.0,
            capsize=3,
        )
    if panel.reference is not None:
        ax.axvline(panel.reference, color="#222222", linestyle="--", linewidth=1.0)
    if lo < 0:
        ax.axvline(0.0, color=GREY, linewidth=0.6)
    ax.set_title(panel.title)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0)


def _set_rows(ax: "Axes", labels: list[str], muted: list[bool]) -> None:
    ax.set_yticks(range(len(labels)), labels)
    # First group on top; one or two rows keep the height of three rather than fill the panel.
    extra = max(0.0, (3 - len(labels)) / 2)
    ax.set_ylim(len(labels) - 0.5 + extra, -0.5 - extra)
    for tick, grey in zip(ax.get_yticklabels(), muted, strict=True):
        if grey:
            tick.set_color(MUTED)
            tick.set_style("italic")


def _legend(figure: "Figure", title: str, confidence: float, *, small: bool, overall: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Line2D([], [], color="#222222", marker="|", markersize=8, linewidth=1.0),
    ]
    texts = [f"{confidence:.0%} bootstrap confidence interval"]
    if overall:
        handles.append(Line2D([], [], color="#222222", linestyle="--", linewidth=1.0))
        texts.append("overall (all rows)")
    if small:
        handles.append(Patch(facecolor="#d9d9d9", edgecolor=GREY, hatch="///"))
        texts.append("small group (see note)")
    header(figure, title, handles, texts)


@dataclass
class DisparityRow:
    feature: str
    label: str
    values: dict[str, float | None]
    cis: dict[str, tuple[float, float] | None]
    reasons: dict[str, str]


def _disparity_rows(results: dict[str, Any], task: str) -> list[DisparityRow]:
    rows = []
    found = mapping(results.get("disparities"))
    for feature in _feature_order(results, found):
        entry = mapping(found[feature])
        compared = entry.get("groups_compared")
        n = len(compared) if isinstance(compared, list) else None
        label = shorten(str(feature))
        if n is not None:
            label += f" ({n} group{'' if n == 1 else 's'})"
        reasons = {str(k): str(v) for k, v in mapping(entry.get("null_reasons")).items()}
        values: dict[str, float | None] = {}
        cis: dict[str, tuple[float, float] | None] = {}
        if task == "binary":
            for name in BINARY_DISPARITIES:
                values[name] = number(entry.get(name))
                cis[name] = interval(mapping(entry.get("ci")).get(name))
        else:
            gaps = mapping(entry.get("max_gap"))
            for metric in REGRESSION_GAPS:
                gap = mapping(gaps.get(metric))
                values[metric] = number(gap.get("difference"))
                cis[metric] = interval(mapping(gap.get("ci")).get("difference"))
                if values[metric] is None:
                    reason = mapping(gap.get("null_reasons")).get("difference")
                    reasons[metric] = str(reason or reasons.get("max_gap") or "no value")
        rows.append(DisparityRow(str(feature), label, values, cis, reasons))
    return rows


def _disparity_figure(
    title: str, rows: list[DisparityRow], task: str, confidence: float, min_size: float | None
) -> "Figure":
    names = BINARY_DISPARITIES if task == "binary" else REGRESSION_GAPS
    panels = [
        Panel(
            title=heading,
            values=[row.values[name] for row in rows],
            cis=[row.cis[name] for row in rows],
            color=PALETTE[k % len(PALETTE)],
            annotate=True,
        )
        for k, (name, heading) in enumerate(names.items())
    ]
    size = f"at least {int(min_size)} rows" if min_size is not None else "enough rows"
    notes = [
        f"Each gap compares only the groups with {size} (their number is in parentheses). "
        "0 means equal; a higher gap is a larger disparity."
    ]
    reasons: dict[str, list[str]] = {}
    for row in rows:
        for name in names:
            if row.values[name] is None:
                reason = row.reasons.get(name) or "no value"
                reasons.setdefault(reason, []).append(row.feature)
    for reason, features in reasons.items():
        notes.append(f"n/a — {', '.join(dict.fromkeys(features))}: {reason}.")
    labels = [row.label for row in rows]
    width = _width(labels, len(panels), 3.2)
    height = 2.2 + 0.45 * len(rows) + 0.17 * _note_lines(notes, width)
    figure = new_figure(width, max(height, 3.2))
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        _draw_panel(ax, panel)
    _set_rows(axes[0], labels, muted=[False] * len(labels))
    _legend(figure, title, confidence, small=False, overall=False)
    add_footnote(figure, notes, width)
    return figure
