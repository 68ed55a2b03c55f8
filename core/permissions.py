"""API access: any role may read; writes are decided by the services' own rules."""

from typing import Any

from rest_framework.permissions import BasePermission

from core import roles


class HasRole(BasePermission):
    """Authenticated and holding at least one ModelGate role.

    Object-level write rules (team ownership, separation of duties) live in the services, so that
    the API, the admin and the commands apply exactly the same ones.
    """

    message = "you need a ModelGate role (data scientist, validator, risk officer, auditor, admin)"

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and roles.roles_of(request.user))
