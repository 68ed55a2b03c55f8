"""SHAP explanations computed in the sandbox from real artifacts, checked against shap itself run
here on the same rows, and the explainability report built from them. Each sandboxed run costs
about 2 s (the child imports shap and friends), so each test makes one and asserts much."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shap
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from governance.assessments.explainability import (
    aggregate_by_source,
    explainability_report,
    merge_chunks,
    report_for,
)
from governance.assessments.results_json import dumps
from governance.demo_model import CATEGORICAL, NUMERIC, build_pipeline
from governance.sandbox import SandboxError, SandboxOutput
from governance.sandbox.explain import row_seed
from governance.sandbox.explain_client import ExplainOutput, explain_in_sandbox
from governance.sandbox.feature_sources import trace_sources
from tests.governance.explain_builders import (
    KNN_TYPES,
    TREE,
    TREE_PREDICTOR,
    additivity_error,
    adult,
    explain,
    lightgbm_file,
    mean_abs,
    numeric,
    skops_file,
    xgboost_file,
)

ADULT_COLUMNS = {*CATEGORICAL, *NUMERIC}
TREE_SHAP = "shap.TreeExplainer(feature_perturbation='tree_path_dependent')"


def report(output: Any, rows: np.ndarray | None = None, **options: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "row_index": np.arange(len(output.values)) if rows is None else rows,
        "sensitive_features": ["sex", "race"],
        "n_local": 4,
        "seed": 7,
        "rows_in_dataset": 16281,
        "sampled": True,
    }
    return report_for(output, **{**settings, **options})


def method(explainer: str, family: str, space: str, **extra: Any) -> dict[str, Any]:
    return {
        "explainer": explainer,
        "exact": True,
        "model_family": family,
        "output_space": space,
        "explained_class": 1,
        "background_rows": None,
        "max_evals": None,
        **extra,
    }


def assert_importance_matches(result: dict[str, Any], direct: dict[str, float], tol: float):
    assert set(result) == set(direct)
    for name, value in direct.items():
        assert result[name] == pytest.approx(value, abs=tol, rel=0), name


# --- boosters: their own exact Tree SHAP, in margin space -------------------------------------


def test_an_xgboost_booster_is_explained_by_its_native_tree_shap_in_margin_space(
    tmp_path: Path,
) -> None:
    X, y = adult("train", 1500)
    path, booster = xgboost_file(tmp_path, numeric(X), y)
    rows, _ = adult("test", 400)

    # All 14 columns are sent: the booster's six are picked by name.
    output = explain(path, "xgboost-json", rows)

    assert output.method == method(
        "xgboost.Booster.predict(pred_contribs=True)", "xgboost", "margin"
    )
    assert output.feature_names == NUMERIC
    assert output.source_columns == NUMERIC
    margin = booster.predict(xgboost.DMatrix(numeric(rows)), output_margin=True)
    np.testing.assert_allclose(output.model_output, margin, rtol=0, atol=1e-6)
    assert additivity_error(output) < 1e-4
    direct = shap.TreeExplainer(booster).shap_values(numeric(rows))
    np.testing.assert_allclose(output.values, direct, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(output.data, numeric(rows).to_numpy(dtype=float))
    result = report(output)
    assert_importance_matches(result["global_importance"], mean_abs(direct, NUMERIC), 1e-6)
    assert result["additivity"]["within_tolerance"] is True
    assert result["additivity"]["tolerance"] == 1e-4 * max(1.0, float(np.abs(margin).max()))
    assert result["sensitive_share"] == {
        "features": [],
        "absent": ["sex", "race"],
        "share": 0.0,
        "by_feature": {},
    }


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier:UserWarning")  # shap's own notice
def test_a_lightgbm_booster_is_explained_by_its_native_tree_shap_in_raw_score_space(
    tmp_path: Path,
) -> None:
    X, y = adult("train", 1500)
    path, booster = lightgbm_file(tmp_path, numeric(X), y)
    rows, _ = adult("test", 400)

    output = explain(path, "lightgbm-text", rows)

    assert output.method == method(
        "lightgbm.Booster.predict(pred_contrib=True)", "lightgbm", "margin"
    )
    assert output.source_columns == NUMERIC
    raw = booster.predict(numeric(rows), raw_score=True)
    np.testing.assert_allclose(output.model_output, raw, rtol=0, atol=1e-9)
    assert additivity_error(output) < 1e-4
    direct = np.asarray(shap.TreeExplainer(booster).shap_values(numeric(rows)))
    np.testing.assert_allclose(output.values, direct, rtol=0, atol=1e-6)
    result = report(output)
    assert_importance_matches(result["global_importance"], mean_abs(direct, NUMERIC), 1e-6)
    assert result["additivity"]["within_tolerance"] is True


# --- scikit-learn trees: shap's exact Tree SHAP ------------------------------------------------


def test_a_random_forest_is_explained_exactly_in_probability_space(tmp_path: Path) -> None:
    X, y = adult("train", 1500)
    forest = RandomForestClassifier(n_estimators=50, max_depth=6, random_state=0)
    forest.fit(numeric(X), y)
    path = skops_file(tmp_path, "forest", forest)
    rows, _ = adult("test", 300)

    output = explain(path, "skops", rows, trusted=[TREE])

    assert output.method == method(TREE_SHAP, "sklearn-tree", "probability")
    np.testing.assert_allclose(
        output.model_output, forest.predict_proba(numeric(rows))[:, 1], rtol=0, atol=1e-12
    )
    assert additivity_error(output) < 1e-9
    explainer = shap.TreeExplainer(forest)
    direct = explainer.shap_values(numeric(rows))[:, :, 1]
    np.testing.assert_allclose(output.values, direct, rtol=0, atol=1e-9)
    np.testing.assert_allclose(output.base_values, explainer.expected_value[1], rtol=0, atol=1e-12)
    result = report(output)
    assert_importance_matches(result["global_importance"], mean_abs(direct, NUMERIC), 1e-9)
    assert result["additivity"] == {
        "max_abs_error": additivity_error(output),
        "output_space": "probability",
        "tolerance": 1e-9,
        "within_tolerance": True,
    }


def test_gradient_boosting_is_explained_exactly_in_log_odds_space(tmp_path: Path) -> None:
    X, y = adult("train", 1500)
    model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0)
    model.fit(numeric(X), y)
    path = skops_file(tmp_path, "gradient_boosting", model)
    rows, _ = adult("test", 300)

    output = explain(path, "skops", rows, trusted=[TREE])

    assert output.method == method(TREE_SHAP, "sklearn-tree", "margin")
    np.testing.assert_allclose(
        output.model_output, model.decision_function(numeric(rows)), rtol=0, atol=1e-12
    )
    assert additivity_error(output) < 1e-9
    direct = shap.TreeExplainer(model).shap_values(numeric(rows))
    np.testing.assert_allclose(output.values, direct, rtol=0, atol=1e-9)
    assert_importance_matches(report(output)["global_importance"], mean_abs(direct, NUMERIC), 1e-9)


def test_the_demo_hist_gradient_boosting_pipeline_is_explained_per_adult_column(
    tmp_path: Path,
) -> None:
    X, y = adult("train", 1500)
    pipeline = build_pipeline("hist-gradient-boosting", seed=0).fit(X, y)
    path = skops_file(tmp_path, "demo", pipeline)
    rows, _ = adult("test", 300)

    output = explain(path, "skops", rows, trusted=[TREE_PREDICTOR])

    assert output.method == method(TREE_SHAP, "sklearn-tree", "margin")  # nothing unmapped
    transformed = pipeline[:-1].transform(rows)
    assert output.feature_names == list(pipeline[:-1].get_feature_names_out())
    assert set(output.source_columns) == ADULT_COLUMNS
    np.testing.assert_allclose(
        output.model_output, pipeline.decision_function(rows), rtol=0, atol=1e-12
    )
    assert additivity_error(output) < 1e-9
    direct = shap.TreeExplainer(pipeline[-1]).shap_values(transformed)
    np.testing.assert_allclose(output.values, direct, rtol=0, atol=1e-9)
    result = report(output)
    assert set(result["ranking"]) == ADULT_COLUMNS
    assert result["sensitive_share"]["features"] == ["sex", "race"]


# --- a linear pipeline with one-hot columns, in chunks -----------------------------------------


@pytest.fixture(scope="module")
def logistic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pipeline, Path]:
    X, y = adult("train", 2000)
    pipeline = build_pipeline("logistic-regression", seed=0).fit(X, y)
    return pipeline, skops_file(tmp_path_factory.mktemp("logistic"), "logistic", pipeline)


def test_a_logistic_pipeline_is_explained_exactly_per_one_hot_column_and_in_chunks(
    logistic: tuple[Pipeline, Path],
) -> None:
    pipeline, path = logistic
    rows, _ = adult("test", 600)
    background, _ = adult("train", 100, start=2000)

    whole = explain(path, "skops", rows, background)
    later = explain(path, "skops", rows.iloc[300:], background)
    earlier = explain(path, "skops", rows.iloc[:300], background)

    assert whole.method == method(
        "linear closed form, identical to shap.LinearExplainer (interventional)",
        "linear",
        "margin",
        background_rows=100,
    )
    names = list(pipeline[:-1].get_feature_names_out())
    assert whole.feature_names == names
    assert set(whole.source_columns) == ADULT_COLUMNS
    transformed = pipeline[:-1].transform(rows).toarray()
    np.testing.assert_array_equal(whole.data, transformed)
    np.testing.assert_allclose(
        whole.model_output, pipeline.decision_function(rows), rtol=0, atol=1e-12
    )
    assert additivity_error(whole) < 1e-9
    # shap's own LinearExplainer over the same background (its masker samples 100 rows at most).
    masker = shap.maskers.Independent(
        pipeline[:-1].transform(background).toarray(), max_samples=100
    )
    explainer = shap.LinearExplainer(pipeline[-1], masker)
    direct = explainer.shap_values(transformed)
    np.testing.assert_allclose(whole.values, direct, rtol=0, atol=1e-9)
    np.testing.assert_allclose(whole.base_values, explainer.expected_value, rtol=0, atol=1e-9)

    result = report(whole)
    sex = [i for i, name in enumerate(names) if name.startswith("categorical__sex_")]
    assert len(sex) == 2
    assert result["global_importance"]["sex"] == pytest.approx(
        np.abs(direct[:, sex].sum(axis=1)).mean(), abs=1e-9, rel=0
    )
    assert_importance_matches(result["global_importance_encoded"], mean_abs(direct, names), 1e-9)
    assert result["ranking"][0] == max(ADULT_COLUMNS, key=result["global_importance"].get)
    importance = result["global_importance"]
    total = sum(importance.values())
    assert result["sensitive_share"]["share"] == pytest.approx(
        (importance["sex"] + importance["race"]) / total
    )

    # Chunks sent in any order merge back into the very same arrays and report bytes.
    row_numbers, merged = merge_chunks([(np.arange(300, 600), later), (np.arange(300), earlier)])
    np.testing.assert_array_equal(row_numbers, np.arange(600))
    for name in ("values", "base_values", "model_output", "data"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name), err_msg=name)
    assert dumps(report(merged, row_numbers)) == dumps(result)
    assert dumps(report(whole)) == dumps(result)


def test_a_missing_feature_column_is_refused_by_name(logistic: tuple[Pipeline, Path]) -> None:
    _, path = logistic
    rows, _ = adult("test", 50)

    with pytest.raises(SandboxError) as caught:
        explain(path, "skops", rows.drop(columns="sex"), rows)

    assert caught.value.code == "invalid_input"
    assert str(caught.value) == "the features lack column(s) the model needs: sex"


def test_missing_values_a_logistic_regression_cannot_take_are_refused_clearly(
    logistic: tuple[Pipeline, Path],
) -> None:
    _, path = logistic
    rows, _ = adult("test", 50)
    rows.loc[3, "age"] = np.nan  # StandardScaler lets NaN through; LogisticRegression refuses it

    with pytest.raises(SandboxError) as caught:
        explain(path, "skops", rows, rows.dropna())

    assert caught.value.code == "invalid_input"
    message = str(caught.value)
    assert message.startswith("the model refused the features while predicting: ValueError:")
    assert "NaN" in message


def test_a_multiclass_model_is_refused_for_now(tmp_path: Path) -> None:
    X, _ = adult("train", 500)
    X = X[["age", "education_num", "hours_per_week"]]
    classes = np.digitize(X["age"], [30, 45])  # three classes
    path = skops_file(tmp_path, "multiclass", LogisticRegression(max_iter=1000).fit(X, classes))

    with pytest.raises(SandboxError) as caught:
        explain(path, "skops", X.iloc[:20], X.iloc[20:40])

    assert caught.value.code == "invalid_input"
    assert "more than two classes" in str(caught.value)


# --- model-agnostic fallback -------------------------------------------------------------------


def test_a_model_without_an_exact_explainer_is_explained_by_seeded_permutation(
    tmp_path: Path,
) -> None:
    X, y = adult("train", 1000)
    model = KNeighborsClassifier(n_neighbors=15).fit(numeric(X), y)
    path = skops_file(tmp_path, "neighbours", model)
    rows, _ = adult("test", 40)
    background, _ = adult("train", 30, start=1000)

    # max_evals below the minimum of one antithetic permutation (2k + 1) is raised to it.
    output = explain(path, "skops", rows, background, trusted=KNN_TYPES, seed=11, max_evals=3)

    assert output.method == {
        "explainer": "shap.PermutationExplainer",
        "exact": False,
        "model_family": "other",
        "output_space": "probability",
        "explained_class": 1,
        "background_rows": 30,
        "max_evals": 2 * len(NUMERIC) + 1,
    }
    np.testing.assert_array_equal(output.model_output, model.predict_proba(numeric(rows))[:, 1])
    assert additivity_error(output) < 1e-9
    # shap run here, each row seeded as the sandbox seeds it (which makes chunks irrelevant).
    explainer = shap.PermutationExplainer(
        lambda z: model.predict_proba(pd.DataFrame(z, columns=NUMERIC))[:, 1],
        shap.maskers.Independent(numeric(background).to_numpy(dtype=float), max_samples=30),
    )
    keys = pd.util.hash_pandas_object(numeric(rows), index=False).to_numpy(dtype=np.uint64)
    for i, row in enumerate(numeric(rows).to_numpy(dtype=float)):
        # shap draws from the global generator; each row is seeded from its own values.
        np.random.seed(row_seed(11, int(keys[i]).to_bytes(8, "little")))
        direct = explainer(row[None, :], max_evals=13, silent=True)
        np.testing.assert_allclose(output.values[i], direct.values[0], rtol=0, atol=1e-12)
        assert output.base_values[i] == pytest.approx(direct.base_values[0], abs=1e-12)
    assert report(output)["additivity"]["within_tolerance"] is True


# --- tracing encoded features back to input columns (no sandbox) -------------------------------


def test_encoded_features_are_traced_to_their_columns_without_splitting_names() -> None:
    n = 40
    frame = pd.DataFrame(
        {
            # "a" = "b_c" and "a_b" = "x" give onehot__a_b_c and onehot__a_b_x: by name, both
            # could come from either column.
            "a": ["b_c"] * 20 + ["d"] * 10 + ["e"] * 10,
            "a_b": ["x"] * 28 + ["y_z"] * 10 + ["w"] * 2,  # "w" is grouped as infrequent
            "flag": ["yes", "no"] * 20,
            "m": [np.nan if i % 7 == 0 else float(i) for i in range(n)],
            "n": np.arange(n, dtype=float),
            "rest": np.arange(n) % 3,
        }
    )
    columns = ColumnTransformer(
        [
            (
                "onehot",
                OneHotEncoder(min_frequency=5, handle_unknown="infrequent_if_exist"),
                ["a", "a_b"],
            ),
            ("binary", OneHotEncoder(drop="if_binary"), ["flag"]),
            (
                "numbers",
                Pipeline(
                    [("impute", SimpleImputer(add_indicator=True)), ("scale", StandardScaler())]
                ),
                ["m", "n"],
            ),
        ],
        remainder="passthrough",
    )
    pipeline = Pipeline([("columns", columns), ("model", LogisticRegression())])
    pipeline.fit(frame, np.arange(n) % 2)
    names = list(pipeline[:-1].get_feature_names_out())

    sources = trace_sources(pipeline[:-1], list(frame.columns), len(names))

    assert dict(zip(names, sources, strict=True)) == {
        "onehot__a_b_c": "a",
        "onehot__a_d": "a",
        "onehot__a_e": "a",
        "onehot__a_b_x": "a_b",
        "onehot__a_b_y_z": "a_b",
        "onehot__a_b_infrequent_sklearn": "a_b",
        "binary__flag_yes": "flag",
        "numbers__m": "m",
        "numbers__n": "n",
        "numbers__missingindicator_m": "m",
        "remainder__rest": "rest",
    }
    mixing = Pipeline([("scale", StandardScaler()), ("pca", PCA(2))]).fit(
        frame[["m", "n"]].fillna(0)
    )
    assert trace_sources(mixing, ["m", "n"], 2) == [None, None]


# --- the report itself (pure) ------------------------------------------------------------------


def synthetic(n: int = 20, family: str = "linear") -> dict[str, Any]:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(n, 4))
    base = np.full(n, 0.5)
    return {
        "values": values,
        "base_values": base,
        "model_output": values.sum(axis=1) + base,
        "feature_names": ["sex_F", "sex_M", "age", "income"],
        "source_columns": ["sex", "sex", "age", "income"],
        "method": {"model_family": family, "output_space": "margin"},
    }


def options(**changes: Any) -> dict[str, Any]:
    return {
        "row_index": np.arange(100, 120),
        "sensitive_features": ["sex", "religion", "sex"],
        "n_local": 3,
        "seed": 5,
        "rows_in_dataset": 500,
        "sampled": True,
        **changes,
    }


def test_local_explanations_are_the_extremes_then_seeded_random_rows() -> None:
    arrays = synthetic()
    result = explainability_report(**arrays, **options())

    local = result["local_explanations"]
    order = np.argsort(arrays["model_output"])
    assert [e["reason"] for e in local] == ["highest_output"] * 2 + ["lowest_output"] + [
        "random"
    ] * 3
    assert [e["row"] for e in local[:3]] == [100 + order[-1], 100 + order[-2], 100 + order[0]]
    randoms = [e["row"] for e in local[3:]]
    assert randoms == sorted(randoms)
    assert not set(randoms) & {e["row"] for e in local[:3]}
    first = local[0]
    i = first["row"] - 100
    assert first["output"] == arrays["model_output"][i]
    assert first["contributions"] == {
        "sex": arrays["values"][i, 0] + arrays["values"][i, 1],
        "age": arrays["values"][i, 2],
        "income": arrays["values"][i, 3],
    }
    again = explainability_report(**arrays, **options())
    assert dumps(again) == dumps(result)
    other = explainability_report(**arrays, **options(seed=6))
    assert other["local_explanations"][:3] == local[:3]
    assert dumps(other["local_explanations"]) != dumps(local)


def test_the_report_sums_one_hot_columns_and_shares_importance_with_sensitive_features() -> None:
    arrays = synthetic()
    result = explainability_report(**arrays, **options())

    values = arrays["values"]
    sex = float(np.abs(values[:, 0] + values[:, 1]).mean())
    assert result["global_importance"]["sex"] == sex
    assert result["global_importance_encoded"]["sex_F"] == float(np.abs(values[:, 0]).mean())
    total = sum(result["global_importance"].values())
    assert result["sensitive_share"] == {
        "features": ["sex"],
        "absent": ["religion"],
        "share": sex / total,
        "by_feature": {"sex": sex / total},
    }
    assert result["ranking"] == sorted(
        result["global_importance"], key=lambda c: (-result["global_importance"][c], c)
    )
    assert {k: result[k] for k in ("kind", "schema_version", "n_rows_explained")} == {
        "kind": "explainability",
        "schema_version": 1,
        "n_rows_explained": 20,
    }


def test_additivity_is_judged_against_the_precision_of_the_library() -> None:
    arrays = synthetic()
    arrays["model_output"] = arrays["model_output"] + 1e-6  # a float32-sized error

    linear = explainability_report(**arrays, **options())["additivity"]
    arrays["method"] = {"model_family": "xgboost", "output_space": "margin"}
    booster = explainability_report(**arrays, **options())["additivity"]

    assert linear["max_abs_error"] == pytest.approx(1e-6, rel=1e-6)
    assert linear["within_tolerance"] is False
    assert booster["within_tolerance"] is True


def test_merging_refuses_chunks_that_are_not_one_explanation() -> None:
    def chunk(model_family: str = "linear") -> ExplainOutput:
        arrays = synthetic(n=2, family=model_family)
        del arrays["feature_names"], arrays["source_columns"], arrays["method"]
        return ExplainOutput(
            **arrays,
            data=np.zeros((2, 4)),
            feature_names=["sex_F", "sex_M", "age", "income"],
            source_columns=["sex", "sex", "age", "income"],
            method={"model_family": model_family},
            details={},
        )

    with pytest.raises(ValueError, match="disagree on method"):
        merge_chunks([(np.arange(2), chunk()), (np.arange(2, 4), chunk("xgboost"))])
    with pytest.raises(ValueError, match="more than one chunk"):
        merge_chunks([(np.arange(2), chunk()), (np.arange(1, 3), chunk())])


def test_values_are_aggregated_per_column_for_charts() -> None:
    values = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]])
    data = np.array([[1.0, 0.0, 42.0], [0.0, 1.0, 37.0]])

    columns, summed, shown = aggregate_by_source(values, data, ["sex", "sex", "age"])

    assert columns == ["sex", "age"]
    np.testing.assert_array_equal(summed, [[3.0, 3.0], [-0.5, 0.25]])
    np.testing.assert_array_equal(shown, [[np.nan, 42.0], [np.nan, 37.0]])


def test_an_explanation_that_does_not_fit_the_rows_sent_is_invalid_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fake_run(*args: Any, **kwargs: Any) -> SandboxOutput:
        arrays = {
            "values": np.zeros((3, 2)),  # one row short
            "base_values": np.zeros(4),
            "model_output": np.zeros(4),
            "data": np.zeros((4, 2)),
        }
        data = {"feature_names": ["a", "b"], "source_columns": ["a", "b"], "method": {}}
        return SandboxOutput(arrays, data, {})

    monkeypatch.setattr("governance.sandbox.explain_client.run_in_sandbox", fake_run)
    features = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": 0.0})

    with pytest.raises(SandboxError) as caught:
        explain_in_sandbox(
            tmp_path / "model.json",
            "xgboost-json",
            features,
            background=None,
            trusted_types=[],
            allow_pickle=False,
            params={},
        )

    assert caught.value.code == "invalid_output"
    assert "values is float64 (3, 2), expected (4, 2)" in str(caught.value)
