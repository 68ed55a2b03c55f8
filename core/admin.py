"""Teams, users and roles in the admin. Only the admin role changes them, and every change of a
team or of an account (creation, roles, flags, password) is written to the audit trail in the admin's own transaction.

ModelAdmin.changeform_view (and UserAdmin.add_view) run their POST handling inside
transaction.atomic(), so the events recorded in save_related commit or roll back with the change;
audit.trail.record() refuses to run outside a transaction, which would catch a regression.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest
from rest_framework.authtoken.models import TokenProxy

from audit import trail
from core import roles
from core.admin_permissions import RolePermissions
from core.models import Team


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    changed = [key for key in after if after[key] != before[key]]
    if not changed:
        return None
    return {"before": {k: before[k] for k in changed}, "after": {k: after[k] for k in changed}}


@admin.register(Team)
class TeamAdmin(RolePermissions, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "title", "member_count")
    search_fields = ("name", "title")
    filter_horizontal = ("members",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Team) -> int:
        return obj.member_count  # type: ignore[attr-defined,no-any-return]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # The name is how the API and the audit trail refer to a team: it does not change.
        return ("name",) if obj is not None else ()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        team: Team = form.instance
        # save_model has stored the title already, so its old value comes from the form.
        before = {"title": form.initial.get("title", ""), "members": self._members(team)}
        super().save_related(request, form, formsets, change)
        after = {"title": team.title, "members": self._members(team)}
        if not change:
            created = {"after": {"name": team.name, **after}}
            trail.record(team, "core.team.created", by=request.user, data=created)
        elif data := _changes(before, after):
            trail.record(team, "core.team.changed", by=request.user, data=data)

    @staticmethod
    def _members(team: Team) -> list[str]:
        return sorted(team.members.values_list("username", flat=True))


# API tokens let their holder act as the user: they are issued from the command line
# (manage.py drf_create_token), never browsed or minted in the admin.
admin.site.unregister(TokenProxy)
admin.site.unregister(User)


@admin.register(User)
class ModelGateUserAdmin(RolePermissions, UserAdmin):  # type: ignore[type-arg]
    """Django's user admin, decided by ModelGate roles, with account changes audited."""

    # Accounts and roles are for admins to manage and auditors to check.
    readers = (roles.ADMIN, roles.AUDITOR)

    ACCOUNT_FIELDS = ("username", "email", "first_name", "last_name", "is_active", "is_staff")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        user: User = form.instance
        # Groups are saved by super().save_related(); the other fields were saved by save_model,
        # so their old values come from the form's initial data.
        before: dict[str, Any] = {f: form.initial.get(f) for f in self.ACCOUNT_FIELDS}
        before["groups"] = self._groups(user) if change else []
        before["is_superuser"] = form.initial.get("is_superuser", False)
        super().save_related(request, form, formsets, change)
        after: dict[str, Any] = {f: getattr(user, f) for f in self.ACCOUNT_FIELDS}
        after["groups"] = self._groups(user)
        after["is_superuser"] = user.is_superuser
        if not change:
            trail.record(user, "core.user.created", by=request.user, data={"after": after})
        elif data := _changes(before, after):
            # Role changes get their own action: they are what an auditor looks for first.
            role_change = {"groups", "is_superuser"} & set(data["after"])
            action = "core.user.roles_changed" if role_change else "core.user.changed"
            trail.record(user, action, by=request.user, data=data)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                user = self.get_object(request, id)
                # The event says that the password changed, never what it is.
                trail.record(user, "core.user.password_changed", by=request.user)
        return response

    @staticmethod
    def _groups(user: User) -> list[str]:
        return sorted(user.groups.values_list("name", flat=True))


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(RolePermissions, GroupAdmin):
    """The role groups are created by a migration and their names are what core.roles checks:
    renaming or deleting one would silently take a role away, so they are shown read-only."""

    readers = (roles.ADMIN, roles.AUDITOR)
    writers = ()
