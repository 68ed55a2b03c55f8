"""Webhooks in the admin: endpoints (admins configure them; the secret is shown once) and the
delivery log (read-only, with "Replay selected deliveries" calling the replay service)."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit import trail
from core import roles
from core.admin_permissions import RolePermissions
from core.errors import ModelGateError
from governance.models import (
    PROMOTION_EVENTS,
    WebhookDelivery,
    WebhookEndpoint,
)
from governance.models.notifications import ALL_EVENTS, generate_secret
from governance.notifications import webhooks
from governance.notifications.events import request_path

EVENT_CHOICES = [(ALL_EVENTS, "every event (*)"), *((e, e) for e in PROMOTION_EVENTS)]


class WebhookEndpointForm(forms.ModelForm):  # type: ignore[type-arg]
    event_types = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text='The events sent to this URL; "every event" alone, or some of the others.',
    )
    new_secret = forms.CharField(
        required=False,
        strip=True,
        min_length=16,
        max_length=128,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="secret",
        help_text="Leave empty to generate one (shown once, after saving). On an existing "
        "endpoint, typing one replaces the current secret.",
    )
    rotate_secret = forms.BooleanField(
        required=False, help_text="Replace the secret with a newly generated one."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("name", "url", "event_types", "active")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("new_secret") and data.get("rotate_secret"):
            self.add_error("rotate_secret", "type a new secret or generate one, not both")
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(RolePermissions, admin.ModelAdmin):  # type: ignore[type-arg]
    readers = (roles.ADMIN,)
    writers = (roles.ADMIN,)
    form = WebhookEndpointForm
    list_display = ("name", "url", "events", "active", "created_by", "created_at")
    list_filter = ("active",)
    search_fields = ("name", "url")
    list_select_related = ("created_by",)
    readonly_fields = ("secret_hint", "created_by", "created_at", "updated_at")

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> Any:
        if obj is None:
            return ("name", "url", "event_types", "active", "new_secret")
        return (
            "name", "url", "event_types", "active", "secret_hint", "new_secret", "rotate_secret",
            "created_by", "created_at", "updated_at",
        )  # fmt: skip

    @admin.display(description="events")
    def events(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types)

    @admin.display(description="current secret")
    def secret_hint(self, obj: WebhookEndpoint) -> str:
        return f"{obj.secret_hint} (hidden; only its last characters are shown)"

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        typed = form.cleaned_data.get("new_secret") or ""
        generated = not typed and (not change or form.cleaned_data.get("rotate_secret"))
        secret_changed = bool(typed) or bool(generated)
        if secret_changed:
            obj.secret = typed or generate_secret()
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        # The admin's change view runs in one transaction: the event commits with the change.
        trail.record(
            obj,
            "notification.webhook_endpoint_changed"
            if change
            else "notification.webhook_endpoint_created",
            by=request.user,
            data={
                "name": obj.name,
                "url": obj.url,
                "event_types": obj.event_types,
                "active": obj.active,
                "changed": sorted(form.changed_data) if change else [],
                "secret_replaced": secret_changed and change,
            },
        )
        if generated:
            self.message_user(
                request,
                format_html(
                    "The signing secret of {} is <code>{}</code>. Copy it to the receiver now: "
                    "it will not be shown again.",
                    obj.name,
                    obj.secret,
                ),
                messages.WARNING,
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RolePermissions, admin.ModelAdmin):  # type: ignore[type-arg]
    """The delivery log: written by the webhook service only; admins can replay failures."""

    readers = (roles.ADMIN, roles.AUDITOR)
    writers = ()
    actions = ("replay_selected",)
    list_display = (
        "id", "event", "endpoint", "request_link", "status", "attempts", "last_status_code",
        "next_attempt_at", "delivered_at", "created_at",
    )  # fmt: skip
    list_filter = ("status", "event", "endpoint")
    list_select_related = ("endpoint",)
    search_fields = ("=id", "endpoint__name", "event")
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "endpoint", "event", "request_link", "status", "attempts", "round_attempts", "replays",
        "next_attempt_at", "last_status_code", "last_error", "delivered_at", "created_at",
        "updated_at", "payload_json",
    )  # fmt: skip

    @admin.display(description="promotion request", ordering="promotion_request")
    def request_link(self, obj: WebhookDelivery) -> SafeString | str:
        if obj.promotion_request_id is None:
            return "-"
        try:
            url = reverse(
                "admin:governance_promotionrequest_change", args=[obj.promotion_request_id]
            )
        except NoReverseMatch:  # the request admin is not installed: the API resource
            url = request_path(obj.promotion_request_id)
        return format_html('<a href="{}">#{}</a>', url, obj.promotion_request_id)

    @admin.display(description="payload")
    def payload_json(self, obj: WebhookDelivery) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return webhooks.can_manage(request.user)

    @admin.action(description="Replay selected deliveries", permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        replayed = 0
        for delivery in queryset.order_by("id"):
            try:
                after = webhooks.replay(delivery, by=request.user)
            except ModelGateError as exc:
                self.message_user(
                    request, f"#{delivery.pk}: {exc.detail} [{exc.code}]", messages.ERROR
                )
                continue
            replayed += 1
            self.message_user(
                request,
                format_html(
                    'Delivery <a href="{}">#{}</a> replayed (status: {}).',
                    reverse("admin:governance_webhookdelivery_change", args=[after.pk]),
                    after.pk,
                    after.status,
                ),
                messages.SUCCESS,
            )
        if not replayed:
            self.message_user(request, "Nothing was replayed.", messages.WARNING)
