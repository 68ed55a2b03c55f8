# Unicode group labels are what several tests are about.
# ruff: noqa: RUF001
"""Charts of assessment results: valid PNG and SVG, labelled, byte-deterministic, thread-safe.

Fairness inputs come from the real `fairness_report` (on the Adult test set, and on synthetic
rows built to have null metrics, small groups, 40 intersection groups and Unicode labels), so a
change in the results layout breaks these tests instead of silently drawing empty charts.
"""

import hashlib
import io
import json
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from governance.assessments import results_json
from governance.assessments.charts import (
    BeeswarmData,
    Chart,
    explainability_charts,
    fairness_charts,
    performance_charts,
)
from governance.assessments.charts.base import DPI
from governance.assessments.fairness import fairness_report
from governance.assessments.performance import performance_report

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data"
SEP = "\u00d7"
SVG_NS = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REGIONS = [
    "Île-de-France",
    "Zürich–Nord",
    "Łódź",
    "São Paulo",
    "Κρήτη",
    *[f"Region {k:02d}" for k in range(15)],
]


@pytest.fixture(scope="module")
def adult() -> dict:
    """A binary fairness report on the Adult test rows with made-up scores."""
    test = pd.read_csv(DATA / "adult_test.csv.gz")
    rng = np.random.default_rng(0)
    score = np.clip(rng.random(len(test)) * 0.6 + (test["income"] == ">50K") * 0.4, 0, 1)
    return fairness_report(
        y_true=test["income"],
        y_score=score,
        sensitive=test[["sex", "race"]],
        task="binary",
        pos_label=">50K",
        n_bootstrap=20,
    )


@pytest.fixture(scope="module")
def awkward() -> dict:
    """2 x 20 = 40 intersection groups with Unicode labels, small groups, null metrics.

    "Region 13" has no actual positives (its true positive rate is null), and "Region 14" has
    20 rows, under min_group_size.
    """
    rng = np.random.default_rng(1)
    sizes = [400 - 18 * k for k in range(19)] + [20]
    region = np.repeat(REGIONS, sizes)
    sex = np.where(rng.random(len(region)) < 0.5, "Female", "Male")
    y = (rng.random(len(region)) < 0.3).astype(int)
    y[region == "Region 13"] = 0
    pred = np.where(rng.random(len(region)) < 0.8, y, 1 - y)
    return fairness_report(
        y_true=y,
        y_pred=pred,
        sensitive=pd.DataFrame({"sexe": sex, "région": region}),
        task="binary",
        n_bootstrap=20,
    )


@pytest.fixture(scope="module")
def regression() -> dict:
    rng = np.random.default_rng(2)
    group = np.repeat(["a", "b", "c"], [300, 200, 10])
    y = rng.normal(50, 10, len(group))
    return fairness_report(
        y_true=y,
        y_pred=y + rng.normal(0, 3, len(group)),
        sensitive=pd.DataFrame({"band": group}),
        task="regression",
        n_bootstrap=20,
    )


@pytest.fixture(scope="module")
def adult_charts(adult: dict) -> list[Chart]:
    return fairness_charts(adult)


@pytest.fixture(scope="module")
def awkward_charts(awkward: dict) -> list[Chart]:
    return fairness_charts(awkward)


@pytest.fixture(scope="module")
def regression_charts(regression: dict) -> list[Chart]:
    return fairness_charts(regression)


def explanation(n_columns: int = 8) -> dict:
    columns = ["sex", "race", *[f"feature_{k:02d}" for k in range(n_columns - 2)]]
    importance = {c: 1.0 / (k + 1) for k, c in enumerate(columns)}
    return {
        "global_importance": importance,
        "ranking": list(columns),
        "sensitive_share": {"features": ["sex", "race"], "share": 0.4, "by_feature": {}},
        "method": {"explainer": "TreeExplainer", "output_space": "margin"},
        "n_rows_explained": 5000,
    }


def swarm(n_rows: int = 5000, columns: list[str] | None = None) -> BeeswarmData:
    columns = columns or ["sex", "race", "age", "hours"]
    rng = np.random.default_rng(3)
    values = rng.normal(0, 1, (n_rows, len(columns)))
    data = rng.normal(40, 10, (n_rows, len(columns)))
    data[:, :2] = np.nan  # categorical columns
    return BeeswarmData(columns=columns, values=values, data=data)


