"""Fairness reports on the real Adult test set, checked against independent computations.

Per-group rates are recomputed with a plain pandas groupby, disparities with Fairlearn's own
functions on the raw rows, ROC AUC with scikit-learn, so a bug in the cell-count shortcut or in
the results layout cannot hide behind a shared implementation.
"""

import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from governance.assessments import bootstrap, results_json
from governance.assessments.fairness import AssessmentInputError, binarize, fairness_report

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
SEP = "\u00d7"
INTERSECTION = f"sex{SEP}race"
TOL = 1e-12


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    """The Adult test rows with a small logistic regression's scores and 0.5-threshold labels."""
    train = pd.read_csv(DATA / "adult_train.csv.gz")
    test = pd.read_csv(DATA / "adult_test.csv.gz")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[NUMERIC], (train["income"] == ">50K").astype(int))
    frame = test[["sex", "race", "income"]].copy()
    frame["y"] = (frame["income"] == ">50K").astype(int)
    frame["score"] = model.predict_proba(test[NUMERIC])[:, 1]
    frame["pred"] = (frame["score"] >= 0.5).astype(int)
    frame[INTERSECTION] = frame["sex"] + SEP + frame["race"]
    return frame


def report(adult: pd.DataFrame, **kwargs: object) -> dict:
    arguments: dict = {
        "y_true": adult["income"],
        "y_score": adult["score"].to_numpy(),
        "sensitive": adult[["sex", "race"]],
        "task": "binary",
        "pos_label": ">50K",
        "n_bootstrap": 50,
    }
    arguments.update(kwargs)
    return fairness_report(**arguments)


@pytest.fixture(scope="module")
def full(adult: pd.DataFrame) -> dict:
    """Nothing excluded, so every group enters the disparities as in Fairlearn."""
    return report(adult, min_group_size=0, n_bootstrap=200)


@pytest.fixture(scope="module")
def strict(adult: pd.DataFrame) -> dict:
    return report(adult, min_group_size=200, n_bootstrap=200)


def pandas_rates(adult: pd.DataFrame, feature: str) -> pd.DataFrame:
    """Per-group metrics with nothing but pandas means over the relevant rows."""
    positives, negatives = adult[adult["y"] == 1], adult[adult["y"] == 0]
    predicted = adult[adult["pred"] == 1]
    return pd.DataFrame(
        {
            "count": adult.groupby(feature).size(),
            "selection_rate": adult.groupby(feature)["pred"].mean(),
            "accuracy": (adult["y"] == adult["pred"]).groupby(adult[feature]).mean(),
            "precision": predicted.groupby(feature)["y"].mean(),
            "true_positive_rate": positives.groupby(feature)["pred"].mean(),
            "false_positive_rate": negatives.groupby(feature)["pred"].mean(),
            "false_negative_rate": (positives["pred"] == 0).groupby(positives[feature]).mean(),
        }
    )


@pytest.mark.parametrize("feature", ["sex", "race", INTERSECTION])
def test_per_group_rates_equal_a_pandas_groupby(
    adult: pd.DataFrame, full: dict, feature: str
) -> None:
    expected = pandas_rates(adult, feature)
    groups = full["by_feature"][feature]
    assert sorted(groups) == sorted(expected.index)
    for group, row in expected.iterrows():
        assert groups[group]["count"] == row["count"]
        for metric in expected.columns.drop("count"):
            assert groups[group][metric] == pytest.approx(row[metric], abs=TOL), (group, metric)


def test_overall_metrics_equal_pandas_and_scikit_learn(adult: pd.DataFrame, full: dict) -> None:
    overall = full["overall"]
    assert overall["count"] == len(adult)
    assert overall["selection_rate"] == pytest.approx(adult["pred"].mean(), abs=TOL)
    assert overall["accuracy"] == pytest.approx((adult["y"] == adult["pred"]).mean(), abs=TOL)
    assert overall["roc_auc"] == pytest.approx(skm.roc_auc_score(adult["y"], adult["score"]))


@pytest.mark.parametrize("feature", ["sex", "race", INTERSECTION])
def test_roc_auc_per_group_equals_scikit_learn(
    adult: pd.DataFrame, full: dict, feature: str
) -> None:
    for group, rows in adult.groupby(feature):
        got = full["by_feature"][feature][group]["roc_auc"]
        assert got == pytest.approx(skm.roc_auc_score(rows["y"], rows["score"]), abs=TOL)


