"""SHAP charts: global importance bars and a beeswarm of per-row contributions.

The beeswarm is drawn here with the object API rather than by `shap.plots.beeswarm`: shap's
plot jitters with the global NumPy RNG (`np.random.shuffle`, `np.random.randn`), so two calls
give different bytes and threads disturb each other's draws, and it reaches for pyplot state
(`plt.gca()`, `plt.show()`). Ours jitters with a fixed-seed Generator and keeps shap's look:
one row per feature, dots spread vertically by local density, coloured from low to high
feature value, grey where the value is missing or categorical.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from governance.assessments.charts.base import (
    GREY,
    MUTED,
    PALETTE,
    Chart,
    add_footnote,
    fmt,
    header,
    mapping,
    new_figure,
    number,
    render,
    shorten,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TOP_FEATURES = 20
MAX_ROWS = 2000
SEED = 0
SENSITIVE = PALETTE[5]
OTHER = PALETTE[0]
LOW_HIGH = ("#008bfb", "#ff0051")  # shap's blue-to-red, through purple rather than grey
MISSING = "#b8b8b8"


@dataclass(frozen=True, eq=False)
class BeeswarmData:
    """SHAP values and feature values per row, aggregated by source column.

    values[i, j] is row i's SHAP contribution of column j; data[i, j] its feature value as a
    float, NaN where it is missing or categorical (drawn grey). Both arrays are (n, m).
    """

    columns: list[str]
    values: np.ndarray
    data: np.ndarray

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        data = np.asarray(self.data, dtype=np.float64)
        if values.ndim != 2 or values.shape != data.shape or values.shape[1] != len(self.columns):
            raise ValueError(
                f"values {values.shape} and data {data.shape} must both be "
                f"(rows, {len(self.columns)} columns)"
            )
        object.__setattr__(self, "columns", [str(c) for c in self.columns])
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "data", data)


def explainability_charts(results: dict, beeswarm: BeeswarmData | None) -> list[Chart]:
    """Charts "shap-importance" (from results) and "shap-beeswarm" (from `beeswarm`), each as
    PNG and SVG; either is left out when it has nothing to draw."""
    results = mapping(results)
    method = mapping(results.get("method"))
    space = str(method.get("output_space") or "model output")
    sensitive = {str(f) for f in _list(mapping(results.get("sensitive_share")).get("features"))}
    ranking = [str(c) for c in _list(results.get("ranking"))]
    charts: list[Chart] = []
    importance = {str(k): number(v) for k, v in mapping(results.get("global_importance")).items()}
    if importance:
        order = _order(ranking, importance)
        title = "Global feature importance (mean |SHAP value|)"
        charts += render(
            "shap-importance",
            title,
            lambda: _importance_figure(title, results, order, importance, sensitive, space),
        )
    if beeswarm is not None and beeswarm.values.size:
        title = "SHAP values per row (beeswarm)"
        charts += render(
            "shap-beeswarm",
            title,
            lambda: _beeswarm_figure(title, beeswarm, ranking, sensitive, space),
        )
    return charts


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _order(ranking: list[str], importance: dict[str, float | None]) -> list[str]:
    """The ranking's order, then unranked columns by importance (nulls last), then name."""
    ranked = [c for c in dict.fromkeys(ranking) if c in importance]
    rest = sorted(
        (c for c in importance if c not in ranked),
        key=lambda c: (importance[c] is None, -(importance[c] or 0.0), c),
    )
    return ranked + rest


def _importance_figure(
    title: str,
    results: dict[str, Any],
    order: list[str],
    importance: dict[str, float | None],
    sensitive: set[str],
    space: str,
) -> "Figure":
    from matplotlib.patches import Patch

    shown = order[:TOP_FEATURES]
    values = [importance[c] for c in shown]
    notes = []
    if len(order) > len(shown):
        notes.append(f"Showing the top {len(shown)} of {len(order)} features by importance.")
    if nulls := [c for c, v in zip(shown, values, strict=True) if v is None]:
        notes.append(f"n/a — no importance value for: {', '.join(nulls)}.")
    share = number(mapping(results.get("sensitive_share")).get("share"))
    subtitle = _subtitle(results, share)
    labels = [shorten(c) for c in shown]
    width = max(8.0, min(0.07 * max(map(len, labels)) + 6.5, 14.0))
    figure = new_figure(width, 1.9 + 0.32 * len(shown) + 0.17 * len(notes))
    ax = figure.subplots()
    top = max([v for v in values if v is not None] or [1.0]) or 1.0
    for y, (column, value) in enumerate(zip(shown, values, strict=True)):
        color = SENSITIVE if column in sensitive else OTHER
        if value is None:
            ax.text(0.01 * top, y, "n/a", va="center", color=MUTED, style="italic")
            continue
        ax.barh(y, value, height=0.68, color=color)
        ax.text(value + 0.01 * top, y, fmt(value), va="center", ha="left", fontsize=8)
    ax.set_xlim(0, top * 1.15)
    ax.set_yticks(range(len(shown)), labels)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    _mark_sensitive(ax, shown, sensitive)
    ax.set_xlabel(f"mean |SHAP value| ({space})")
    ax.set_title(subtitle, fontweight="normal", fontsize=9, color=MUTED, loc="left")
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0)
    header(
        figure,
        title,
        [Patch(color=OTHER), Patch(color=SENSITIVE)],
        ["feature", "declared sensitive feature"],
    )
    add_footnote(figure, notes, width)
    return figure


