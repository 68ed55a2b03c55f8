"""The five roles (Django groups) and the questions services ask about a user's roles."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

DATA_SCIENTIST = "data scientist"
VALIDATOR = "validator"
RISK_OFFICER = "risk officer"
AUDITOR = "auditor"
ADMIN = "admin"
ALL_ROLES = (DATA_SCIENTIST, VALIDATOR, RISK_OFFICER, AUDITOR, ADMIN)

User = AbstractBaseUser | AnonymousUser


def roles_of(user: User) -> frozenset[str]:
    """The user's role names, cached on the user object for the rest of the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_modelgate_roles", None)
    if cached is None:
        names = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))  # type: ignore[union-attr]
        if getattr(user, "is_superuser", False):
            names.add(ADMIN)
        cached = frozenset(names)
        user._modelgate_roles = cached  # type: ignore[union-attr]
    return cached


def has_role(user: User, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def is_admin(user: User) -> bool:
    return has_role(user, ADMIN)