def fairlearn_disparities(rows: pd.DataFrame, feature: str) -> dict[str, float]:
    sensitive = rows[["sex", "race"]] if feature == INTERSECTION else rows[feature]
    args = (rows["y"], rows["pred"])
    return {
        name: getattr(flm, name)(*args, sensitive_features=sensitive)
        for name in [
            "demographic_parity_difference",
            "demographic_parity_ratio",
            "equalized_odds_difference",
            "equalized_odds_ratio",
            "equal_opportunity_difference",
            "equal_opportunity_ratio",
        ]
    }


@pytest.mark.parametrize("feature", ["sex", "race", INTERSECTION])
def test_disparities_equal_fairlearns_own_functions(
    adult: pd.DataFrame, full: dict, feature: str
) -> None:
    got = full["disparities"][feature]
    assert got["groups_compared"] == sorted(adult[feature].unique())
    for name, value in fairlearn_disparities(adult, feature).items():
        assert got[name] == pytest.approx(value, abs=TOL), name


@pytest.mark.parametrize("feature", ["race", INTERSECTION])
def test_disparities_leave_out_small_groups_exactly(
    adult: pd.DataFrame, strict: dict, feature: str
) -> None:
    sizes = adult.groupby(feature).size()
    kept = adult[adult[feature].isin(sizes[sizes >= 200].index)]
    got = strict["disparities"][feature]
    assert got["groups_compared"] == sorted(sizes[sizes >= 200].index)
    for name, value in fairlearn_disparities(kept, feature).items():
        assert got[name] == pytest.approx(value, abs=TOL), name


def test_small_groups_are_flagged_listed_and_never_compared(
    adult: pd.DataFrame, strict: dict
) -> None:
    for feature in ["sex", "race", INTERSECTION]:
        sizes = adult.groupby(feature).size()
        small = sorted(sizes[sizes < 200].index)
        assert strict["excluded_groups"][feature] == small
        for group, entry in strict["by_feature"][feature].items():
            assert entry["small_group"] is (group in small)
        compared = set(strict["disparities"][feature]["groups_compared"])
        assert not compared & set(small)
        for gap in strict["disparities"][feature]["max_gap"].values():
            assert not set(gap["groups"] or []) & set(small)
    assert {"Amer-Indian-Eskimo", "Other"} <= set(strict["excluded_groups"]["race"])
    assert f"Female{SEP}Other" in strict["excluded_groups"][INTERSECTION]


def test_max_gap_names_the_lowest_and_highest_group(adult: pd.DataFrame, strict: dict) -> None:
    rates = pandas_rates(adult, "race").loc[strict["disparities"]["race"]["groups_compared"]]
    gap = strict["disparities"]["race"]["max_gap"]["selection_rate"]
    assert gap["groups"] == [rates["selection_rate"].idxmin(), rates["selection_rate"].idxmax()]
    low, high = rates["selection_rate"].min(), rates["selection_rate"].max()
    assert gap["difference"] == pytest.approx(high - low, abs=TOL)
    assert gap["ratio"] == pytest.approx(low / high, abs=TOL)


def test_intervals_contain_the_point_estimate(strict: dict) -> None:
    entries = [strict["overall"]] + [
        entry
        for groups in strict["by_feature"].values()
        for entry in groups.values()
        if not entry["small_group"]
    ]
    checked = 0
    for entry in entries:
        for metric, (low, high) in entry["ci"].items():
            assert low <= entry[metric] <= high, (metric, entry)
            checked += 1
    assert checked > 50
    for feature in ["sex", "race"]:
        disparity = strict["disparities"][feature]
        low, high = disparity["ci"]["demographic_parity_difference"]
        assert low <= disparity["demographic_parity_difference"] <= high


def test_intervals_narrow_with_more_data(adult: pd.DataFrame, full: dict) -> None:
    sample = adult.sample(n=2000, random_state=0)
    small = report(sample, min_group_size=0, n_bootstrap=200)
    for group in ["Female", "Male"]:
        for metric in ["selection_rate", "accuracy", "true_positive_rate"]:
            narrow = np.diff(full["by_feature"]["sex"][group]["ci"][metric])[0]
            wide = np.diff(small["by_feature"]["sex"][group]["ci"][metric])[0]
            assert narrow < wide, (group, metric)


def row_bootstrap_interval(
    adult: pd.DataFrame, statistic: Callable[[pd.DataFrame], list[float]], n_resamples: int
) -> np.ndarray:
    """The textbook bootstrap: resample row indices with replacement, recompute, take quantiles."""
    rng = np.random.default_rng(123)
    n = len(adult)
    values = [statistic(adult.iloc[rng.integers(0, n, n)]) for _ in range(n_resamples)]
    return np.quantile(np.array(values), [0.025, 0.975], axis=0)


