"""Lineage: edges from version metadata and explicit additions, graph queries, cycle refusal."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from core.errors import Conflict, Forbidden
from registry import lineage
from registry.models import EdgeKind, LineageEdge
from registry.services import lineage as lineage_service
from tests.factories import DatasetVersionFactory, ModelVersionFactory, RegisteredModelFactory

pytestmark = pytest.mark.django_db


def _chain(depth: int, model):
    """v1 <- v2 <- ... <- v{depth+1} (each derived_from the previous), v1 trained on a dataset."""
    data = DatasetVersionFactory()
    versions = [ModelVersionFactory(model=model, version=1)]
    LineageEdge.objects.create(
        kind=EdgeKind.TRAINED_ON,
        subject_model_version=versions[0],
        object_dataset_version=data,
        created_by=versions[0].created_by,
    )
    for n in range(2, depth + 2):
        version = ModelVersionFactory(model=model, version=n)
        LineageEdge.objects.create(
            kind=EdgeKind.DERIVED_FROM,
            subject_model_version=version,
            object_model_version=versions[-1],
            created_by=version.created_by,
        )
        versions.append(version)
    return data, versions


def test_lineage_of_depth_fifty_takes_a_bounded_number_of_queries(team):
    data, versions = _chain(50, RegisteredModelFactory(owner_team=team))

    with CaptureQueriesContext(connection) as ctx:
        graph = lineage.lineage_graph(versions[-1])
        names = {str(node) for node in graph.nodes.values()}  # touches every related object

    assert len(ctx.captured_queries) <= 3
    assert len(graph.edges) == 51
    assert len(graph.nodes) == 52
    assert graph.depth[lineage.node_of(data)] == -51
    assert graph.depth[lineage.node_of(versions[0])] == -50
    assert str(data) in names


def test_downstream_from_the_dataset_reaches_every_derived_version(team):
    data, versions = _chain(10, RegisteredModelFactory(owner_team=team))

    graph = lineage.lineage_graph(data, directions=("downstream",))

    assert {lineage.node_of(v) for v in versions} <= set(graph.nodes)
    assert graph.depth[lineage.node_of(versions[-1])] == 11


def test_max_depth_prunes_the_walk(team):
    _, versions = _chain(10, RegisteredModelFactory(owner_team=team))

    graph = lineage.lineage_graph(versions[-1], directions=("upstream",), max_depth=2)

    assert set(graph.depth.values()) == {0, -1, -2}
    assert len(graph.edges) == 2


def test_an_edge_that_would_close_a_cycle_is_refused(team, data_scientist):
    _, versions = _chain(3, RegisteredModelFactory(owner_team=team))
    edges_before = LineageEdge.objects.count()

    with pytest.raises(Conflict) as info:
        lineage_service.add_edge(
            versions[0], EdgeKind.DERIVED_FROM, versions[-1], by=data_scientist
        )

    assert info.value.code == "lineage_cycle"
    with pytest.raises(Conflict):
        lineage_service.add_edge(versions[1], EdgeKind.DERIVED_FROM, versions[1], by=data_scientist)
    assert LineageEdge.objects.count() == edges_before
    assert not AuditEvent.objects.exists()


def test_explicit_edges_are_added_audited_and_not_duplicated(team, data_scientist):
    model = RegisteredModelFactory(owner_team=team)
    version = ModelVersionFactory(model=model, version=1)
    data = DatasetVersionFactory()

    edge = lineage_service.add_edge(version, EdgeKind.EVALUATED_ON, data, by=data_scientist)

    assert edge.subject == version and edge.object == data
    assert AuditEvent.objects.for_object(edge).get().action == "registry.lineage.edge_added"
    with pytest.raises(Conflict) as info:
        lineage_service.add_edge(version, EdgeKind.EVALUATED_ON, data, by=data_scientist)
    assert info.value.code == "duplicate"
    assert LineageEdge.objects.count() == 1


def test_only_the_owner_team_adds_lineage_to_a_model_version(team, other_data_scientist, auditor):
    version = ModelVersionFactory(model=RegisteredModelFactory(owner_team=team), version=1)
    data = DatasetVersionFactory()
    for user in (other_data_scientist, auditor):
        with pytest.raises(Forbidden):
            lineage_service.add_edge(version, EdgeKind.TRAINED_ON, data, by=user)
    assert not LineageEdge.objects.exists()


def test_lineage_endpoint_returns_nodes_and_edges(api, validator, team):
    data, _versions = _chain(2, RegisteredModelFactory(name="m", owner_team=team))

    response = api(validator).get("/api/v1/models/m/versions/3/lineage/?direction=upstream")

    assert response.status_code == 200
    body = response.json()
    assert body["root"] == "model:m:3"
    refs = {node["ref"]: node["depth"] for node in body["nodes"]}
    assert refs == {
        "model:m:3": 0,
        "model:m:2": -1,
        "model:m:1": -2,
        f"dataset:{data.dataset.name}:{data.version}": -3,
    }
    assert {(e["subject"], e["kind"], e["object"]) for e in body["edges"]} == {
        ("model:m:3", "derived_from", "model:m:2"),
        ("model:m:2", "derived_from", "model:m:1"),
        ("model:m:1", "trained_on", f"dataset:{data.dataset.name}:{data.version}"),
    }
    assert (
        api(validator).get("/api/v1/models/m/versions/3/lineage/?direction=sideways").status_code
        == 400
    )


def test_lineage_edge_endpoint_adds_an_edge_and_refuses_a_cycle(api, data_scientist, team):
    _, _versions = _chain(1, RegisteredModelFactory(name="m", owner_team=team))
    client = api(data_scientist)

    cycle = client.post(
        "/api/v1/lineage-edges/",
        {"subject": "model:m:1", "kind": "derived_from", "object": "model:m:2"},
        format="json",
    )
    assert cycle.status_code == 409
    assert cycle.json()["code"] == "lineage_cycle"

    unknown = client.post(
        "/api/v1/lineage-edges/",
        {"subject": "model:m:9", "kind": "derived_from", "object": "model:m:2"},
        format="json",
    )
    assert unknown.status_code == 400
    assert "'m:9' does not exist" in unknown.json()["detail"]
    assert LineageEdge.objects.count() == 2  # the chain's own edges, nothing added
