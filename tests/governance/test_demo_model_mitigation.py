"""The demo's version 2: a fairness-mitigated Adult model that passes the check version 1 fails.

The check is the one the demo's policy applies to a fairness assessment on the held-out test file:
demographic parity difference on sex <= 0.10, on predictions y_score >= 0.5 (Fairlearn's metric).
Both models are trained on the real vendored data, once for the module (about 20 s).
"""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import skops.io
from django.conf import settings
from fairlearn.metrics import demographic_parity_difference
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from governance import demo_model

DATA_DIR = Path(settings.BASE_DIR) / "examples" / "data"
MAX_SEX_DEMOGRAPHIC_PARITY_DIFFERENCE = 0.10


def load(path: Path) -> Pipeline:
    """As the registry does: skops' default trusted types plus the deployment's allow-list."""
    return skops.io.load(path, trusted=list(settings.MODELGATE_SKOPS_TRUSTED_TYPES))


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("adult")
    paths = []
    for split in ("train", "test"):
        path = work / f"adult_{split}.csv"
        with gzip.open(DATA_DIR / f"adult_{split}.csv.gz", "rb") as source, path.open("wb") as out:
            shutil.copyfileobj(source, out)
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture(scope="module")
def versions(
    adult: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[demo_model.TrainedModel, demo_model.TrainedModel]:
    train_csv, test_csv = adult
    out = tmp_path_factory.mktemp("models")  # one directory, as the demo uses
    return (
        demo_model.train(train_csv, test_csv, out),
        demo_model.train_mitigated(train_csv, test_csv, out),
    )


def sex_gap_and_auc(path: Path, test_csv: Path) -> tuple[float, float]:
    estimator = load(path)
    X_test, y_test = demo_model.read_frame(test_csv)
    scores = estimator.predict_proba(X_test)[:, 1]
    gap = demographic_parity_difference(
        y_test, (scores >= 0.5).astype(np.int64), sensitive_features=X_test["sex"]
    )
    return float(gap), float(roc_auc_score(y_test, scores))


def test_the_mitigated_model_passes_the_fairness_check_the_plain_one_fails(
    adult: tuple[Path, Path],
    versions: tuple[demo_model.TrainedModel, demo_model.TrainedModel],
) -> None:
    _, test_csv = adult
    v1, v2 = versions

    v1_gap, _ = sex_gap_and_auc(v1.path, test_csv)
    v2_gap, v2_auc = sex_gap_and_auc(v2.path, test_csv)
    assert v1_gap > MAX_SEX_DEMOGRAPHIC_PARITY_DIFFERENCE + 0.05  # about 0.18: fails clearly
    assert v2_gap < MAX_SEX_DEMOGRAPHIC_PARITY_DIFFERENCE - 0.05  # about 0.02: passes clearly
    assert v2_auc >= 0.80
    assert v2.metrics["roc_auc"] == pytest.approx(v2_auc)
    assert v2.metrics["accuracy"] >= 0.80

    mitigation = v2.parameters["mitigation"]
    assert mitigation["method"] == "fairlearn.reductions.ExponentiatedGradient"
    assert mitigation["constraint"] == "DemographicParity"
    assert mitigation["sensitive_feature"] == "sex"
    assert 0.5 < mitigation["kept_predictor_weight"] <= 1.0
    assert mitigation["train_demographic_parity_difference"] < MAX_SEX_DEMOGRAPHIC_PARITY_DIFFERENCE


def test_the_mitigated_artifact_is_a_plain_sklearn_pipeline_on_version_1s_columns(
    versions: tuple[demo_model.TrainedModel, demo_model.TrainedModel],
) -> None:
    v1, v2 = versions

    assert v2.path != v1.path and v1.path.is_file()  # the same directory keeps both files
    # Nothing beyond skops' default trusted types, so no Fairlearn class, in the file.
    assert skops.io.get_untrusted_types(file=v2.path) == []
    estimator = load(v2.path)
    assert isinstance(estimator, Pipeline)
    assert hasattr(estimator, "predict_proba")
    assert estimator.classes_.tolist() == [0, 1]
    assert v2.feature_names == v1.feature_names == list(estimator.feature_names_in_)
    assert sorted(v2.feature_names) == sorted([*demo_model.CATEGORICAL, *demo_model.NUMERIC])


def test_mitigated_training_is_deterministic(adult: tuple[Path, Path], tmp_path: Path) -> None:
    train_csv, test_csv = adult
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    a = demo_model.train_mitigated(train_csv, test_csv, first, sample=3000)
    b = demo_model.train_mitigated(train_csv, test_csv, second, sample=3000)

    X_test, _ = demo_model.read_frame(test_csv)
    np.testing.assert_array_equal(
        load(a.path).predict_proba(X_test), load(b.path).predict_proba(X_test)
    )
    assert a.parameters["mitigation"] == b.parameters["mitigation"]
