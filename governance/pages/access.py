"""Who may see which page. Reading is broad (validators, risk officers, auditors and admins see
every model); data scientists see their own teams' models; a user with no role sees nothing."""

from typing import Any

from django.db.models import Q

from core import roles
from core.errors import Forbidden
from registry.models import RegisteredModel

SEE_ALL = (roles.VALIDATOR, roles.RISK_OFFICER, roles.AUDITOR, roles.ADMIN)


def require_reader(user: Any) -> None:
    if not roles.roles_of(user):
        raise Forbidden(
            "your account holds no ModelGate role (data scientist, validator, risk officer, "
            "auditor or admin); ask an administrator to grant one",
            code="no_role",
        )


def sees_every_model(user: Any) -> bool:
    return roles.has_role(user, *SEE_ALL)


def visible_models(user: Any) -> Q:
    """A condition on RegisteredModel: the models `user` may see."""
    if sees_every_model(user):
        return Q()
    if roles.has_role(user, roles.DATA_SCIENTIST):
        return Q(owner_team__members=user)
    return Q(pk__in=[])


def visible_teams(user: Any) -> frozenset[int] | None:
    """The ids of the teams whose models `user` may see, or None for every team: to decide
    for many linked models with one query."""
    if sees_every_model(user):
        return None
    if roles.has_role(user, roles.DATA_SCIENTIST):
        return frozenset(user.teams.values_list("pk", flat=True))
    return frozenset()


def shows(teams: frozenset[int] | None, model: RegisteredModel) -> bool:
    """Whether a link to `model` may name it, for `teams` from `visible_teams`."""
    return teams is None or model.owner_team_id in teams


def can_see_model(user: Any, model: RegisteredModel) -> bool:
    if sees_every_model(user):
        return True
    return roles.has_role(user, roles.DATA_SCIENTIST) and model.owner_team.has_member(user)


def require_model(user: Any, model: RegisteredModel) -> None:
    require_reader(user)
    if not can_see_model(user, model):
        raise Forbidden(
            f"{model.name} belongs to team {model.owner_team.name!r}; data scientists see their "
            f"own teams' models",
            code="not_your_team",
        )
