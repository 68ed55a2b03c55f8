"""Hostile or malformed requests get a JSON error with a stable code, never a 500, and write nothing."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.models import AuditEvent
from core.errors import Forbidden, InvalidInput
from registry.models import Dataset, LineageEdge, ModelVersion, RegisteredModel
from registry.services import datasets as dataset_service
from registry.services import lineage as lineage_service
from registry.services import models as model_service
from tests.factories import DatasetVersionFactory, ModelVersionFactory, RegisteredModelFactory
from tests.helpers import upload
from tests.registry import artifact_builders as build

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(team):
    return RegisteredModelFactory(name="credit", owner_team=team)


def test_unicode_digits_are_not_version_numbers(api, validator, data_scientist, model, tmp_path):
    ModelVersionFactory(model=model, version=1)
    lineage = api(validator).get("/api/v1/models/credit/versions/1/lineage/?depth=²")
    assert lineage.status_code == 400
    assert lineage.json()["code"] == "invalid"

    built = build.skops_logistic(tmp_path)
    response = api(data_scientist).post(
        "/api/v1/models/credit/versions/",
        {
            "artifact": upload(built.path.read_bytes()),
            "artifact_format": "skops",
            "training_dataset": "x:²",
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert ModelVersion.objects.count() == 1


def test_a_deeply_nested_json_body_is_a_400(api, data_scientist, team):
    response = api(data_scientist).generic(
        "POST", "/api/v1/models/", "[" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("metrics", "[" * 100_000, "not valid JSON"),
        ("metrics", '{"auc": NaN}', "NaN"),
        ("parameters", '{"x": Infinity}', "NaN or infinity"),
        ("parameters", '{"x": "a\\u0000b"}', "NUL"),
        ("metrics", "[1, 2]", "JSON object"),
    ],
)
def test_metadata_that_no_database_could_store_is_refused_before_anything_is_stored(
    api, data_scientist, model, tmp_path, media_root, field, value, message
):
    built = build.skops_logistic(tmp_path)

    response = api(data_scientist).post(
        "/api/v1/models/credit/versions/",
        {"artifact": upload(built.path.read_bytes()), "artifact_format": "skops", field: value},
        format="multipart",
    )

    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert not ModelVersion.objects.exists()
    assert [p for p in media_root.rglob("*") if p.is_file()] == []
    assert not AuditEvent.objects.exists()


def test_unknown_api_paths_answer_json(api, validator):
    response = api(validator).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_control_characters_in_parquet_column_names_are_refused(api, data_scientist, media_root):
    dataset_service.register_dataset(by=data_scientist, name="d")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"ok": [1, 2], "bad\x00name": [3, 4]}), buffer)

    response = api(data_scientist).post(
        "/api/v1/datasets/d/versions/", {"file": upload(buffer.getvalue())}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_file"
    assert "control characters" in response.json()["detail"]


@pytest.mark.parametrize("name", ["Bad Name", "../x", "a/b", "", "x" * 101])
def test_services_refuse_names_that_are_not_slugs_whatever_the_interface(
    data_scientist, team, name
):
    with pytest.raises(InvalidInput):
        model_service.register_model(by=data_scientist, name=name, owner_team=team)
    with pytest.raises(InvalidInput):
        dataset_service.register_dataset(by=data_scientist, name=name)
    assert not RegisteredModel.objects.exists()
    assert not Dataset.objects.exists()


def test_an_outsider_cannot_hang_another_teams_version_under_their_data(
    team, validator, data_scientist
):
    theirs = ModelVersionFactory(model=RegisteredModelFactory(owner_team=team), version=1)
    data = DatasetVersionFactory()

    with pytest.raises(Forbidden):
        lineage_service.add_edge(data, "derived_from", theirs, by=validator)

    assert not LineageEdge.objects.exists()
    # ...so the owning team's own edge is not blocked as a cycle.
    lineage_service.add_edge(theirs, "evaluated_on", data, by=data_scientist)
