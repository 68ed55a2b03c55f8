"""Performance chart: confusion matrix and metric bars (binary), error metrics (regression).

Reads the layout of `governance.assessments.performance.performance_report`.
"""

from typing import TYPE_CHECKING, Any

from governance.assessments.charts.base import (
    MUTED,
    PALETTE,
    Chart,
    add_footnote,
    fmt,
    mapping,
    new_figure,
    number,
    render,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

UNIT_METRICS = {  # on a 0-1 scale, so they share one axis
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "brier_score": "Brier score (lower is better)",
}
CELLS = (
    ("true_negatives", "false_positives"),
    ("false_negatives", "true_positives"),
)


def performance_charts(results: dict) -> list[Chart]:
    """Chart "performance" as PNG and SVG, or [] when the results hold no metric to draw."""
    results = mapping(results)
    metrics = mapping(results.get("metrics"))
    if not metrics:
        return []
    title = f"Predictive performance on {_rows(results)}"
    if results.get("task") == "regression":
        return render("performance", title, lambda: _regression_figure(title, results))
    return render("performance", title, lambda: _binary_figure(title, results))


def _binary_figure(title: str, results: dict[str, Any]) -> "Figure":
    metrics = mapping(results.get("metrics"))
    reasons = mapping(results.get("null_reasons"))
    counts = mapping(results.get("counts"))
    names = list(UNIT_METRICS)
    values = [number(metrics.get(m)) for m in names]
    notes = [
        f"n/a — {UNIT_METRICS[m]}: {reasons.get(m) or 'no value'}."
        for m, v in zip(names, values, strict=True)
        if v is None
    ]
    log_loss = number(metrics.get("log_loss"))
    if log_loss is not None:
        notes.append(f"Log loss: {fmt(log_loss)} (not on the 0\u20131 scale, so not drawn).")
    parameters = mapping(results.get("parameters"))
    if parameters.get("y_pred_source"):
        notes.append(f"Predicted labels: {parameters['y_pred_source']}.")
    width = 10.0
    figure = new_figure(width, 4.4 + 0.17 * len(notes))
    figure.suptitle(title)
    left, right = figure.subplots(1, 2, width_ratios=[1, 1.5])
    _confusion(left, counts, parameters.get("pos_label"))
    for y, (name, value) in enumerate(zip(names, values, strict=True)):
        if value is None:
            right.text(0.01, y, "n/a", va="center", color=MUTED, style="italic")
            continue
        right.barh(y, value, height=0.64, color=PALETTE[0] if name != "brier_score" else PALETTE[1])
        right.text(value + 0.01, y, fmt(value), va="center", ha="left", fontsize=8)
    right.set_xlim(0, 1.12)
    right.set_yticks(range(len(names)), [UNIT_METRICS[m] for m in names])
    right.set_ylim(len(names) - 0.5, -0.5)
    right.set_title("Metrics")
    right.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    right.set_axisbelow(True)
    right.tick_params(axis="y", length=0)
    add_footnote(figure, notes, width)
    return figure


def _rows(results: dict[str, Any]) -> str:
    n = number(results.get("n_rows"))
    return "the evaluation data" if n is None else f"{int(n):,} rows"


def _confusion(ax: "Axes", counts: dict[str, Any], pos_label: Any) -> None:
    import numpy as np

    cells = np.array([[number(counts.get(c)) for c in row] for row in CELLS], dtype=object)
    known = [v for v in cells.ravel() if v is not None]
    total = sum(known) or 1.0
    shade = np.array([[(v or 0.0) / total for v in row] for row in cells], dtype=float)
    ax.imshow(shade, cmap="Blues", vmin=0.0, vmax=max(float(shade.max()), 1e-9) * 1.3)
    for i in range(2):
        for j in range(2):
            value = cells[i, j]
            text = "n/a" if value is None else f"{int(value):,}\n{value / total:.1%}"
            ax.text(j, i, text, ha="center", va="center", fontsize=10)
    positive = "positive" if pos_label is None else f"positive ({pos_label})"
    ticks = ["negative", positive]
    ax.set_xticks([0, 1], ticks)
    ax.set_yticks([0, 1], ticks, rotation=90, va="center")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _regression_figure(title: str, results: dict[str, Any]) -> "Figure":
    metrics = mapping(results.get("metrics"))
    reasons = mapping(results.get("null_reasons"))
    notes = []
    errors = {"MAE": number(metrics.get("mae")), "RMSE": number(metrics.get("rmse"))}
    r2 = number(metrics.get("r2"))
    for key, name, value in (
        ("mae", "MAE", errors["MAE"]),
        ("rmse", "RMSE", errors["RMSE"]),
        ("r2", "R²", r2),
    ):
        if value is None:
            notes.append(f"n/a — {name}: {reasons.get(key) or 'no value'}.")
    target, prediction = number(results.get("mean_target")), number(results.get("mean_prediction"))
    if target is not None and prediction is not None:
        notes.append(f"Mean target {fmt(target)}, mean prediction {fmt(prediction)}.")
    width = 9.0
    figure = new_figure(width, 3.2 + 0.17 * len(notes))
    figure.suptitle(title)
    left, right = figure.subplots(1, 2, width_ratios=[1.6, 1])
    top = max([v for v in errors.values() if v is not None] or [1.0]) or 1.0
    for y, value in enumerate(errors.values()):
        if value is None:
            left.text(0.01 * top, y, "n/a", va="center", color=MUTED, style="italic")
            continue
        left.barh(y, value, height=0.6, color=PALETTE[0])
        left.text(value + 0.01 * top, y, fmt(value), va="center", ha="left", fontsize=8)
    left.set_xlim(0, top * 1.2)
    left.set_yticks([0, 1], list(errors))
    left.set_ylim(1.5, -0.5)
    left.set_title("Errors (target units, lower is better)")
    left.tick_params(axis="y", length=0)
    lo = min(0.0, r2 if r2 is not None else 0.0)
    if r2 is None:
        right.text(0.5, 0, "n/a", va="center", ha="center", color=MUTED, style="italic")
    else:
        right.barh(0, r2, height=0.6, color=PALETTE[2])
        right.text(max(r2, 0.0) + 0.01, 0, fmt(r2), va="center", ha="left", fontsize=8)
    right.set_xlim(lo - (0.05 if lo < 0 else 0.0), 1.15)
    right.set_ylim(1.5, -0.5)
    right.set_yticks([0], ["R²"])
    right.set_title("R² (1 is perfect)")
    right.tick_params(axis="y", length=0)
    if lo < 0:
        right.axvline(0.0, color=MUTED, linewidth=0.6)
    add_footnote(figure, notes, width)
    return figure
