"""Adding lineage edges, refusing any edge that would close a cycle."""

from typing import Any

from django.db import IntegrityError, transaction

from audit import trail
from core import locks
from core.errors import Conflict, InvalidInput
from registry import lineage, permissions
from registry.models import DatasetVersion, EdgeKind, LineageEdge, ModelVersion

Item = ModelVersion | DatasetVersion


def _may_link(user: Any, item: Item) -> bool:
    if isinstance(item, ModelVersion):
        return permissions.can_register_version(user, item.model)
    return permissions.can_register_dataset(user)


def create_edge(subject: Item, kind: str, obj: Item, *, by: Any) -> LineageEdge:
    """Insert one edge without permission checks; callers are services that already checked.
    Must run inside their transaction. Refuses self-loops and cycles."""
    if kind not in EdgeKind.values:
        raise InvalidInput(f"kind must be one of {EdgeKind.values}", field="kind")
    if kind in (EdgeKind.TRAINED_ON, EdgeKind.EVALUATED_ON) and not (
        isinstance(subject, ModelVersion) and isinstance(obj, DatasetVersion)
    ):
        raise InvalidInput(f"{kind} links a model version to a dataset version", field="kind")
    if lineage.node_of(subject) == lineage.node_of(obj):
        raise Conflict("an item cannot be its own lineage", code="lineage_cycle")
    if lineage.node_of(subject) in lineage.reachable(lineage.node_of(obj), "upstream"):
        raise Conflict(
            f"{obj} already descends from {subject}: this edge would make a cycle",
            code="lineage_cycle",
        )
    edge = LineageEdge(kind=kind, created_by=by)
    for side, item in (("subject", subject), ("object", obj)):
        column = "model_version" if isinstance(item, ModelVersion) else "dataset_version"
        setattr(edge, f"{side}_{column}", item)
    try:
        with transaction.atomic():
            edge.save(force_insert=True)
    except IntegrityError as exc:
        raise Conflict(f"{subject} {kind} {obj} is already recorded", code="duplicate") from exc
    trail.record(
        edge,
        "registry.lineage.edge_added",
        by=by,
        data={"subject": str(subject), "kind": kind, "object": str(obj)},
    )
    return edge


def add_edge(subject: Item, kind: str, obj: Item, *, by: Any) -> LineageEdge:
    """Record `subject <kind> obj` explicitly. Guards: the actor may register both ends (a model
    version: a data scientist of its team; a dataset version: a data scientist or validator); the
    edge closes no cycle; it is not a duplicate."""
    # Both ends: otherwise an outsider could hang another team's model version under their own
    # data and so block that team's later edges as cycles.
    for item in (subject, obj):
        permissions.require(_may_link(by, item), f"you may not add lineage to {item}")
    with transaction.atomic():
        # Two concurrent edges could each pass the cycle check and close a cycle together.
        locks.serialize("registry.lineage")
        return create_edge(subject, kind, obj, by=by)
