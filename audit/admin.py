"""The audit trail in the admin: read-only for every role, with a button to verify the chain.

No one adds, changes or deletes an event here, admins included: events are written only by
audit.trail.record(), inside the transaction of the change they describe.
"""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from audit import trail
from audit.models import AuditEvent
from core.admin_permissions import RolePermissions


def verification_message(result: trail.ChainVerification) -> str:
    if result.valid:
        return (
            f"Audit chain valid: {result.event_count} events "
            f"(#{result.first_event_id} to #{result.last_event_id}), head hash {result.head_hash}."
        )
    return (
        f"Audit chain INVALID: first bad event #{result.first_bad_event_id} "
        f"({result.reason}); {result.event_count - 1} events verified before it, "
        f"last good hash {result.head_hash}."
    )


@admin.register(AuditEvent)
class AuditEventAdmin(RolePermissions, admin.ModelAdmin):  # type: ignore[type-arg]
    writers = ()  # read-only for everyone, admins included
    list_display = (
        "id", "created_at", "actor_username", "action", "target_repr", "request_id", "short_hash",
    )  # fmt: skip
    list_filter = ("action", "target_type")
    search_fields = ("action", "actor_username", "target_repr", "target_id", "request_id", "hash")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fieldsets = (
        (None, {"fields": ("id", "created_at", "actor_username", "actor_id", "action")}),
        ("Target", {"fields": ("target_type", "target_id", "target_repr", "pretty_data")}),
        ("Chain", {"fields": ("request_id", "prev_hash", "hash")}),
    )

    @admin.display(description="hash", ordering="hash")
    def short_hash(self, obj: AuditEvent) -> str:
        return obj.hash[:12]

    @admin.display(description="data")
    def pretty_data(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))

    def get_urls(self) -> list[URLPattern]:
        verify = path(
            "verify/",
            self.admin_site.admin_view(self.verify_view),
            name="audit_auditevent_verify",
        )
        return [verify, *super().get_urls()]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        """Recompute the chain and report as a message; reading only, so any reader may run it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        result = trail.verify_chain()
        level = messages.SUCCESS if result.valid else messages.ERROR
        self.message_user(request, verification_message(result), level)
        return HttpResponseRedirect(reverse("admin:audit_auditevent_changelist"))