def by_format(charts: list[Chart], fmt: str) -> dict[str, Chart]:
    return {c.name: c for c in charts if c.format == fmt}


def svg_root(chart: Chart) -> ET.Element:
    assert chart.format == "svg"
    return ET.fromstring(chart.content)  # noqa: S314 - our own output, not untrusted


def svg_texts(chart: Chart) -> str:
    """All text drawn as <text> (svg.fonttype "none"), one line per element."""
    return "\n".join("".join(t.itertext()) for t in svg_root(chart).iter(f"{SVG_NS}text"))


def svg_prose(chart: Chart) -> str:
    """The SVG's text with whitespace collapsed, so wrapped notes read as one sentence."""
    return " ".join(svg_texts(chart).split())


def png_size(chart: Chart) -> tuple[int, int]:
    with Image.open(io.BytesIO(chart.content)) as image:
        image.load()
        return image.size


def test_every_chart_comes_as_a_png_and_an_svg_with_the_same_name(
    adult_charts: list[Chart],
) -> None:
    charts = adult_charts
    names = [c.name for c in charts]
    assert names == [
        "fairness-sex",
        "fairness-sex",
        "fairness-race",
        "fairness-race",
        "fairness-sex-x-race",
        "fairness-sex-x-race",
        "disparities",
        "disparities",
    ]
    assert [c.format for c in charts] == ["png", "svg"] * 4
    png, svg = charts[0], charts[1]
    assert (png.media_type, png.filename) == ("image/png", "fairness-sex.png")
    assert (svg.media_type, svg.filename) == ("image/svg+xml", "fairness-sex.svg")
    assert svg.title == "Fairness metrics by sex group"
    assert b"<dc:title>Fairness metrics by sex group</dc:title>" in svg.content
    assert b"<dc:date>" not in svg.content
    with Image.open(io.BytesIO(png.content)) as image:
        assert image.text == {"Title": "Fairness metrics by sex group"}  # no Software, no date


def test_a_png_decodes_to_the_size_of_its_svg_twin(adult_charts: list[Chart]) -> None:
    charts = [
        *adult_charts,
        *explainability_charts(explanation(), swarm()),
        *performance_charts(
            performance_report(y_true=[0, 1, 1, 0], y_pred=[0, 1, 0, 0], task="binary")
        ),
    ]
    svgs = by_format(charts, "svg")
    assert len(svgs) == 7
    for name, png in by_format(charts, "png").items():
        assert png.content.startswith(PNG_SIGNATURE)
        root = svg_root(svgs[name])
        assert root.tag == f"{SVG_NS}svg"
        # The SVG is sized in points (1/72 in); the PNG is rendered at DPI.
        width_pt, height_pt = (
            float(root.get(k, "").removesuffix("pt")) for k in ("width", "height")
        )
        assert png_size(png) == (round(width_pt * DPI / 72), round(height_pt * DPI / 72))
        assert png_size(png)[0] >= 8 * DPI
        with Image.open(io.BytesIO(png.content)) as image:
            pixels = np.asarray(image.convert("L"))
        assert pixels.min() < 100 < pixels.max()  # something dark drawn on a light background


def test_the_svg_keeps_group_labels_metric_names_and_titles_as_text(
    adult: dict, adult_charts: list[Chart]
) -> None:
    svgs = by_format(adult_charts, "svg")
    text = svg_texts(svgs["fairness-sex-x-race"])
    for label in ("Female×Black (n=", "Male×Amer-Indian-Eskimo (n=", "Male×White (n=9,561)"):
        assert label in text
    for heading in ("Selection rate", "True positive rate", "False positive rate", "Accuracy"):
        assert heading in text
    assert "Fairness metrics by sex×race group" in text
    assert "95% bootstrap confidence interval" in text
    assert "overall (all rows)" in text
    text = svg_texts(svgs["disparities"])
    for label in ("race (5 groups)", "sex (2 groups)", "sex×race (10 groups)"):
        assert label in text
    assert "Demographic parity difference" in text
    assert "Equal opportunity difference" in text
    sex_gap = adult["disparities"]["sex"]["demographic_parity_difference"]
    assert f"{sex_gap:.3g}" in text