def test_the_cell_bootstrap_agrees_with_resampling_rows(adult: pd.DataFrame) -> None:
    """Same experiment, different random numbers: the intervals agree up to Monte Carlo noise."""
    ours = report(adult, y_true=adult["y"], pos_label=1, n_bootstrap=300, min_group_size=0)
    female = ours["by_feature"]["sex"]["Female"]

    def statistic(rows: pd.DataFrame) -> list[float]:
        women = rows[rows["sex"] == "Female"]
        return [
            women["pred"].mean(),
            women.loc[women["y"] == 1, "pred"].mean(),
            skm.roc_auc_score(women["y"], women["score"]),
        ]

    plain = row_bootstrap_interval(adult, statistic, 300)
    for column, metric in enumerate(["selection_rate", "true_positive_rate", "roc_auc"]):
        low, high = female["ci"][metric]
        width = high - low
        assert low == pytest.approx(plain[0, column], abs=0.15 * width), metric
        assert high == pytest.approx(plain[1, column], abs=0.15 * width), metric


def test_same_seed_gives_byte_identical_json_and_another_seed_does_not(
    adult: pd.DataFrame,
) -> None:
    first = results_json.to_bytes(report(adult, seed=7))
    again = results_json.to_bytes(report(adult, seed=7))
    other = results_json.to_bytes(report(adult, seed=8))
    assert first == again
    assert first != other
    assert results_json.loads(first) == results_json.loads(again)


