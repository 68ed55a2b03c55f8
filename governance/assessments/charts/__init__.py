"""Deterministic matplotlib charts of assessment results, as PNG and SVG `Chart` files.

The web UI serves them and the PDF dossier embeds them, so they are labelled for a reader who
sees nothing else, and byte-deterministic: the same results give the same bytes, in any thread
or process (see `base` for how). Every chart comes in both formats under the same name.

    fairness_charts(results)                 -> "fairness-<feature>" per feature, "disparities"
    explainability_charts(results, beeswarm) -> "shap-importance", "shap-beeswarm"
    performance_charts(results)              -> "performance"

None of them raises on null, NaN or missing values (drawn as "n/a" with a note); an empty
section gives no chart. matplotlib is imported only when a chart is drawn.
"""

from governance.assessments.charts.base import Chart
from governance.assessments.charts.explainability import BeeswarmData, explainability_charts
from governance.assessments.charts.fairness import fairness_charts
from governance.assessments.charts.performance import performance_charts

__all__ = [
    "BeeswarmData",
    "Chart",
    "explainability_charts",
    "fairness_charts",
    "performance_charts",
]
