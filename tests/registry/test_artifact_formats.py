"""registry.artifacts against real artifacts built on the fly: acceptance, exact reloads, and
each refusal with its stable code. No database, no Django."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from core.errors import InvalidInput
from registry.artifacts import ArtifactInspection, inspect_artifact, load_model
from tests.registry import artifact_builders as build

CUSTOM_STEP = "tests.registry.artifact_builders.DoubleFeatures"
TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
LIMITS = {"max_uncompressed_bytes": 50_000_000, "max_members": 1_000}


def inspect(
    path: pathlib.Path,
    artifact_format: str,
    *,
    trusted_types: tuple[str, ...] = (),
    allow_pickle: bool = False,
    **limits: int,
) -> ArtifactInspection:
    inspection = inspect_artifact(
        path,
        artifact_format,
        trusted_types=trusted_types,
        allow_pickle=allow_pickle,
        **{**LIMITS, **limits},
    )
    # The service stores details as JSON: every format must produce plain types.
    assert json.loads(json.dumps(inspection.details)) == inspection.details
    return inspection


def load(
    path: pathlib.Path,
    artifact_format: str,
    *,
    trusted_types: tuple[str, ...] = (),
    allow_pickle: bool = False,
) -> Any:
    return load_model(path, artifact_format, trusted_types=trusted_types, allow_pickle=allow_pickle)


def refusal(call: Callable[[], Any], code: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    assert caught.value.code == code, caught.value.detail
    return caught.value


def assert_reloads(model: Any, built: build.Built) -> None:
    np.testing.assert_array_equal(model.predict(built.X), built.expected_predict)
    if built.expected_proba is None:
        assert not hasattr(model, "predict_proba")
    else:
        proba = model.predict_proba(built.X)
        assert proba.shape == built.expected_proba.shape
        np.testing.assert_allclose(proba, built.expected_proba, rtol=0, atol=1e-6)
    assert model.classes_ == built.classes


def truncated(path: pathlib.Path, fraction: float = 0.5) -> pathlib.Path:
    raw = path.read_bytes()
    cut = path.with_name(f"cut-{path.name}")
    cut.write_bytes(raw[: int(len(raw) * fraction)])
    return cut


# --- skops -----------------------------------------------------------------------------------


def test_skops_logistic_is_inspected_and_reloads(tmp_path: pathlib.Path) -> None:
    built = build.skops_logistic(tmp_path)

    inspection = inspect(built.path, "skops")

    assert inspection.artifact_format == "skops"
    assert inspection.unsafe is False
    assert inspection.framework.startswith("scikit-learn ")
    assert inspection.n_features == 4
    assert inspection.feature_names == build.FEATURES
    assert inspection.details["estimator_class"] == (
        "sklearn.linear_model._logistic.LogisticRegression"
    )
    assert inspection.details["has_predict_proba"] is True
    assert inspection.details["classes"] == [0, 1]
    assert inspection.details["trusted_via_allow_list"] == []
    model = load(built.path, "skops")
    assert model.feature_names == build.FEATURES
    assert_reloads(model, built)


def test_skops_column_transformer_pipeline_needs_no_extra_trust(tmp_path: pathlib.Path) -> None:
    built = build.skops_column_pipeline(tmp_path)

    inspection = inspect(built.path, "skops")

    assert inspection.feature_names == ["age", "income", "region"]
    assert [step["name"] for step in inspection.details["steps"]] == ["columns", "classifier"]
    assert inspection.details["classes"] == [0, 1, 2]
    assert_reloads(load(built.path, "skops"), built)


def test_skops_regressor_has_no_predict_proba(tmp_path: pathlib.Path) -> None:
    built = build.skops_ridge(tmp_path)

    inspection = inspect(built.path, "skops")

    assert inspection.details["has_predict_proba"] is False
    assert inspection.feature_names is None
    model = load(built.path, "skops")
    assert model.classes_ is None
    assert_reloads(model, built)


def test_skops_custom_type_is_refused_until_the_deployment_trusts_it(
    tmp_path: pathlib.Path,
) -> None:
    built = build.skops_custom_step(tmp_path)

    error = refusal(lambda: inspect(built.path, "skops"), "untrusted_types")
    assert error.extra["untrusted_types"] == [CUSTOM_STEP]
    assert CUSTOM_STEP in error.detail
    refusal(lambda: load(built.path, "skops"), "untrusted_types")

    inspection = inspect(built.path, "skops", trusted_types=(CUSTOM_STEP,))
    assert inspection.details["trusted_via_allow_list"] == [CUSTOM_STEP]
    assert_reloads(load(built.path, "skops", trusted_types=(CUSTOM_STEP,)), built)


def test_skops_hist_gradient_boosting_needs_its_tree_predictor_trusted(
    tmp_path: pathlib.Path,
) -> None:
    built = build.skops_hist_gradient_boosting(tmp_path)

    error = refusal(lambda: inspect(built.path, "skops"), "untrusted_types")
    assert error.extra["untrusted_types"] == [TREE_PREDICTOR]

    trusted = (TREE_PREDICTOR, CUSTOM_STEP)  # extra entries in the allow-list are harmless
    inspection = inspect(built.path, "skops", trusted_types=trusted)
    assert inspection.details["trusted_via_allow_list"] == [TREE_PREDICTOR]
    assert_reloads(load(built.path, "skops", trusted_types=trusted), built)


def test_skops_truncated_zip_is_corrupt(tmp_path: pathlib.Path) -> None:
    cut = truncated(build.skops_logistic(tmp_path).path)
    refusal(lambda: inspect(cut, "skops"), "corrupt_artifact")
    refusal(lambda: load(cut, "skops"), "corrupt_artifact")


def test_skops_without_predict_is_corrupt(tmp_path: pathlib.Path) -> None:
    path = build.skops_not_a_model(tmp_path)
    error = refusal(lambda: inspect(path, "skops"), "corrupt_artifact")
    assert "predict" in error.detail


@pytest.mark.parametrize(
    "member", ["../evil", "/etc/cron.d/evil", "C:evil", "dir\\evil", "a/../../evil", "schema.json"]
)
def test_skops_unsafe_member_names_are_refused(tmp_path: pathlib.Path, member: str) -> None:
    path = build.skops_logistic(tmp_path).path
    build.add_zip_member(path, member)

    error = refusal(lambda: inspect(path, "skops"), "archive_member_name")
    assert error.extra["member"] == member
    refusal(lambda: load(path, "skops"), "archive_member_name")


def test_zip_without_schema_is_not_a_skops_artifact(tmp_path: pathlib.Path) -> None:
    path = build.plain_zip(tmp_path, {"model.npy": b"\x93NUMPY"})
    error = refusal(lambda: inspect(path, "skops"), "corrupt_artifact")
    assert "schema.json" in error.detail


def test_skops_archive_limits(tmp_path: pathlib.Path) -> None:
    path = build.skops_logistic(tmp_path).path

    too_many = refusal(lambda: inspect(path, "skops", max_members=1), "archive_too_large")
    assert too_many.extra["max_members"] == 1
    too_big = refusal(
        lambda: inspect(path, "skops", max_uncompressed_bytes=100), "archive_too_large"
    )
    assert too_big.extra["uncompressed_bytes"] > 100


# --- xgboost ---------------------------------------------------------------------------------

XGBOOST_CASES = [
    ("binary:logistic", "json", "xgboost-json"),
    ("multi:softprob", "json", "xgboost-json"),
    ("reg:squarederror", "json", "xgboost-json"),
    ("binary:logistic", "ubj", "xgboost-ubj"),
    ("multi:softprob", "ubj", "xgboost-ubj"),
]


@pytest.mark.parametrize(("objective", "suffix", "artifact_format"), XGBOOST_CASES)
def test_xgboost_is_inspected_and_reloads(
    tmp_path: pathlib.Path, objective: str, suffix: str, artifact_format: str
) -> None:
    built = build.xgboost_booster(tmp_path, objective, suffix)

    inspection = inspect(built.path, artifact_format)

    assert inspection.framework.startswith("xgboost ")
    assert inspection.unsafe is False
    assert inspection.n_features == 4
    assert inspection.feature_names == build.FEATURES
    assert inspection.details["objective"] == objective
    assert inspection.details["num_boosted_rounds"] == 4
    assert inspection.details["has_predict_proba"] is (built.expected_proba is not None)
    model = load(built.path, artifact_format)
    assert_reloads(model, built)
    # A DataFrame with shuffled columns is realigned by name.
    shuffled = build.frame(built.X)[build.FEATURES[::-1]]
    np.testing.assert_array_equal(model.predict(shuffled), built.expected_predict)


def test_xgboost_truncated_json_is_corrupt(tmp_path: pathlib.Path) -> None:
    cut = truncated(build.xgboost_booster(tmp_path, "binary:logistic", "json").path)
    refusal(lambda: inspect(cut, "xgboost-json"), "corrupt_artifact")
    refusal(lambda: load(cut, "xgboost-json"), "corrupt_artifact")


def test_xgboost_truncated_ubj_is_corrupt(tmp_path: pathlib.Path) -> None:
    cut = truncated(build.xgboost_booster(tmp_path, "binary:logistic", "ubj").path)
    refusal(lambda: inspect(cut, "xgboost-ubj"), "corrupt_artifact")


def test_xgboost_json_declared_as_ubj_and_back(tmp_path: pathlib.Path) -> None:
    json_path = build.xgboost_booster(tmp_path, "binary:logistic", "json").path
    ubj_path = build.xgboost_booster(tmp_path, "binary:logistic", "ubj").path

    as_ubj = refusal(lambda: inspect(json_path, "xgboost-ubj"), "corrupt_artifact")
    assert "JSON text" in as_ubj.detail
    as_json = refusal(lambda: inspect(ubj_path, "xgboost-json"), "corrupt_artifact")
    assert "UBJSON" in as_json.detail


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.14, 0.26, 0.5, 0.75, 0.99])
def test_xgboost_ubj_cut_anywhere_is_corrupt(tmp_path: pathlib.Path, fraction: float) -> None:
    # xgboost's own UBJSON reader segfaults or aborts on some of these cuts.
    cut = truncated(build.xgboost_booster(tmp_path, "multi:softprob", "ubj").path, fraction)
    refusal(lambda: inspect(cut, "xgboost-ubj"), "corrupt_artifact")
    refusal(lambda: load(cut, "xgboost-ubj"), "corrupt_artifact")


def test_xgboost_ubj_with_trailing_bytes_is_corrupt(tmp_path: pathlib.Path) -> None:
    path = build.xgboost_booster(tmp_path, "binary:logistic", "ubj").path
    path.write_bytes(path.read_bytes() + b"{}")
    refusal(lambda: inspect(path, "xgboost-ubj"), "corrupt_artifact")


def _edit_first_tree(path: pathlib.Path, edit: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_text())
    edit(document["learner"]["gradient_booster"]["model"]["trees"][0])
    path.write_text(json.dumps(document))


def _first_internal_child(tree: dict[str, Any]) -> int:
    return next(n for n in tree["left_children"][1:] if tree["left_children"][n] != -1)


XGBOOST_TREE_EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    # Each of these made xgboost segfault (or loop forever) when loaded and used.
    "child out of range": lambda tree: tree["right_children"].__setitem__(0, 64),
    "negative child": lambda tree: tree["left_children"].__setitem__(0, -7),
    "feature out of range": lambda tree: tree["split_indices"].__setitem__(0, 8),
    "cycle back to the root": lambda tree: tree["left_children"].__setitem__(
        _first_internal_child(tree), 0
    ),
    "array too short": lambda tree: tree["split_conditions"].pop(),
}


@pytest.mark.parametrize("edit", XGBOOST_TREE_EDITS.values(), ids=XGBOOST_TREE_EDITS.keys())
def test_xgboost_inconsistent_trees_are_corrupt(
    tmp_path: pathlib.Path, edit: Callable[[dict[str, Any]], None]
) -> None:
    path = build.xgboost_booster(tmp_path, "binary:logistic", "json").path
    _edit_first_tree(path, edit)

    error = refusal(lambda: inspect(path, "xgboost-json"), "corrupt_artifact")
    assert "tree 0" in error.detail
    refusal(lambda: load(path, "xgboost-json"), "corrupt_artifact")


def test_xgboost_feature_names_xgboost_cannot_predict_with_are_corrupt(
    tmp_path: pathlib.Path,
) -> None:
    path = build.xgboost_booster(tmp_path, "binary:logistic", "json").path
    document = json.loads(path.read_text())
    document["learner"]["feature_names"][0] = "age[years]"
    path.write_text(json.dumps(document))

    refusal(lambda: inspect(path, "xgboost-json"), "corrupt_artifact")


def test_xgboost_json_without_learner_is_corrupt(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"version": [3, 0, 0]}')
    error = refusal(lambda: inspect(path, "xgboost-json"), "corrupt_artifact")
    assert "learner" in error.detail


# --- lightgbm --------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["binary", "multiclass", "regression"])
def test_lightgbm_is_inspected_and_reloads(tmp_path: pathlib.Path, objective: str) -> None:
    built = build.lightgbm_booster(tmp_path, objective)

    inspection = inspect(built.path, "lightgbm-text")

    assert inspection.framework.startswith("lightgbm ")
    assert inspection.n_features == 4
    assert inspection.feature_names == build.FEATURES
    assert inspection.details["objective"] == objective
    assert inspection.details["num_trees"] == 3 * (3 if objective == "multiclass" else 1)
    assert_reloads(load(built.path, "lightgbm-text"), built)


def test_lightgbm_categorical_and_linear_trees_pass_the_layout_checks(
    tmp_path: pathlib.Path,
) -> None:
    categorical = build.lightgbm_categorical(tmp_path)
    assert b"cat_threshold=" in categorical.path.read_bytes()
    assert_reloads(load(categorical.path, "lightgbm-text"), categorical)

    linear = build.lightgbm_booster(tmp_path, "regression", linear_tree=True)
    assert b"is_linear=1" in linear.path.read_bytes()
    np.testing.assert_allclose(
        load(linear.path, "lightgbm-text").predict(linear.X), linear.expected_predict
    )


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9])
def test_lightgbm_truncated_text_is_corrupt(tmp_path: pathlib.Path, fraction: float) -> None:
    # LightGBM itself segfaults on such input: reaching the assertion proves it never saw it.
    cut = truncated(build.lightgbm_booster(tmp_path, "binary").path, fraction)
    refusal(lambda: inspect(cut, "lightgbm-text"), "corrupt_artifact")
    refusal(lambda: load(cut, "lightgbm-text"), "corrupt_artifact")


def test_lightgbm_cycle_is_corrupt(tmp_path: pathlib.Path) -> None:
    # LightGBM would accept this and then loop forever in predict.
    path = build.lightgbm_booster(tmp_path, "binary").path
    text = path.read_text()
    line = next(line for line in text.split("\n") if line.startswith("right_child="))
    values = line.removeprefix("right_child=").split()
    node = next(i for i, v in enumerate(values) if int(v) > 0)
    values[node] = "0"
    path.write_text(text.replace(line, "right_child=" + " ".join(values), 1))

    error = refusal(lambda: inspect(path, "lightgbm-text"), "corrupt_artifact")
    assert "tree 0" in error.detail


@pytest.mark.parametrize(
    ("original", "edited"),
    [
        ("split_feature=0", "split_feature=7"),  # a feature the model does not have
        ("left_child=1", "left_child=5"),  # a node that does not exist
        ("tree_sizes=", "tree_sizes=1"),  # sizes no longer tile the trees
        ("num_cat=0", "num_cat40"),  # with the next edit, made LightGBM abort
        ("[cat_l2: 10]\n", "[cat_l2 10]\n"),  # made LightGBM segfault
        ("[cat_l2: 10]\n[cat_smooth: 10]\n", "[cat_l2: 10] [cat_smooth: 10]\n"),
        ("end of parameters", "end of params"),
    ],
)
def test_lightgbm_inconsistent_trees_are_corrupt(
    tmp_path: pathlib.Path, original: str, edited: str
) -> None:
    path = build.lightgbm_booster(tmp_path, "binary").path
    text = path.read_text()
    assert original in text
    path.write_text(text.replace(original, edited, 1))

    refusal(lambda: inspect(path, "lightgbm-text"), "corrupt_artifact")


# --- onnx ------------------------------------------------------------------------------------


@pytest.mark.parametrize("zipmap", [False, True])
def test_onnx_classifier_is_inspected_and_reloads(tmp_path: pathlib.Path, zipmap: bool) -> None:
    built = build.onnx_linear_classifier(tmp_path, zipmap=zipmap)

    inspection = inspect(built.path, "onnx")

    assert inspection.framework.startswith("onnxruntime ")
    assert inspection.n_features == 4
    assert inspection.feature_names is None
    assert inspection.details["inputs"] == [
        {"name": "input", "type": "tensor(float)", "shape": [None, 4]}
    ]
    assert [o["name"] for o in inspection.details["outputs"]] == [
        "label",
        "output_probability" if zipmap else "probabilities",
    ]
    assert {"domain": "ai.onnx.ml", "version": 3} in inspection.details["opset"]
    assert inspection.details["producer"] == "modelgate-tests 1.0"
    assert inspection.details["has_predict_proba"] is True
    assert inspection.details["classes"] == [0, 1, 2]
    assert inspection.details["loadable"] is True
    model = load(built.path, "onnx")
    assert_reloads(model, built)
    np.testing.assert_array_equal(model.predict(build.frame(built.X)), built.expected_predict)


def test_onnx_regression_has_only_predict(tmp_path: pathlib.Path) -> None:
    built = build.onnx_linear_regression(tmp_path)

    inspection = inspect(built.path, "onnx")
    model = load(built.path, "onnx")

    assert inspection.details["has_predict_proba"] is False
    assert not hasattr(model, "predict_proba")
    # float32 arithmetic in onnxruntime versus numpy: equal up to rounding.
    np.testing.assert_allclose(model.predict(built.X), built.expected_predict, atol=1e-6)


def test_onnx_one_input_per_feature_is_inspected_but_not_loadable(
    tmp_path: pathlib.Path,
) -> None:
    path = build.onnx_per_column_inputs(tmp_path)

    inspection = inspect(path, "onnx")
    assert inspection.n_features == 4
    assert inspection.feature_names == build.FEATURES
    assert inspection.details["loadable"] is False
    error = refusal(lambda: load(path, "onnx"), "unsupported_model")
    assert error.extra["inputs"] == build.FEATURES


@pytest.mark.parametrize(
    "builder", [build.onnx_external_initializer, build.onnx_external_in_subgraph]
)
def test_onnx_external_data_is_refused(
    tmp_path: pathlib.Path, builder: Callable[[pathlib.Path], pathlib.Path]
) -> None:
    path = builder(tmp_path)
    error = refusal(lambda: inspect(path, "onnx"), "external_data")
    assert error.extra["tensor"] == "weights"
    refusal(lambda: load(path, "onnx"), "external_data")


def test_onnx_garbage_and_truncation_are_corrupt(tmp_path: pathlib.Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07garbage that is no protobuf \xff\xff\xff\xff")
    refusal(lambda: inspect(garbage, "onnx"), "corrupt_artifact")
    cut = truncated(build.onnx_linear_classifier(tmp_path, zipmap=False).path)
    refusal(lambda: inspect(cut, "onnx"), "corrupt_artifact")


# --- pickle and joblib -----------------------------------------------------------------------


@pytest.mark.parametrize("artifact_format", ["pickle", "joblib"])
def test_pickle_formats_are_refused_unless_allowed(
    tmp_path: pathlib.Path, artifact_format: str
) -> None:
    built = build.pickled_logistic(tmp_path, artifact_format)

    error = refusal(lambda: inspect(built.path, artifact_format), "unsafe_format")
    assert "MODELGATE_ALLOW_PICKLE" in error.detail
    refusal(lambda: load(built.path, artifact_format), "unsafe_format")


@pytest.mark.parametrize("artifact_format", ["pickle", "joblib"])
def test_allowed_pickle_formats_are_scanned_and_reload(
    tmp_path: pathlib.Path, artifact_format: str
) -> None:
    built = build.pickled_logistic(tmp_path, artifact_format)

    inspection = inspect(built.path, artifact_format, allow_pickle=True)

    assert inspection.unsafe is True
    assert inspection.framework == ""
    assert inspection.details["scan_complete"] is True
    assert inspection.details["compressed"] is False
    assert (
        "sklearn.linear_model._logistic.LogisticRegression"
        in (inspection.details["pickle_globals"])
    )
    assert_reloads(load(built.path, artifact_format, allow_pickle=True), built)


def test_compressed_joblib_is_reported_not_inflated(tmp_path: pathlib.Path) -> None:
    built = build.pickled_logistic(tmp_path, "joblib", compress=3)

    inspection = inspect(built.path, "joblib", allow_pickle=True)

    assert inspection.details["compressed"] is True
    assert inspection.details["compression"] == "zlib"
    assert inspection.details["pickle_globals"] == []
    assert inspection.details["scan_complete"] is False


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_hostile_pickle_is_reported_and_never_run(tmp_path: pathlib.Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = build.hostile_pickle(tmp_path, marker, protocol)

    inspection = inspect(path, "pickle", allow_pickle=True)
    assert build.hostile_global(protocol) in inspection.details["pickle_globals"]
    assert inspection.details["scan_complete"] is True
    assert not marker.exists()

    refusal(lambda: inspect(path, "pickle"), "unsafe_format")
    refusal(lambda: load(path, "pickle"), "unsafe_format")
    assert not marker.exists()


def test_hostile_joblib_behind_array_data_is_reported_and_never_run(
    tmp_path: pathlib.Path,
) -> None:
    marker = tmp_path / "pwned"
    path = build.hostile_joblib(tmp_path, marker)

    inspection = inspect(path, "joblib", allow_pickle=True)

    assert inspection.details["scan_complete"] is True
    assert "pathlib.Path.touch" in inspection.details["pickle_globals"]
    # Found inside the nested pickle joblib writes for the object array:
    assert "numpy._core.multiarray._reconstruct" in inspection.details["pickle_globals"]
    assert not marker.exists()
    refusal(lambda: load(path, "joblib"), "unsafe_format")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_joblib_arrays_are_stepped_over_in_every_protocol(
    tmp_path: pathlib.Path, protocol: int
) -> None:
    marker = tmp_path / "pwned"
    path = build.hostile_joblib(tmp_path, marker, protocol)

    inspection = inspect(path, "joblib", allow_pickle=True)

    assert inspection.details["scan_complete"] is True
    assert build.hostile_global(protocol) in inspection.details["pickle_globals"]
    assert not marker.exists()


def test_joblib_declared_as_pickle_is_corrupt(tmp_path: pathlib.Path) -> None:
    # Raw array bytes inside the stream are not pickle opcodes.
    path = build.hostile_joblib(tmp_path, tmp_path / "pwned")
    refusal(lambda: inspect(path, "pickle", allow_pickle=True), "corrupt_artifact")
    assert not (tmp_path / "pwned").exists()


# --- any format ------------------------------------------------------------------------------

ALL_FORMATS = [
    "skops",
    "xgboost-json",
    "xgboost-ubj",
    "lightgbm-text",
    "onnx",
    "pickle",
    "joblib",
]


@pytest.mark.parametrize("artifact_format", ALL_FORMATS)
def test_random_bytes_are_corrupt_in_every_format(
    tmp_path: pathlib.Path, artifact_format: str
) -> None:
    path = tmp_path / "random.bin"
    # 0xDE is neither a pickle opcode nor a compression magic, so no format can accept it.
    path.write_bytes(b"\xde\xad\xbe\xef" + np.random.default_rng(3).bytes(4096))

    refusal(lambda: inspect(path, artifact_format, allow_pickle=True), "corrupt_artifact")
    refusal(lambda: load(path, artifact_format, allow_pickle=True), "corrupt_artifact")


@pytest.mark.parametrize("artifact_format", ALL_FORMATS)
def test_empty_file_is_corrupt_in_every_format(
    tmp_path: pathlib.Path, artifact_format: str
) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    refusal(lambda: inspect(path, artifact_format, allow_pickle=True), "corrupt_artifact")


def test_unknown_format_is_refused(tmp_path: pathlib.Path) -> None:
    path = build.skops_logistic(tmp_path).path
    error = refusal(lambda: inspect(path, "safetensors"), "unknown_format")
    assert "skops" in error.extra["supported_formats"]
    refusal(lambda: load(path, "safetensors"), "unknown_format")
