"""Webhook endpoints that subscribe to promotion events, and the log of every delivery to them."""

import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator, URLValidator
from django.db import models
from django.db.models import Q

# The events the promotion services announce (governance.notifications.dispatch).
PROMOTION_EVENTS = (
    "promotion.requested",
    "promotion.reviewed",
    "promotion.rejected",
    "promotion.blocked",
    "promotion.completed",
    "promotion.withdrawn",
    "promotion.stale",
)
ALL_EVENTS = "*"


def generate_secret() -> str:
    """A fresh signing secret: 256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


validate_webhook_url = URLValidator(
    schemes=["http", "https"], message="Enter an http:// or https:// URL."
)


def validate_event_types(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError('a non-empty list of event names, or ["*"] for every event')
    unknown = [item for item in value if item != ALL_EVENTS and item not in PROMOTION_EVENTS]
    if unknown:
        raise ValidationError(
            f"unknown event type(s): {', '.join(map(str, unknown))}; "
            f"known: {', '.join(PROMOTION_EVENTS)} or *"
        )
    if ALL_EVENTS in value and len(value) > 1:
        raise ValidationError('"*" already means every event; give it alone')
    if len(set(value)) != len(value):
        raise ValidationError("an event type is listed twice")


class WebhookEndpoint(models.Model):
    """A URL that receives signed POSTs for the event types it subscribes to."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, validators=[validate_webhook_url])
    # Never shown again after it is set (the admin masks it); receivers verify signatures with it.
    secret = models.CharField(
        max_length=128, default=generate_secret, validators=[MinLengthValidator(16)]
    )
    event_types = models.JSONField(default=list, validators=[validate_event_types])
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        return self.active and (ALL_EVENTS in self.event_types or event in self.event_types)

    @property
    def secret_hint(self) -> str:
        """Enough to tell two secrets apart, not enough to sign anything."""
        return f"\N{HORIZONTAL ELLIPSIS}{self.secret[-4:]}" if self.secret else ""


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# Waiting to be sent (now or at next_attempt_at).
DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one endpoint: its payload, tries and outcome.

    Written only by governance.notifications.webhooks: created when the event's transaction has
    committed, claimed for each attempt by a conditional UPDATE, retried with exponential backoff
    until it succeeds or runs out of attempts, and replayable once failed.
    """

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    event = models.CharField(max_length=50)
    promotion_request = models.ForeignKey(
        "governance.PromotionRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhook_deliveries",
    )
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    # Every attempt ever made; `round_attempts` counts those since it was queued or last
    # replayed, and is what MODELGATE_WEBHOOK_MAX_ATTEMPTS bounds.
    attempts = models.PositiveIntegerField(default=0)
    round_attempts = models.PositiveIntegerField(default=0)
    replays = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "webhook deliveries"
        indexes = (models.Index(fields=("status", "next_attempt_at"), name="webhook_delivery_due"),)
        constraints = (
            models.CheckConstraint(
                condition=Q(status__in=("pending", "retrying", "succeeded", "failed")),
                name="webhook_delivery_status",
            ),
        )

    def __str__(self) -> str:
        return f"delivery #{self.pk} ({self.event})"
