"""REST API: model versions with real artifacts, refusals that leave nothing behind, loading."""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from core.errors import IntegrityFailure, InvalidInput
from registry.model_loading import load_version
from registry.models import EdgeKind, LineageEdge, ModelVersion
from tests.factories import DatasetVersionFactory, ModelVersionFactory, RegisteredModelFactory
from tests.helpers import stored_files
from tests.registry import artifact_builders as build

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(team):
    return RegisteredModelFactory(name="credit", owner_team=team)


def _file(path: Path, name: str = "model.bin") -> io.BytesIO:
    handle = io.BytesIO(path.read_bytes())
    handle.name = name
    return handle


def post_version(client, path: Path, artifact_format: str, **fields):
    return client.post(
        "/api/v1/models/credit/versions/",
        {"artifact": _file(path), "artifact_format": artifact_format, **fields},
        format="multipart",
    )


def test_a_skops_version_is_registered_with_lineage_and_loads_to_the_same_predictions(
    api, data_scientist, model, tmp_path, media_root
):
    built = build.skops_logistic(tmp_path)
    train, evaluation = DatasetVersionFactory(), DatasetVersionFactory()

    response = post_version(
        api(data_scientist),
        built.path,
        "skops",
        metrics='{"roc_auc": 0.91}',
        parameters='{"C": 1.0}',
        training_dataset=f"{train.dataset.name}:{train.version}",
        evaluation_dataset=f"{evaluation.dataset.name}:{evaluation.version}",
        code_repository="https://git.example.org/credit",
        code_commit="4f2a9c1",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1
    assert body["stage"] == "none"
    assert body["artifact_format"] == "skops"
    assert body["is_unsafe"] is False
    assert body["metrics"] == {"roc_auc": 0.91}
    assert body["feature_names"] == build.FEATURES
    assert body["training_dataset"] == f"{train.dataset.name}:{train.version}"
    assert body["evaluation_dataset"] == f"{evaluation.dataset.name}:{evaluation.version}"
    assert body["artifact_sha256"] == hashlib.sha256(built.path.read_bytes()).hexdigest()
    version = ModelVersion.objects.get()
    assert stored_files(media_root) == [media_root / version.artifact_key]
    assert set(LineageEdge.objects.values_list("kind", flat=True)) == {"trained_on", "evaluated_on"}
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions == [
        "registry.version.registered",
        "registry.lineage.edge_added",
        "registry.lineage.edge_added",
    ]

    loaded = load_version(version)
    np.testing.assert_array_equal(loaded.predict(built.X), built.expected_predict)
    np.testing.assert_allclose(loaded.predict_proba(built.X), built.expected_proba, atol=1e-9)


@pytest.mark.parametrize(
    ("builder", "artifact_format"),
    [
        (lambda p: build.xgboost_booster(p, "binary:logistic", ".json"), "xgboost-json"),
        (lambda p: build.xgboost_booster(p, "binary:logistic", ".ubj"), "xgboost-ubj"),
        (lambda p: build.lightgbm_booster(p, "binary"), "lightgbm-text"),
        (lambda p: build.onnx_linear_classifier(p, zipmap=False), "onnx"),
    ],
)
def test_every_safe_format_registers_and_loads(
    api, data_scientist, model, tmp_path, builder, artifact_format
):
    built = builder(tmp_path)

    response = post_version(api(data_scientist), built.path, artifact_format)

    assert response.status_code == 201, response.content
    loaded = load_version(ModelVersion.objects.get())
    np.testing.assert_array_equal(loaded.predict(built.X), built.expected_predict)


def test_a_child_version_records_its_parent(api, data_scientist, model, tmp_path):
    client = api(data_scientist)
    built = build.skops_logistic(tmp_path)
    assert post_version(client, built.path, "skops").status_code == 201

    response = post_version(client, built.path, "skops", parent_version=1)

    assert response.status_code == 201
    assert response.json()["parent_version"] == 1
    edge = LineageEdge.objects.get(kind=EdgeKind.DERIVED_FROM)
    assert (edge.subject.version, edge.object.version) == (2, 1)


def _refusal(client, path, artifact_format, media_root, **fields):
    events = AuditEvent.objects.count()
    response = post_version(client, path, artifact_format, **fields)
    assert not ModelVersion.objects.exists()
    assert not LineageEdge.objects.exists()
    assert stored_files(media_root) == []
    assert AuditEvent.objects.count() == events
    return response


def test_a_hostile_pickle_is_refused_and_never_executed(
    api, data_scientist, model, tmp_path, media_root
):
    marker = tmp_path / "pwned"
    hostile = build.hostile_pickle(tmp_path, marker, protocol=4)

    response = _refusal(api(data_scientist), hostile, "pickle", media_root)

    assert response.status_code == 400
    assert response.json()["code"] == "unsafe_format"
    assert not marker.exists()


def test_when_pickle_is_allowed_the_version_is_marked_unsafe_and_still_not_executed(
    api, data_scientist, model, tmp_path, settings
):
    settings.MODELGATE_ALLOW_PICKLE = True
    marker = tmp_path / "pwned"
    for protocol in (2, 4):
        hostile = build.hostile_pickle(tmp_path, marker, protocol=protocol)
        response = post_version(api(data_scientist), hostile, "pickle")
        assert response.status_code == 201, response.content
        assert response.json()["is_unsafe"] is True
    assert not marker.exists()
    details = ModelVersion.objects.order_by("version").last().artifact_details
    assert "pathlib.Path.touch" in str(details) or "Path.touch" in str(details)


def test_untrusted_skops_types_are_refused_with_the_list(
    api, data_scientist, model, tmp_path, media_root
):
    built = build.skops_custom_step(tmp_path)

    response = _refusal(api(data_scientist), built.path, "skops", media_root)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "untrusted_types"
    assert "tests.registry.artifact_builders.DoubleFeatures" in body["untrusted_types"]
    assert "DoubleFeatures" in body["detail"]


def test_the_deployment_allow_list_admits_an_untrusted_type(
    api, data_scientist, model, tmp_path, settings
):
    settings.MODELGATE_SKOPS_TRUSTED_TYPES = ["tests.registry.artifact_builders.DoubleFeatures"]
    built = build.skops_custom_step(tmp_path)

    response = post_version(api(data_scientist), built.path, "skops")

    assert response.status_code == 201, response.content


def test_an_upload_cannot_widen_the_allow_list(api, data_scientist, model, tmp_path, media_root):
    built = build.skops_custom_step(tmp_path)

    trusted = "tests.registry.artifact_builders.DoubleFeatures"
    client = api(data_scientist)

    as_a_field = _refusal(client, built.path, "skops", media_root, trusted_types=trusted)
    in_parameters = _refusal(
        client, built.path, "skops", media_root, parameters=f'{{"trusted": ["{trusted}"]}}'
    )

    assert as_a_field.status_code == 400
    assert as_a_field.json()["errors"] == {"trusted_types": ["unknown or read-only field"]}
    assert in_parameters.status_code == 400
    assert in_parameters.json()["code"] == "untrusted_types"


@pytest.mark.parametrize(
    "artifact_format", ["skops", "xgboost-json", "xgboost-ubj", "lightgbm-text", "onnx"]
)
def test_random_bytes_are_refused_as_corrupt(
    api, data_scientist, model, tmp_path, media_root, artifact_format
):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(np.random.default_rng(1).bytes(4096))

    response = _refusal(api(data_scientist), garbage, artifact_format, media_root)

    assert response.status_code == 400
    assert response.json()["code"] == "corrupt_artifact"


def test_a_truncated_skops_archive_is_refused(api, data_scientist, model, tmp_path, media_root):
    built = build.skops_logistic(tmp_path)
    truncated = tmp_path / "truncated.skops"
    content = built.path.read_bytes()
    truncated.write_bytes(content[: len(content) // 2])

    response = _refusal(api(data_scientist), truncated, "skops", media_root)

    assert response.status_code == 400
    assert response.json()["code"] == "corrupt_artifact"


def test_an_onnx_model_with_external_data_is_refused(
    api, data_scientist, model, tmp_path, media_root
):
    response = _refusal(
        api(data_scientist), build.onnx_external_initializer(tmp_path), "onnx", media_root
    )

    assert response.status_code == 400
    assert response.json()["code"] == "external_data"


def test_an_artifact_over_the_size_limit_is_refused_with_413(
    api, data_scientist, model, tmp_path, media_root, settings
):
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 1024
    built = build.skops_logistic(tmp_path)

    response = _refusal(api(data_scientist), built.path, "skops", media_root)

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_an_unknown_dataset_reference_is_refused(api, data_scientist, model, tmp_path, media_root):
    built = build.skops_logistic(tmp_path)

    response = _refusal(
        api(data_scientist), built.path, "skops", media_root, training_dataset="adult:7"
    )

    assert response.status_code == 400
    assert "adult:7" in response.json()["detail"]


def test_feature_names_that_contradict_the_artifact_are_refused(
    api, data_scientist, model, tmp_path, media_root
):
    built = build.skops_logistic(tmp_path)

    response = _refusal(
        api(data_scientist), built.path, "skops", media_root, feature_names='["a", "b", "c", "d"]'
    )

    assert response.status_code == 400
    assert response.json()["code"] == "feature_names_mismatch"


@pytest.mark.parametrize("who", ["other_data_scientist", "validator", "risk_officer", "auditor"])
def test_only_the_owner_teams_data_scientists_register_versions(
    api, model, tmp_path, media_root, who, request
):
    built = build.skops_logistic(tmp_path)

    response = _refusal(api(request.getfixturevalue(who)), built.path, "skops", media_root)

    assert response.status_code == 403


def test_every_role_reads_versions(api, model, validator, risk_officer, auditor, admin_user):
    ModelVersionFactory(model=model, version=1)
    for user in (validator, risk_officer, auditor, admin_user):
        client = api(user)
        assert client.get("/api/v1/models/credit/versions/").json()["count"] == 1
        assert client.get("/api/v1/models/credit/versions/1/").json()["version"] == 1
    assert api(validator).get("/api/v1/models/credit/versions/2/").status_code == 404
    assert api(validator).get("/api/v1/models/nope/versions/").status_code == 404


def test_a_tampered_artifact_is_never_loaded(api, data_scientist, model, tmp_path, media_root):
    built = build.skops_logistic(tmp_path)
    post_version(api(data_scientist), built.path, "skops")
    version = ModelVersion.objects.get()
    stored = media_root / version.artifact_key
    content = bytearray(stored.read_bytes())
    content[-1] ^= 0xFF
    stored.write_bytes(bytes(content))

    with pytest.raises(IntegrityFailure, match="changed on disk"):
        load_version(version)


def test_the_version_list_issues_a_constant_number_of_queries(api, model, validator):
    train = DatasetVersionFactory()
    for n in range(1, 31):
        version = ModelVersionFactory(model=model, version=n, parent=None)
        LineageEdge.objects.create(
            kind=EdgeKind.TRAINED_ON,
            subject_model_version=version,
            object_dataset_version=train,
            created_by=version.created_by,
        )
    client = api(validator)

    def count(page_size: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/api/v1/models/credit/versions/?page_size={page_size}")
        assert response.status_code == 200
        assert all(v["training_dataset"] for v in response.json()["results"])
        return len(ctx.captured_queries)

    count(3)
    assert count(3) == count(30)


def test_a_pickle_version_is_never_loaded_in_the_application_process(
    api, data_scientist, model, tmp_path, settings
):
    settings.MODELGATE_ALLOW_PICKLE = True
    marker = tmp_path / "pwned"
    post_version(api(data_scientist), build.hostile_pickle(tmp_path, marker, protocol=4), "pickle")

    with pytest.raises(InvalidInput) as info:
        load_version(ModelVersion.objects.get())

    assert info.value.code == "sandbox_required"
    assert not marker.exists()
