"""Registering a model and editing its metadata (card fields)."""

from typing import Any

from django.db import IntegrityError, transaction

from audit import trail
from core.errors import Conflict, InvalidInput
from core.models import Team
from registry import permissions, signals
from registry.models import RegisteredModel, RiskTier
from registry.validation import check_name

EDITABLE_FIELDS = ("title", "description", "risk_tier", "intended_use", "limitations", "tags")


def _clean_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise InvalidInput("tags must be a list of non-empty strings", field="tags")
    return sorted({t.strip() for t in tags})


def _snapshot(model: RegisteredModel) -> dict[str, Any]:
    data = {field: getattr(model, field) for field in EDITABLE_FIELDS}
    data["name"] = model.name
    data["owner_team"] = model.owner_team.name
    return data


def register_model(
    *,
    by: Any,
    name: str,
    owner_team: Team,
    title: str = "",
    description: str = "",
    risk_tier: str = RiskTier.MINIMAL,
    intended_use: str = "",
    limitations: str = "",
    tags: list[str] | None = None,
) -> RegisteredModel:
    """Create a model owned by `owner_team`. Guards: the actor is a data scientist of that team
    (or an admin); the name is free. Writes the model and its audit event together."""
    permissions.require(
        permissions.can_register_model(by, owner_team),
        f"only data scientists of team {owner_team.name!r} or admins can register its models",
    )
    if risk_tier not in RiskTier.values:
        raise InvalidInput(f"risk_tier must be one of {RiskTier.values}", field="risk_tier")
    model = RegisteredModel(
        name=check_name(name),
        owner_team=owner_team,
        title=title,
        description=description,
        risk_tier=risk_tier,
        intended_use=intended_use,
        limitations=limitations,
        tags=_clean_tags(tags),
        created_by=by,
    )
    try:
        with transaction.atomic():
            model.save(force_insert=True)
            trail.record(
                model, "registry.model.registered", by=by, data={"after": _snapshot(model)}
            )
    except IntegrityError as exc:
        raise Conflict(f"a model named {name!r} already exists", code="duplicate") from exc
    return model


def update_model(model: RegisteredModel, *, by: Any, **changes: Any) -> RegisteredModel:
    """Edit card fields. Guards: the actor is in the owner team or an admin; only card fields
    change (name, owner and versions are not edited here). Records before/after of what changed."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"cannot edit {sorted(unknown)}", field=sorted(unknown)[0])
    permissions.require(
        permissions.can_edit_model(by, model),
        f"only members of team {model.owner_team.name!r} or admins can edit model {model.name!r}",
    )
    if "risk_tier" in changes and changes["risk_tier"] not in RiskTier.values:
        raise InvalidInput(f"risk_tier must be one of {RiskTier.values}", field="risk_tier")
    if "tags" in changes:
        changes["tags"] = _clean_tags(changes["tags"])
    with transaction.atomic():
        locked = (
            # NO KEY: the key never changes here, and rows referencing the model hold KEY SHARE.
            RegisteredModel.objects.select_for_update(no_key=True)
            .select_related("owner_team")
            .get(pk=model.pk)
        )
        before = {f: getattr(locked, f) for f in changes if getattr(locked, f) != changes[f]}
        if not before:
            return locked
        for field in before:
            setattr(locked, field, changes[field])
        locked.save(update_fields=[*before, "updated_at"])
        signals.model_updated.send(
            sender=RegisteredModel,
            model=locked,
            changed={f: (before[f], changes[f]) for f in before},
            by=by,
        )
        trail.record(
            locked,
            "registry.model.updated",
            by=by,
            data={"before": before, "after": {f: changes[f] for f in before}},
        )
    return locked
