"""The Chart value, deterministic rendering, and small helpers the chart modules share.

Rendering is byte-deterministic: the same drawing gives the same PNG and SVG bytes in any
process with the same library versions. Three things make it so. Every figure is drawn under
matplotlib's built-in default style plus `STYLE` (never the caller's matplotlibrc or style), with
`svg.hashsalt` fixed so SVG element ids are content hashes instead of uuid4. PNG and SVG are
written without the volatile metadata (SVG's Date; the version strings in PNG's Software and
SVG's Creator are dropped as well, so a matplotlib upgrade that draws the same pixels gives the
same bytes). And nothing goes through pyplot: figures are `matplotlib.figure.Figure` objects.

rcParams are process-global, and the style must hold from the first artist created to the last
byte saved, so `render` holds `_LOCK` for the whole figure: charts drawn from several threads
are serialised rather than mixing each other's settings.
"""

import io
import math
import re
import textwrap
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = ("png", "svg")
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
DPI = 150

# svg.fonttype "none" keeps labels as <text>: searchable, accessible, sharp in the PDF dossier.
STYLE: dict[str, Any] = {
    "svg.hashsalt": "modelgate-charts",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.titleweight": "bold",
    "figure.titlesize": 13.0,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "hatch.linewidth": 0.8,
}

# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
GREY = "#9a9a9a"
MUTED = "#555555"

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Chart:
    """One rendered chart in one file format, ready to store, serve or embed."""

    name: str
    title: str
    format: str
    content: bytes

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.format}"


def render(name: str, title: str, draw: Callable[[], "Figure"]) -> list[Chart]:
    """`draw()`'s figure as a PNG and an SVG Chart, drawn and saved under the fixed style."""
    import matplotlib.style

    with _LOCK, matplotlib.style.context(["default", STYLE]):
        figure = draw()
        outputs = []
        for file_format in FORMATS:
            buffer = io.BytesIO()
            # SVG has no "Software" key (matplotlib refuses unknown keys); PNG has no Date.
            volatile = (
                {"Software": None} if file_format == "png" else {"Date": None, "Creator": None}
            )
            figure.savefig(
                buffer, format=file_format, dpi=DPI, metadata={"Title": title, **volatile}
            )
            outputs.append(Chart(name, title, file_format, buffer.getvalue()))
    return outputs


def new_figure(width: float, height: float) -> "Figure":
    """A pyplot-free figure with constrained layout (it sizes margins to the labels)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def number(value: Any) -> float | None:
    """A finite float, or None for null, NaN, ±inf, "NaN" (results_json's spelling) or junk."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def interval(value: Any) -> tuple[float, float] | None:
    """A finite (lo, hi) pair from a results "ci" entry, or None."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    lo, hi = number(value[0]), number(value[1])
    if lo is None or hi is None:
        return None
    return (min(lo, hi), max(lo, hi))


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def shorten(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wrap(lines: Iterable[str], width: int) -> str:
    return "\n".join(textwrap.fill(line, width=width, subsequent_indent="  ") for line in lines)


def slugify(text: str) -> str:
    """ASCII slug for file names: "sex×race" -> "sex-x-race"."""  # noqa: RUF002
    text = unicodedata.normalize("NFKD", text.replace("×", "-x-"))  # noqa: RUF001
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9_]+", "-", text).strip("-")


class Slugs:
    """Unique slugs within one chart family: a clash or an empty slug gets a numeric suffix."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, prefix: str, text: str) -> str:
        base = f"{prefix}-{slugify(text) or 'feature'}"
        slug, k = base, 2
        while slug in self._seen:
            slug, k = f"{base}-{k}", k + 1
        self._seen.add(slug)
        return slug


def fmt(value: float) -> str:
    """A short, stable number label: 3 significant digits, no scientific notation for ~1."""
    return f"{value:.3g}"


def add_footnote(figure: "Figure", notes: list[str], width_in: float) -> None:
    """Notes under the axes, left-aligned; constrained layout reserves room for them."""
    if notes:
        figure.supxlabel(
            wrap(notes, width=max(40, int(width_in * 15))),
            x=0.01,
            ha="left",
            fontsize=8,
            color=MUTED,
            fontweight="normal",
        )


def header(figure: "Figure", title: str, handles: list[Any], texts: list[str]) -> None:
    """The title with the legend in one row under it, above the axes.

    The title is the legend's own title: constrained layout stacks an "outside" legend and a
    suptitle on top of each other, but reserves room for a legend with its title correctly.
    """
    if not handles:
        figure.suptitle(title)
        return
    figure.legend(
        handles,
        texts,
        loc="outside upper center",
        ncols=len(handles),
        fontsize=8,
        title=title,
        title_fontproperties={"size": 13, "weight": "bold"},
    )
