"""REST API gaps: dataset reads and lineage, explicit lineage edges, per-role refusals, constant
query counts, and a positive control proving the hostile pickle payload is live."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from registry.models import Dataset, DatasetVersion, EdgeKind, LineageEdge
from tests.factories import (
    DatasetFactory,
    DatasetVersionFactory,
    ModelVersionFactory,
    RegisteredModelFactory,
)
from tests.helpers import stored_files, upload
from tests.registry import artifact_builders as build

pytestmark = pytest.mark.django_db

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SMALL_CSV = b"age,income\n31,1\n45,0\n27,1\n"


@pytest.fixture
def adult(api, data_scientist) -> Dataset:
    response = api(data_scientist).post(
        "/api/v1/datasets/", {"name": "adult", "description": "UCI Adult"}, format="json"
    )
    assert response.status_code == 201, response.content
    return Dataset.objects.get(name="adult")


@pytest.fixture
def adult_v1(api, data_scientist, adult) -> DatasetVersion:
    response = api(data_scientist).post(
        "/api/v1/datasets/adult/versions/",
        {"file": upload(SMALL_CSV), "target_column": "income"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return DatasetVersion.objects.get(dataset=adult, version=1)


@pytest.fixture
def team_version(team):
    """Version 1 of model "m", owned by the credit-risk team."""
    return ModelVersionFactory(model=RegisteredModelFactory(name="m", owner_team=team), version=1)


# --- 1. dataset reads -------------------------------------------------------------------------


def test_a_dataset_is_read_by_name_with_its_version_summary(
    api, validator, data_scientist, adult, adult_v1
):
    events = AuditEvent.objects.count()

    response = api(validator).get("/api/v1/datasets/adult/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "adult"
    assert body["description"] == "UCI Adult"
    assert body["created_by"] == "dana"
    assert (body["version_count"], body["latest_version"]) == (1, 1)
    assert Dataset.objects.get(name="adult").created_by == data_scientist
    assert AuditEvent.objects.count() == events  # reading writes nothing


def test_a_dataset_without_versions_reads_with_zero_versions_and_no_latest(api, auditor, adult):
    response = api(auditor).get("/api/v1/datasets/adult/")

    assert response.status_code == 200
    assert (response.json()["version_count"], response.json()["latest_version"]) == (0, None)


def test_a_dataset_version_is_read_by_number_and_matches_the_stored_row(
    api, risk_officer, adult_v1
):
    events = AuditEvent.objects.count()

    response = api(risk_officer).get("/api/v1/datasets/adult/versions/1/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dataset"] == "adult"
    assert body["version"] == 1
    assert body["sha256"] == hashlib.sha256(SMALL_CSV).hexdigest() == adult_v1.sha256
    assert body["size"] == len(SMALL_CSV) == adult_v1.size
    assert body["file_format"] == "csv"
    assert body["row_count"] == 3
    assert [c["name"] for c in body["schema"]] == ["age", "income"]
    assert body["target_column"] == "income"
    assert body["created_by"] == "dana"
    assert AuditEvent.objects.count() == events


def test_a_model_version_trained_on_a_dataset_version_appears_downstream_at_depth_one(
    api, validator, data_scientist, adult_v1, team_version
):
    LineageEdge.objects.create(
        kind=EdgeKind.TRAINED_ON,
        subject_model_version=team_version,
        object_dataset_version=adult_v1,
        created_by=data_scientist,
    )
    child = ModelVersionFactory(model=team_version.model, version=2)
    LineageEdge.objects.create(
        kind=EdgeKind.DERIVED_FROM,
        subject_model_version=child,
        object_model_version=team_version,
        created_by=data_scientist,
    )
    client = api(validator)

    both = client.get("/api/v1/datasets/adult/versions/1/lineage/")
    downstream = client.get("/api/v1/datasets/adult/versions/1/lineage/?direction=downstream")
    upstream = client.get("/api/v1/datasets/adult/versions/1/lineage/?direction=upstream")
    shallow = client.get("/api/v1/datasets/adult/versions/1/lineage/?depth=1")

    for response in (both, downstream, upstream, shallow):
        assert response.status_code == 200, response.content
        assert response.json()["root"] == "dataset:adult:1"
    body = downstream.json()
    nodes = {node["ref"]: node for node in body["nodes"]}
    assert {ref: node["depth"] for ref, node in nodes.items()} == {
        "dataset:adult:1": 0,
        "model:m:1": 1,
        "model:m:2": 2,
    }
    assert nodes["model:m:1"]["type"] == "model_version"
    assert nodes["model:m:1"]["sha256"] == team_version.artifact_sha256
    assert nodes["dataset:adult:1"]["sha256"] == adult_v1.sha256
    assert {(e["subject"], e["kind"], e["object"]) for e in body["edges"]} == {
        ("model:m:1", "trained_on", "dataset:adult:1"),
        ("model:m:2", "derived_from", "model:m:1"),
    }
    assert both.json()["nodes"] == body["nodes"]  # nothing is upstream of the data
    assert [n["ref"] for n in upstream.json()["nodes"]] == ["dataset:adult:1"]
    assert upstream.json()["edges"] == []
    assert {n["ref"]: n["depth"] for n in shallow.json()["nodes"]} == {
        "dataset:adult:1": 0,
        "model:m:1": 1,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/nope/",
        "/api/v1/datasets/nope/versions/",
        "/api/v1/datasets/nope/versions/1/",
        "/api/v1/datasets/nope/versions/1/lineage/",
        "/api/v1/datasets/adult/versions/2/",
        "/api/v1/datasets/adult/versions/2/lineage/",
    ],
)
def test_unknown_datasets_and_versions_are_404_with_a_not_found_code(
    api, validator, adult_v1, path
):
    events = AuditEvent.objects.count()

    response = api(validator).get(path)

    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"
    assert AuditEvent.objects.count() == events


# --- 2. explicit lineage edges ----------------------------------------------------------------


def test_a_team_data_scientist_adds_a_lineage_edge_through_the_api_and_it_is_audited(
    api, data_scientist, team_version, adult_v1
):
    version_2 = ModelVersionFactory(model=team_version.model, version=2)
    events = AuditEvent.objects.count()

    response = api(data_scientist).post(
        "/api/v1/lineage-edges/",
        {"subject": "model:m:2", "kind": "trained_on", "object": "dataset:adult:1"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["subject"], body["kind"], body["object"]) == (
        "model:m:2",
        "trained_on",
        "dataset:adult:1",
    )
    assert body["created_at"]
    edge = LineageEdge.objects.get()
    assert body["id"] == edge.pk
    assert edge.subject_model_version == version_2
    assert edge.object_dataset_version == adult_v1
    assert edge.subject_dataset_version is None and edge.object_model_version is None
    assert edge.created_by == data_scientist
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.for_object(edge).get()
    assert event.action == "registry.lineage.edge_added"
    assert event.actor_username == "dana"
    assert event.data == {"subject": "m:2", "kind": "trained_on", "object": "adult:1"}
    assert response["X-Request-ID"] == event.request_id


def test_a_validator_links_a_dataset_version_to_another_dataset_version(api, validator, adult_v1):
    holdout = DatasetVersionFactory(dataset=DatasetFactory(name="holdout"), version=1)

    response = api(validator).post(
        "/api/v1/lineage-edges/",
        {"subject": "dataset:holdout:1", "kind": "derived_from", "object": "dataset:adult:1"},
        format="json",
    )

    assert response.status_code == 201, response.content
    edge = LineageEdge.objects.get()
    assert (edge.subject_dataset_version, edge.object_dataset_version) == (holdout, adult_v1)
    assert AuditEvent.objects.for_object(edge).get().actor_username == "vera"


def test_lineage_edges_are_listed_and_filtered_by_kind(
    api, data_scientist, auditor, team_version, adult_v1
):
    client = api(data_scientist)
    ModelVersionFactory(model=team_version.model, version=2)
    for subject, kind, obj in (
        ("model:m:1", "trained_on", "dataset:adult:1"),
        ("model:m:2", "derived_from", "model:m:1"),
        ("model:m:2", "evaluated_on", "dataset:adult:1"),
    ):
        assert (
            client.post(
                "/api/v1/lineage-edges/",
                {"subject": subject, "kind": kind, "object": obj},
                format="json",
            ).status_code
            == 201
        )
    assert LineageEdge.objects.count() == 3
    assert AuditEvent.objects.filter(action="registry.lineage.edge_added").count() == 3
    reader = api(auditor)

    listing = reader.get("/api/v1/lineage-edges/")
    trained = reader.get("/api/v1/lineage-edges/", {"kind": "trained_on"})
    derived = reader.get("/api/v1/lineage-edges/", {"kind": "derived_from"})
    replaces = reader.get("/api/v1/lineage-edges/", {"kind": "replaces"})
    bogus = reader.get("/api/v1/lineage-edges/", {"kind": "bogus"})

    assert listing.status_code == 200
    assert listing.json()["count"] == 3
    assert [(e["subject"], e["kind"], e["object"]) for e in listing.json()["results"]] == [
        ("model:m:1", "trained_on", "dataset:adult:1"),
        ("model:m:2", "derived_from", "model:m:1"),
        ("model:m:2", "evaluated_on", "dataset:adult:1"),
    ]
    assert [e["id"] for e in listing.json()["results"]] == list(
        LineageEdge.objects.order_by("id").values_list("id", flat=True)
    )
    assert trained.status_code == 200
    assert [(e["subject"], e["object"]) for e in trained.json()["results"]] == [
        ("model:m:1", "dataset:adult:1")
    ]
    assert [(e["subject"], e["object"]) for e in derived.json()["results"]] == [
        ("model:m:2", "model:m:1")
    ]
    assert replaces.json()["count"] == 0
    assert bogus.status_code == 400
    assert bogus.json()["code"] == "invalid"


# --- 3. per-role refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("who", ["risk_officer", "auditor", "outsider"])
def test_who_may_not_register_a_dataset_version_leaves_no_row_file_or_event(
    api, adult, who, request, media_root
):
    user = request.getfixturevalue(who)
    events = AuditEvent.objects.count()

    response = api(user).post(
        "/api/v1/datasets/adult/versions/",
        {"file": upload(SMALL_CSV), "target_column": "income"},
        format="multipart",
    )

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert not DatasetVersion.objects.exists()
    assert stored_files(media_root) == []
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    "who", ["other_data_scientist", "auditor", "validator", "risk_officer", "outsider"]
)
def test_who_may_not_add_lineage_to_the_teams_model_version_writes_nothing(
    api, team_version, who, request
):
    user = request.getfixturevalue(who)
    DatasetVersionFactory(dataset=DatasetFactory(name="d"), version=1)

    response = api(user).post(
        "/api/v1/lineage-edges/",
        {"subject": "model:m:1", "kind": "trained_on", "object": "dataset:d:1"},
        format="json",
    )

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert not LineageEdge.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "path", ["/api/v1/datasets/", "/api/v1/lineage-edges/", "/api/v1/datasets/adult/"]
)
def test_anonymous_and_roleless_users_cannot_read_datasets_or_lineage(api, adult, outsider, path):
    anonymous = api(None).get(path)
    roleless = api(outsider).get(path)

    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert roleless.status_code == 403
    assert roleless.json()["code"] == "permission_denied"


def test_an_anonymous_client_cannot_add_a_lineage_edge(api, team_version):
    DatasetVersionFactory(dataset=DatasetFactory(name="d"), version=1)
    payload = {"subject": "model:m:1", "kind": "trained_on", "object": "dataset:d:1"}

    anonymous = api(None).post("/api/v1/lineage-edges/", payload, format="json")

    assert anonymous.status_code == 401
    assert not LineageEdge.objects.exists()
    assert not AuditEvent.objects.exists()


# --- 5. constant query counts -----------------------------------------------------------------


def _query_counter(client, path: str):
    def count(page_size: int) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, {"page_size": page_size})
        assert response.status_code == 200, response.content
        return len(ctx.captured_queries), len(response.json()["results"])

    return count


def test_dataset_list_queries_do_not_grow_with_page_size(api, validator):
    for i in range(30):
        dataset = DatasetFactory(name=f"ds-{i:02d}")
        for n in (1, 2):
            DatasetVersionFactory(dataset=dataset, version=n)
    count = _query_counter(api(validator), "/api/v1/datasets/")

    count(3)  # warm-up: the reader's roles are cached on the user after the first request
    small, large = count(3), count(30)

    assert (small[1], large[1]) == (3, 30)
    assert small[0] == large[0]
    listing = api(validator).get("/api/v1/datasets/", {"page_size": 30}).json()["results"]
    assert {(d["version_count"], d["latest_version"]) for d in listing} == {(2, 2)}


def test_lineage_edge_list_queries_do_not_grow_with_page_size(api, validator, team):
    model = RegisteredModelFactory(name="m", owner_team=team)
    models = [ModelVersionFactory(model=model, version=n) for n in range(1, 32)]
    datasets = [
        DatasetVersionFactory(dataset=DatasetFactory(name=f"d{n}"), version=1) for n in range(1, 32)
    ]
    for i in range(30):
        ends = [
            {"subject_model_version": models[i], "object_dataset_version": datasets[i]},
            {"subject_model_version": models[i + 1], "object_model_version": models[i]},
            {"subject_dataset_version": datasets[i + 1], "object_dataset_version": datasets[i]},
            {"subject_dataset_version": datasets[i], "object_model_version": models[i]},
        ][i % 4]
        kind = EdgeKind.TRAINED_ON if i % 4 == 0 else EdgeKind.DERIVED_FROM
        LineageEdge.objects.create(kind=kind, created_by=model.created_by, **ends)
    count = _query_counter(api(validator), "/api/v1/lineage-edges/")

    count(3)
    small, large = count(3), count(30)

    assert (small[1], large[1]) == (3, 30)
    assert small[0] == large[0]


# --- 6. duplicate dataset names ---------------------------------------------------------------


@pytest.mark.parametrize("who", ["data_scientist", "validator"])
def test_a_duplicate_dataset_name_is_a_conflict_that_writes_nothing(api, adult, who, request):
    user = request.getfixturevalue(who)
    events = AuditEvent.objects.count()

    response = api(user).post(
        "/api/v1/datasets/", {"name": "adult", "description": "impostor"}, format="json"
    )

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "duplicate"
    assert "adult" in response.json()["detail"]
    assert Dataset.objects.count() == 1
    assert Dataset.objects.get().description == "UCI Adult"
    assert AuditEvent.objects.count() == events
    assert AuditEvent.objects.filter(action="registry.dataset.registered").count() == 1


# --- 7. positive control for the hostile pickle -----------------------------------------------


@pytest.mark.parametrize("protocol", [2, 4])
def test_the_hostile_pickle_really_runs_code_when_unpickled_in_a_subprocess(tmp_path, protocol):
    """The registry tests that find no marker only mean something if the payload is live."""
    marker = tmp_path / f"pwned-{protocol}"
    path = build.hostile_pickle(tmp_path, marker, protocol)
    assert build.hostile_global(protocol).encode().split(b".")[-1] in path.read_bytes()
    assert not marker.exists()

    result = subprocess.run(  # noqa: S603 - a fixed interpreter and our own test file
        [
            sys.executable,
            "-c",
            "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))",
            str(path),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert marker.exists()
