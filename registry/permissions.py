"""Who may change what in the registry. Services call these; every interface goes through them."""

from typing import Any

from core import roles
from core.errors import Forbidden
from core.models import Team
from registry.models import RegisteredModel


def _writer(user: Any) -> bool:
    """Auditors change nothing, whatever other role they hold (admins excepted)."""
    if not user.is_authenticated:
        return False
    granted = roles.roles_of(user)
    if roles.ADMIN in granted:
        return True
    return bool(granted) and roles.AUDITOR not in granted


def can_read(user: Any) -> bool:
    return bool(roles.roles_of(user))


def can_register_model(user: Any, team: Team) -> bool:
    if roles.is_admin(user):
        return True
    return _writer(user) and roles.has_role(user, roles.DATA_SCIENTIST) and team.has_member(user)


def can_edit_model(user: Any, model: RegisteredModel) -> bool:
    if roles.is_admin(user):
        return True
    return _writer(user) and model.owner_team.has_member(user)


def can_register_version(user: Any, model: RegisteredModel) -> bool:
    if roles.is_admin(user):
        return True
    return (
        _writer(user)
        and roles.has_role(user, roles.DATA_SCIENTIST)
        and model.owner_team.has_member(user)
    )


def can_register_dataset(user: Any) -> bool:
    # Validators bring their own independent evaluation data.
    return roles.is_admin(user) or (
        _writer(user) and roles.has_role(user, roles.DATA_SCIENTIST, roles.VALIDATOR)
    )


def require(allowed: bool, detail: str) -> None:
    if not allowed:
        raise Forbidden(detail)