def test_the_same_results_give_the_same_bytes(
    adult: dict, adult_charts: list[Chart], regression: dict, regression_charts: list[Chart]
) -> None:
    first = [c.content for c in (*adult_charts, *regression_charts)]
    again = [c.content for c in (*fairness_charts(adult), *fairness_charts(regression))]
    assert len(first) == 12
    assert again == first
    shap_first = [c.content for c in explainability_charts(explanation(), swarm())]
    shap_again = [c.content for c in explainability_charts(explanation(), swarm())]
    assert len(shap_first) == 4
    assert shap_again == shap_first


def test_a_round_trip_through_results_json_gives_the_same_bytes(
    awkward: dict, awkward_charts: list[Chart]
) -> None:
    stored = json.loads(results_json.dumps(awkward))
    assert [c.content for c in fairness_charts(stored)] == [c.content for c in awkward_charts]


def test_the_callers_matplotlib_settings_do_not_change_the_bytes(
    regression: dict, regression_charts: list[Chart]
) -> None:
    caller = {"font.size": 20, "axes.facecolor": "red", "svg.hashsalt": None}
    with mpl.rc_context(caller):
        charts = fairness_charts(regression)
        assert mpl.rcParams["font.size"] == 20  # the caller's settings are left alone
    assert [c.content for c in charts] == [c.content for c in regression_charts]
    assert mpl.rcParams["svg.fonttype"] == "path"


