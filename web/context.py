"""What the base layout needs on every page: the signed-in user's roles and the navigation."""

from typing import Any

from django.http import HttpRequest

from core import roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_roles": []}
    held = roles.roles_of(user)
    return {
        "nav_roles": [role for role in roles.ALL_ROLES if role in held],
        "nav_admin": bool(user.is_staff),
        "nav_read_only": roles.AUDITOR in held and roles.ADMIN not in held,
    }