def test_the_bootstrap_auc_equals_scikit_learn_on_weighted_rows() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    groups = rng.integers(0, 3, n)
    y = rng.integers(0, 2, n)
    scores = np.round(rng.random(n), 2)  # many ties, which must count one half
    cells = groups * 2 + y
    classes = bootstrap.AucClasses.build(cells, scores, np.arange(6) % 2, [np.arange(6) // 2])
    weights = rng.integers(0, 4, n).astype(float)
    got = classes.auc(weights)[0]
    for g in range(3):
        mask = groups == g
        expected = skm.roc_auc_score(y[mask], scores[mask], sample_weight=weights[mask])
        assert got[g] == pytest.approx(expected, abs=TOL)


def test_a_million_rows_bootstrap_in_memory_that_does_not_grow_with_resamples(
    adult: pd.DataFrame,
) -> None:
    n = 1_000_000
    rows = adult.iloc[np.resize(np.arange(len(adult)), n)].reset_index(drop=True)
    arguments = {
        "y_true": rows["y"].to_numpy(),
        "y_score": rows["score"].to_numpy(),
        "sensitive": rows[["sex", "race"]],
        "task": "binary",
    }
    peaks = {}
    for n_bootstrap in (10, 100):
        tracemalloc.start()
        started = time.perf_counter()
        result = fairness_report(n_bootstrap=n_bootstrap, **arguments)
        elapsed = time.perf_counter() - started
        peaks[n_bootstrap] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"\n1M rows x {n_bootstrap} resamples (with roc_auc): {elapsed:.1f} s, "
            f"peak {peaks[n_bootstrap] / 1e6:.0f} MB traced"
        )
    naive = n * 100 * 8  # one int64 index matrix of a row-resampling bootstrap
    assert peaks[100] < naive / 4
    assert peaks[100] < peaks[10] + 10_000_000  # the resample count barely matters
    assert result["overall"]["ci"]["roc_auc"][0] < result["overall"]["roc_auc"]


def test_one_feature_has_no_intersection_and_lone_groups_have_no_disparity(
    adult: pd.DataFrame,
) -> None:
    result = report(adult, sensitive=adult[["sex"]], min_group_size=6000, n_bootstrap=20)
    assert result["intersection"] is None
    assert list(result["by_feature"]) == ["sex"]
    assert result["excluded_groups"]["sex"] == ["Female"]
    disparity = result["disparities"]["sex"]
    assert disparity["groups_compared"] == ["Male"]
    assert disparity["demographic_parity_difference"] is None
    assert "fewer than two groups" in disparity["null_reasons"]["demographic_parity_difference"]


def test_binarize_refuses_a_three_class_target() -> None:
    with pytest.raises(AssessmentInputError, match="3 distinct values"):
        binarize(np.array(["low", "mid", "high", "low"]), "high")


def test_binarize_maps_the_positive_label_and_refuses_one_that_is_absent() -> None:
    labels = pd.Series([">50K", "<=50K", ">50K"])
    assert binarize(labels, ">50K").tolist() == [1, 0, 1]
    with pytest.raises(AssessmentInputError, match="does not occur"):
        binarize(labels, ">50K.")


def test_a_non_binary_target_fails_the_report(adult: pd.DataFrame) -> None:
    with pytest.raises(AssessmentInputError, match="binary"):
        report(adult, y_true=np.resize([0, 1, 2], len(adult)), pos_label=1)


def test_missing_sensitive_values_are_refused(adult: pd.DataFrame) -> None:
    sensitive = adult[["sex", "race"]].copy()
    sensitive.loc[sensitive.index[:3], "race"] = None
    with pytest.raises(AssessmentInputError, match="3 missing"):
        report(adult, sensitive=sensitive)


def test_given_predictions_win_over_scores_and_the_threshold_applies_otherwise(
    adult: pd.DataFrame,
) -> None:
    strict_threshold = report(adult, threshold=0.7, n_bootstrap=0)
    assert strict_threshold["overall"]["selection_rate"] == pytest.approx(
        (adult["score"] >= 0.7).mean(), abs=TOL
    )
    given = report(adult, y_pred=adult["pred"].map({1: ">50K", 0: "<=50K"}), threshold=0.7)
    assert given["parameters"]["y_pred_source"] == "y_pred"
    assert given["overall"]["selection_rate"] == pytest.approx(adult["pred"].mean(), abs=TOL)


def test_progress_runs_from_zero_to_one_in_order(adult: pd.DataFrame) -> None:
    seen: list[tuple[float, str]] = []
    report(adult, progress=lambda fraction, stage: seen.append((fraction, stage)))
    fractions = [fraction for fraction, _ in seen]
    assert fractions[0] == 0.0 and seen[-1] == (1.0, "done")
    assert fractions == sorted(fractions)
    assert any(stage.startswith("bootstrap") for _, stage in seen)


def test_regression_reports_errors_per_group_like_pandas_and_fairlearn(
    adult: pd.DataFrame,
) -> None:
    test = pd.read_csv(DATA / "adult_test.csv.gz")
    features = test[["age", "education_num", "capital_gain"]]
    target = test["hours_per_week"].astype(float)
    predicted = LinearRegression().fit(features, target).predict(features)
    result = fairness_report(
        y_true=target,
        y_pred=predicted,
        sensitive=test[["sex", "race"]],
        task="regression",
        n_bootstrap=50,
        min_group_size=200,
    )
    frame = pd.DataFrame({"y": target, "p": predicted, "sex": test["sex"], "race": test["race"]})
    frame["error"] = frame["p"] - frame["y"]
    by_race = frame.groupby("race")
    expected = pd.DataFrame(
        {
            "mae": by_race["error"].apply(lambda e: e.abs().mean()),
            "rmse": by_race["error"].apply(lambda e: np.sqrt((e**2).mean())),
            "mean_prediction": by_race["p"].mean(),
        }
    )
    for group, row in expected.iterrows():
        for metric, value in row.items():
            got = result["by_feature"]["race"][group][metric]
            assert got == pytest.approx(value, rel=TOL), (group, metric)
    frame_fl = flm.MetricFrame(
        metrics={"mae": skm.mean_absolute_error, "mean_prediction": flm.mean_prediction},
        y_true=target,
        y_pred=predicted,
        sensitive_features=test["sex"],
    )
    gap = result["disparities"]["sex"]["max_gap"]["mae"]
    assert gap["difference"] == pytest.approx(frame_fl.difference()["mae"], rel=TOL)
    assert gap["ratio"] == pytest.approx(frame_fl.ratio()["mae"], rel=TOL)
    assert result["excluded_groups"]["race"] == ["Amer-Indian-Eskimo", "Other"]
    low, high = result["by_feature"]["sex"]["Male"]["ci"]["rmse"]
    assert low <= result["by_feature"]["sex"]["Male"]["rmse"] <= high


def test_results_json_is_canonical_and_keeps_every_bit_of_a_float() -> None:
    value = {"b": np.float64(0.1) + 0.2, "a": [np.int64(3), (True, None)], "c": "Female\u00d7Other"}
    text = results_json.dumps(value)
    assert text == '{"a":[3,[true,null]],"b":0.30000000000000004,"c":"Female\u00d7Other"}'
    assert json.loads(text)["b"] == 0.1 + 0.2
    odd = results_json.normalize([float("nan"), float("inf"), -float("inf")])
    assert odd == ["NaN", "Infinity", "-Infinity"]
    with pytest.raises(TypeError):
        results_json.dumps({1: "one"})
    with pytest.raises(TypeError):
        results_json.dumps({"groups": {"a", "b"}})