def _subtitle(results: dict[str, Any], share: float | None) -> str:
    method = mapping(results.get("method"))
    parts = []
    if method.get("explainer"):
        parts.append(f"explainer: {method['explainer']}")
    n = number(results.get("n_rows_explained"))
    if n is not None:
        parts.append(f"{int(n):,} rows explained")
    if share is not None:
        parts.append(f"sensitive features carry {share:.1%} of total importance")
    return "; ".join(parts)


def _mark_sensitive(ax: "Axes", columns: list[str], sensitive: set[str]) -> None:
    for tick, column in zip(ax.get_yticklabels(), columns, strict=True):
        if column in sensitive:
            tick.set_color(SENSITIVE)
            tick.set_fontweight("bold")


def _beeswarm_figure(
    title: str, data: BeeswarmData, ranking: list[str], sensitive: set[str], space: str
) -> "Figure":
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    rng = np.random.default_rng(SEED)
    values, features = data.values, data.data
    n_rows = values.shape[0]
    notes = []
    if n_rows > MAX_ROWS:
        keep = np.sort(rng.choice(n_rows, size=MAX_ROWS, replace=False))
        values, features = values[keep], features[keep]
        notes.append(f"A fixed random sample of {MAX_ROWS:,} of the {n_rows:,} explained rows.")
    mean_abs = {
        c: float(np.nanmean(np.abs(values[:, j]))) if np.isfinite(values[:, j]).any() else 0.0
        for j, c in enumerate(data.columns)
    }
    order = _order(ranking, {c: mean_abs[c] for c in data.columns})[:TOP_FEATURES]
    if len(data.columns) > len(order):
        notes.append(f"Showing the top {len(order)} of {len(data.columns)} features.")
    notes.append(
        "Each dot is one row; colour is its feature value from low to high within that "
        "feature (5th to 95th percentile); grey: missing or categorical value."
    )
    index = {c: j for j, c in enumerate(data.columns)}
    cmap = LinearSegmentedColormap.from_list("modelgate_low_high", LOW_HIGH)
    labels = [shorten(c) for c in order]
    width = max(8.0, min(0.07 * max(map(len, labels)) + 7.0, 14.0))
    figure = new_figure(width, 1.8 + 0.4 * len(order) + 0.17 * len(notes))
    figure.suptitle(title)
    ax = figure.subplots()
    ax.axvline(0.0, color=GREY, linewidth=0.8, zorder=1)
    for y, column in enumerate(order):
        shap_row, feature_row = values[:, index[column]], features[:, index[column]]
        ok = np.isfinite(shap_row)
        shap_row, feature_row = shap_row[ok], feature_row[ok]
        ax.axhline(y, color="#dddddd", linewidth=0.5, zorder=0)
        if not len(shap_row):
            ax.annotate(
                "n/a",
                (0.0, y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                color=MUTED,
                style="italic",
            )
            continue
        # Draw in a shuffled order so neither low nor high values systematically end on top.
        shuffle = rng.permutation(len(shap_row))
        shap_row, feature_row = shap_row[shuffle], feature_row[shuffle]
        offsets = _jitter(shap_row, rng)
        ax.scatter(
            shap_row,
            y + offsets,
            s=7,
            c=_colours(feature_row, cmap),
            linewidths=0,
            zorder=2,
            rasterized=True,  # thousands of dots: an embedded image keeps the SVG small
        )
    ax.set_yticks(range(len(order)), labels)
    ax.set_ylim(len(order) - 0.5, -0.5)
    _mark_sensitive(ax, order, sensitive)
    ax.set_xlabel(f"SHAP value (impact on model output, {space})")
    ax.tick_params(axis="y", length=0)
    for side in ("left",):
        ax.spines[side].set_visible(False)
    bar = figure.colorbar(
        ScalarMappable(norm=Normalize(0.0, 1.0), cmap=cmap), ax=ax, ticks=[0.0, 1.0], aspect=40
    )
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    bar.outline.set_visible(False)
    if any(c in sensitive for c in order):
        notes.append("Bold orange labels: declared sensitive features.")
    add_footnote(figure, notes, width)
    return figure


def _jitter(shap_row: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vertical offsets within ±0.4 of the row, proportional to the local density of values."""
    lo, hi = float(shap_row.min()), float(shap_row.max())
    if hi - lo <= 0:
        density = np.ones(len(shap_row))
    else:
        counts, edges = np.histogram(shap_row, bins=50, range=(lo, hi))
        bins = np.clip(np.searchsorted(edges, shap_row, side="right") - 1, 0, len(counts) - 1)
        density = counts[bins] / counts.max()
    return rng.uniform(-0.4, 0.4, size=len(shap_row)) * density


def _colours(feature_row: np.ndarray, cmap: Any) -> np.ndarray:
    """RGBA per dot: the feature value scaled to its 5th-95th percentile, grey for NaN."""
    from matplotlib.colors import to_rgba

    colours = np.tile(np.array(to_rgba(MISSING)), (len(feature_row), 1))
    known = np.isfinite(feature_row)
    if known.any():
        vmin, vmax = np.percentile(feature_row[known], [5, 95])
        if vmax <= vmin:
            vmin, vmax = float(feature_row[known].min()), float(feature_row[known].max())
        scaled = (
            np.clip((feature_row[known] - vmin) / (vmax - vmin), 0.0, 1.0)
            if vmax > vmin
            else np.full(int(known.sum()), 0.5)
        )
        colours[known] = cmap(scaled)
    return colours
