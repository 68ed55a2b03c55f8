"""Lineage graph queries: whole upstream/downstream closures in a fixed number of SQL queries.

A recursive CTE walks the edge table inside the database (one query whatever the depth); one more
query fetches the edges found, with both ends joined in. Upstream follows subject -> object
("model v3 trained_on adult:2": adult:2 is upstream of v3).
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from django.db import connection

from registry.models import DatasetVersion, LineageEdge, ModelVersion

Node = tuple[str, int]  # ("model_version" | "dataset_version", primary key)
Direction = Literal["upstream", "downstream"]
MODEL_VERSION = "model_version"
DATASET_VERSION = "dataset_version"

_SIDES = {
    # direction: (side we stand on, side we move to)
    "upstream": ("subject", "object"),
    "downstream": ("object", "subject"),
}


def node_of(item: ModelVersion | DatasetVersion) -> Node:
    return (MODEL_VERSION if isinstance(item, ModelVersion) else DATASET_VERSION, item.pk)


def _closure_sql(direction: Direction, select: str) -> str:
    here, there = _SIDES[direction]
    table = LineageEdge._meta.db_table
    # UNION (not UNION ALL) drops nodes already reached, so the walk ends even on a cycle.
    return f"""
        WITH RECURSIVE reach(mv, dv) AS (
            SELECT CAST(%s AS BIGINT), CAST(%s AS BIGINT)
            UNION
            SELECT e.{there}_model_version_id, e.{there}_dataset_version_id
            FROM {table} e JOIN reach r
              ON e.{here}_model_version_id = r.mv OR e.{here}_dataset_version_id = r.dv
        )
        {select.format(table=table, here=here)}
    """  # noqa: S608 - identifiers come from the fixed table above, values are parameters


def _start_params(node: Node) -> list[int | None]:
    kind, pk = node
    return [pk, None] if kind == MODEL_VERSION else [None, pk]


def reachable(node: Node, direction: Direction) -> set[Node]:
    """Every node reachable from `node` in `direction`, `node` included. One query."""
    sql = _closure_sql(direction, "SELECT mv, dv FROM reach")
    with connection.cursor() as cursor:
        cursor.execute(sql, _start_params(node))
        rows = cursor.fetchall()
    return {(MODEL_VERSION, mv) if mv is not None else (DATASET_VERSION, dv) for mv, dv in rows}


def _edge_ids(node: Node, direction: Direction) -> list[int]:
    select = """
        SELECT DISTINCT e.id FROM {table} e JOIN reach r
          ON e.{here}_model_version_id = r.mv OR e.{here}_dataset_version_id = r.dv
    """
    with connection.cursor() as cursor:
        cursor.execute(_closure_sql(direction, select), _start_params(node))
        return [row[0] for row in cursor.fetchall()]


def edge_node(edge: LineageEdge, side: str) -> Node:
    mv_id = getattr(edge, f"{side}_model_version_id")
    if mv_id is not None:
        return (MODEL_VERSION, mv_id)
    return (DATASET_VERSION, getattr(edge, f"{side}_dataset_version_id"))


@dataclass
class LineageGraph:
    root: Node
    nodes: dict[Node, ModelVersion | DatasetVersion] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)
    # Shortest distance from the root: negative upstream, positive downstream.
    depth: dict[Node, int] = field(default_factory=dict)


def _distances(root: Node, edges: list[LineageEdge], direction: Direction) -> dict[Node, int]:
    here, there = _SIDES[direction]
    neighbours: dict[Node, list[Node]] = {}
    for edge in edges:
        neighbours.setdefault(edge_node(edge, here), []).append(edge_node(edge, there))
    distance = {root: 0}
    queue = deque([root])
    while queue:
        current = queue.popleft()
        for nxt in neighbours.get(current, []):
            if nxt not in distance:
                distance[nxt] = distance[current] + 1
                queue.append(nxt)
    return distance


def lineage_graph(
    item: ModelVersion | DatasetVersion,
    *,
    directions: tuple[Direction, ...] = ("upstream", "downstream"),
    max_depth: int | None = None,
) -> LineageGraph:
    """The lineage around `item`, to any depth (or `max_depth`), in 1 + 2 * len(directions)
    queries at most."""
    root = node_of(item)
    graph = LineageGraph(root=root, nodes={root: item}, depth={root: 0})
    per_direction: dict[Direction, list[int]] = {d: _edge_ids(root, d) for d in directions}
    all_ids = {edge_id for ids in per_direction.values() for edge_id in ids}
    if not all_ids:
        return graph
    edges = list(
        LineageEdge.objects.filter(id__in=all_ids)
        .select_related(
            "subject_model_version__model",
            "subject_dataset_version__dataset",
            "object_model_version__model",
            "object_dataset_version__dataset",
        )
        .order_by("id")
    )
    by_id = {edge.pk: edge for edge in edges}
    kept: dict[int, LineageEdge] = {}
    for direction, ids in per_direction.items():
        sign = -1 if direction == "upstream" else 1
        here, there = _SIDES[direction]
        found = [by_id[i] for i in ids]
        distance = _distances(root, found, direction)
        for edge in found:
            near, far = edge_node(edge, here), edge_node(edge, there)
            if near not in distance or (max_depth is not None and distance[near] >= max_depth):
                continue
            kept[edge.pk] = edge
            for node, side in ((near, here), (far, there)):
                graph.nodes.setdefault(node, edge.subject if side == "subject" else edge.object)
                if node not in graph.depth:
                    graph.depth[node] = sign * distance[node]
    graph.edges = sorted(kept.values(), key=lambda e: e.pk)
    return graph
