"""Admin permissions decided by ModelGate roles instead of Django's per-model permissions."""

from django.db.models import Model
from django.http import HttpRequest

from core import roles


class RolePermissions:
    """`readers` may see the model in the admin, `writers` may add and change; nobody deletes
    (rows are PROTECTed and named by the audit trail). Mix in before ModelAdmin."""

    readers: tuple[str, ...] = roles.ALL_ROLES
    writers: tuple[str, ...] = (roles.ADMIN,)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return roles.has_role(request.user, *self.readers)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return roles.has_role(request.user, *self.readers)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return roles.has_role(request.user, *self.writers)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return roles.has_role(request.user, *self.writers)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