def test_another_process_draws_the_same_bytes_without_pyplot(
    adult: dict, adult_charts: list[Chart], tmp_path: Path
) -> None:
    source = tmp_path / "results.json"
    source.write_text(results_json.dumps(adult), encoding="utf-8")
    script = (
        "import hashlib, json, sys\n"
        "from governance.assessments.charts import fairness_charts\n"
        f"charts = fairness_charts(json.loads(open({str(source)!r}, encoding='utf-8').read()))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "print(json.dumps([hashlib.sha256(c.content).hexdigest() for c in charts]))\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [hashlib.sha256(c.content).hexdigest() for c in adult_charts]


def test_four_threads_draw_the_same_bytes_as_one_after_another(
    adult: dict,
    adult_charts: list[Chart],
    awkward: dict,
    awkward_charts: list[Chart],
    regression: dict,
    regression_charts: list[Chart],
) -> None:
    sequential = [
        [c.content for c in charts]
        for charts in (
            adult_charts,
            awkward_charts,
            regression_charts,
            explainability_charts(explanation(30), swarm()),
        )
    ]
    jobs = [
        lambda: fairness_charts(adult),
        lambda: fairness_charts(awkward),
        lambda: fairness_charts(regression),
        lambda: explainability_charts(explanation(30), swarm()),
    ]
    start = threading.Barrier(len(jobs))

    def run(k: int) -> list[bytes]:
        start.wait()
        return [c.content for c in jobs[k]()]

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        concurrent = list(pool.map(run, range(len(jobs))))
    assert concurrent == sequential


def test_null_metrics_are_drawn_as_gaps_with_the_reason(
    awkward: dict, awkward_charts: list[Chart]
) -> None:
    entry = awkward["by_feature"]["région"]["Region 13"]
    assert entry["true_positive_rate"] is None
    svg = by_format(awkward_charts, "svg")["fairness-region"]
    assert "n/a" in svg_texts(svg).split("\n")
    assert (
        "n/a \u2014 True positive rate: no actual positives (y_true = 1) in the group "
        "(Region 13)." in svg_prose(svg)
    )


def test_small_groups_are_marked_in_their_label_and_explained(
    awkward: dict, awkward_charts: list[Chart]
) -> None:
    groups = awkward["by_feature"]["région"]
    assert [g for g, e in groups.items() if e["small_group"]] == ["Region 14"]
    svgs = by_format(awkward_charts, "svg")
    svg = svgs["fairness-region"]
    assert "Region 14 (n=20 < 30)" in svg_texts(svg).split("\n")
    assert "Region 13 (n=76)" in svg_texts(svg).split("\n")
    assert "Hatched grey bars: small groups (fewer than 30 rows)" in svg_prose(svg)
    assert "small group (see note)" in svg_texts(svg)
    # Hatches are SVG patterns: only charts with a small group have them.
    assert b"<pattern" in svg.content
    assert b"<pattern" not in svgs["fairness-sexe"].content


def test_forty_intersection_groups_are_capped_at_the_25_largest(
    awkward: dict, awkward_charts: list[Chart]
) -> None:
    groups = awkward["by_feature"][f"sexe{SEP}région"]
    assert len(groups) == 40
    largest = sorted(groups, key=lambda g: (-groups[g]["count"], g))[:25]
    text = svg_texts(by_format(awkward_charts, "svg")["fairness-sexe-x-region"])
    shown = {g for g in groups if f"{g} (n=" in text}
    assert shown == set(largest)
    assert "Showing the 25 largest of 40 groups; 15 smaller groups" in " ".join(text.split())


def test_unicode_labels_appear_and_names_stay_ascii(awkward_charts: list[Chart]) -> None:
    charts = awkward_charts
    assert {c.name for c in charts} == {
        "fairness-sexe",
        "fairness-region",
        "fairness-sexe-x-region",
        "disparities",
    }
    assert all(c.filename.isascii() for c in charts)
    text = svg_texts(by_format(charts, "svg")["fairness-region"])
    for region in ("Île-de-France", "Zürich–Nord", "Łódź", "São Paulo", "Κρήτη"):
        assert f"{region} (n=" in text
    assert "Fairness metrics by région group" in text


def test_a_single_group_is_drawn_and_its_disparity_is_na() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    results = fairness_report(
        y_true=y,
        y_pred=y,
        sensitive=pd.DataFrame({"sex": ["Female"] * 200}),
        task="binary",
        n_bootstrap=10,
    )
    charts = by_format(fairness_charts(results), "svg")
    assert set(charts) == {"fairness-sex", "disparities"}
    assert "Female (n=200)" in svg_texts(charts["fairness-sex"])
    text = svg_texts(charts["disparities"])
    assert "sex (1 group)" in text
    assert "n/a" in text
    assert "fewer than two groups with at least 30 rows" in text


def test_features_without_groups_get_no_chart() -> None:
    assert fairness_charts({}) == []
    assert fairness_charts({"by_feature": {"sex": {}}, "disparities": {}}) == []
    charts = fairness_charts(
        {
            "parameters": {"task": "binary"},
            "by_feature": {"sex": {}, "race": {"A": {"count": 50, "selection_rate": 0.5}}},
        }
    )
    assert {c.name for c in charts} == {"fairness-race"}


def test_hand_written_and_malformed_values_never_raise() -> None:
    entry = {
        "count": "NaN",
        "selection_rate": "NaN",
        "accuracy": float("inf"),
        "true_positive_rate": None,
        "false_positive_rate": 0.2,
        "ci": {"false_positive_rate": [0.3, 0.1], "selection_rate": [None, 1.0], "accuracy": "x"},
        "small_group": True,
    }
    results = {
        "parameters": {"task": "binary", "min_group_size": 30, "confidence": 0.9},
        "overall": {"selection_rate": None, "false_positive_rate": "NaN"},
        "by_feature": {"sex": {"A": entry, "B": {"count": 40}}, "race": None},
        "disparities": {"sex": {"demographic_parity_difference": 0.1, "ci": None}, "race": 3},
    }
    charts = by_format(fairness_charts(results), "svg")
    assert set(charts) == {"fairness-sex", "disparities"}
    text = svg_texts(charts["fairness-sex"])
    assert "90% bootstrap confidence interval" in text
    assert "A (n < 30)" in text
    assert "n/a" in text


def test_regression_fairness_charts_show_errors_and_their_gaps(
    regression: dict, regression_charts: list[Chart]
) -> None:
    svgs = by_format(regression_charts, "svg")
    text = svg_texts(svgs["fairness-band"])
    for heading in ("MAE", "RMSE", "Mean prediction", "a (n=300)", "c (n=10 < 30)"):
        assert heading in text
    text = svg_texts(svgs["disparities"])
    assert "MAE gap (max \u2212 min)" in text
    assert "band (2 groups)" in text
    gap = regression["disparities"]["band"]["max_gap"]["mae"]["difference"]
    assert f"{gap:.3g}" in text


def test_shap_importance_shows_the_top_20_with_sensitive_features_highlighted() -> None:
    results = explanation(30)
    svg = by_format(explainability_charts(results, None), "svg")
    assert set(svg) == {"shap-importance"}
    text = svg_texts(svg["shap-importance"])
    assert "mean |SHAP value| (margin)" in text
    assert "declared sensitive feature" in text
    assert "Showing the top 20 of 30 features" in text
    assert "sensitive features carry 40.0% of total importance" in text
    shown = {c for c in results["ranking"] if c in text.split("\n")}
    assert shown == set(results["ranking"][:20])
    root = svg_root(svg["shap-importance"])
    sensitive = [t for t in root.iter(f"{SVG_NS}text") if "".join(t.itertext()) == "sex"]
    plain = [t for t in root.iter(f"{SVG_NS}text") if "".join(t.itertext()) == "feature_00"]
    assert "#d55e00" in sensitive[0].get("style", "")
    assert "#d55e00" not in plain[0].get("style", "")


def test_shap_importance_tolerates_nulls_and_a_missing_ranking() -> None:
    results = {"global_importance": {"b": 0.5, "a": None, "c": "NaN", "d": 2.0}}
    svg = by_format(explainability_charts(results, None), "svg")["shap-importance"]
    text = svg_texts(svg)
    assert [line for line in text.split("\n") if line in "abcd"] == ["d", "b", "a", "c"]
    assert "n/a" in text
    assert "mean |SHAP value| (model output)" in text
    assert explainability_charts({}, None) == []


def test_the_beeswarm_is_deterministic_labelled_and_sampled() -> None:
    data = swarm(5000)
    charts = by_format(explainability_charts(explanation(), data), "svg")
    text = svg_texts(charts["shap-beeswarm"])
    for label in ("sex", "race", "age", "hours", "low", "high", "feature value"):
        assert label in text.split("\n")
    assert "SHAP value (impact on model output, margin)" in text
    prose = svg_prose(charts["shap-beeswarm"])
    assert "A fixed random sample of 2,000 of the 5,000 explained rows." in prose
    assert "grey: missing or categorical value" in prose
    # The dots are one embedded raster image, so the SVG stays small with thousands of rows.
    assert len(charts["shap-beeswarm"].content) < 300_000
    again = explainability_charts(explanation(), swarm(5000))
    assert [c.content for c in again] == [
        c.content for c in explainability_charts(explanation(), data)
    ]


def test_the_beeswarm_orders_rows_by_the_ranking_and_tolerates_nan_shap_values() -> None:
    data = swarm(300, ["x", "y", "z"])
    values = data.values.copy()
    values[:, 1] = np.nan
    charts = explainability_charts(
        {"ranking": ["z", "x"]}, BeeswarmData(columns=data.columns, values=values, data=data.data)
    )
    text = svg_texts(by_format(charts, "svg")["shap-beeswarm"])
    lines = text.split("\n")
    assert [line for line in lines if line in {"x", "y", "z"}] == ["z", "x", "y"]
    assert "n/a" in lines


def test_beeswarm_data_refuses_mismatched_shapes_and_an_empty_one_is_not_drawn() -> None:
    with pytest.raises(ValueError, match="must both be"):
        BeeswarmData(columns=["a", "b"], values=np.zeros((3, 2)), data=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="must both be"):
        BeeswarmData(columns=["a"], values=np.zeros((3, 2)), data=np.zeros((3, 2)))
    empty = BeeswarmData(columns=["a"], values=np.zeros((0, 1)), data=np.zeros((0, 1)))
    assert explainability_charts({}, empty) == []


def test_binary_performance_shows_the_confusion_counts_and_metrics() -> None:
    y = [0] * 60 + [1] * 40
    pred = [0] * 50 + [1] * 10 + [0] * 15 + [1] * 25
    results = performance_report(y_true=y, y_pred=pred, task="binary")
    charts = performance_charts(results)
    assert [(c.name, c.format) for c in charts] == [("performance", "png"), ("performance", "svg")]
    text = svg_texts(charts[1])
    for cell in ("50\n50.0%", "10\n10.0%", "15\n15.0%", "25\n25.0%"):
        assert cell.replace("\n", "") in text.replace("\n", "")
    assert "Accuracy" in text
    assert "0.75" in text  # accuracy = 75 / 100
    assert "no y_score given" in text  # roc_auc is null and says why


def test_regression_performance_and_empty_results() -> None:
    results = performance_report(y_true=[1.0, 2.0, 3.0], y_pred=[1.5, 2.0, 2.0], task="regression")
    text = svg_texts(by_format(performance_charts(results), "svg")["performance"])
    for label in ("MAE", "RMSE", "R²", f"{results['metrics']['mae']:.3g}"):
        assert label in text
    assert performance_charts({}) == []
