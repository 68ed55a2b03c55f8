"""Webhook deliveries: recorded when an event commits, sent signed, retried, replayed.

Rules:
- one delivery row per active endpoint subscribed to the event, created in its own transaction
  after the event's transaction committed; the payload is fixed then, so every attempt and every
  replay sends the same body (the signature's timestamp is per attempt, see `signing`);
- each attempt first claims the row with one conditional UPDATE (due, and still pending or
  retrying), which also pushes `next_attempt_at` past the attempt's timeout: two senders (the
  immediate send and the retry timer, or two workers) cannot both send it, and an attempt whose
  worker died is retried once that lease has passed;
- a 2xx answer succeeds; anything else (another status, a redirect, a timeout, a refused
  connection) is retried after MODELGATE_WEBHOOK_BACKOFF_SECONDS * 2^(attempt-1), at most
  MODELGATE_WEBHOOK_BACKOFF_MAX_SECONDS, until MODELGATE_WEBHOOK_MAX_ATTEMPTS attempts; then the
  delivery is failed;
- an admin can replay a failed delivery: it is pending again with a fresh round of attempts,
  `attempts` keeps counting every attempt ever made, and the replay is audited.
"""

import json
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit import trail
from core import roles
from core.errors import Conflict, Forbidden
from governance.models import (
    DUE_STATUSES,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from governance.notifications import signing
from governance.notifications.events import PromotionEvent

logger = logging.getLogger(__name__)

USER_AGENT = "ModelGate-Webhooks/1"
MAX_ERROR_CHARS = 2000
MAX_RESPONSE_BYTES = 64 * 1024
# Added to the timeout for the claim's lease: connecting and reading may each take `timeout`.
LEASE_MARGIN_SECONDS = 30
DUE_BATCH = 500


def can_manage(user: Any) -> bool:
    return user.is_authenticated and roles.is_admin(user)


def backoff(attempt: int) -> timedelta:
    """The wait after the `attempt`-th failed attempt of a round (1-based)."""
    base = settings.MODELGATE_WEBHOOK_BACKOFF_SECONDS
    cap = settings.MODELGATE_WEBHOOK_BACKOFF_MAX_SECONDS
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


def body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent (and signed): the payload with the delivery id, as compact JSON."""
    document = {"delivery": delivery.pk, **delivery.payload}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


# --- recording -----------------------------------------------------------------------------


def record(event: PromotionEvent) -> list[int]:
    """One pending delivery per active endpoint that wants this event; their ids."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(active=True) if e.wants(event.event)]
    if not endpoints:
        return []
    payload = event.payload()
    now = timezone.now()
    with transaction.atomic():
        rows = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                endpoint=endpoint,
                event=event.event,
                promotion_request=event.request,
                payload=payload,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        )
    # PostgreSQL and SQLite both return the new ids from a bulk insert.
    return [row.pk for row in rows]


# --- sending -------------------------------------------------------------------------------


def send(delivery_id: int, *, now: datetime | None = None) -> WebhookDelivery | None:
    """Make one attempt if the delivery is due at `now`; the delivery afterwards, or None when
    it was not due (sent already, claimed by another sender, or waiting for its retry time)."""
    now = now or timezone.now()
    lease = now + timedelta(
        seconds=settings.MODELGATE_WEBHOOK_TIMEOUT_SECONDS * 2 + LEASE_MARGIN_SECONDS
    )
    due = WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=DUE_STATUSES, next_attempt_at__lte=now
    )
    if due.filter(endpoint__active=False).update(
        status=DeliveryStatus.FAILED,
        next_attempt_at=None,
        last_error="the endpoint is inactive; activate it and replay the delivery",
        updated_at=now,
    ):
        return WebhookDelivery.objects.get(pk=delivery_id)
    claimed = due.update(
        attempts=F("attempts") + 1,
        round_attempts=F("round_attempts") + 1,
        next_attempt_at=lease,
        updated_at=now,
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    status_code, error = _post(delivery)
    _record_attempt(delivery, status_code, error, now)
    return WebhookDelivery.objects.get(pk=delivery_id)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """POST the signed body; (HTTP status or None, error text or "")."""
    endpoint = delivery.endpoint
    content = body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signing.headers(
            endpoint.secret, delivery.event, delivery.pk, content, timestamp=int(time.time())
        ),
    }
    if urlsplit(endpoint.url).scheme not in ("http", "https"):
        return None, "refused: the endpoint URL is not http:// or https://"
    http_request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
        endpoint.url, data=content, headers=headers, method="POST"
    )
    timeout = settings.MODELGATE_WEBHOOK_TIMEOUT_SECONDS
    try:
        with _opener().open(http_request, timeout=timeout) as response:
            response.read(MAX_RESPONSE_BYTES)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        detail = exc.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace").strip()
        exc.close()
        return exc.code, f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
    except TimeoutError:
        return None, f"no answer within {timeout} s"
    except urllib.error.URLError as exc:
        return None, f"could not connect: {exc.reason}"
    except Exception as exc:  # the receiver's misbehaviour must never escape into the caller
        return None, f"{type(exc).__name__}: {exc}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: urllib would re-send a POST as a bodyless GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirects)


def _record_attempt(
    delivery: WebhookDelivery, status_code: int | None, error: str, now: datetime
) -> None:
    """Store the outcome of the attempt this sender claimed (and only that one: `attempts`
    identifies it, so a sender whose lease ran out cannot overwrite a later attempt)."""
    mine = WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts)
    if status_code is not None and 200 <= status_code < 300:
        mine.update(
            status=DeliveryStatus.SUCCEEDED,
            last_status_code=status_code,
            last_error="",
            next_attempt_at=None,
            delivered_at=timezone.now(),
            updated_at=timezone.now(),
        )
        return
    if not error:
        error = f"HTTP {status_code}"
    exhausted = delivery.round_attempts >= settings.MODELGATE_WEBHOOK_MAX_ATTEMPTS
    mine.update(
        status=DeliveryStatus.FAILED if exhausted else DeliveryStatus.RETRYING,
        last_status_code=status_code,
        last_error=error[:MAX_ERROR_CHARS],
        next_attempt_at=None if exhausted else now + backoff(delivery.round_attempts),
        updated_at=timezone.now(),
    )
    log = logger.warning if exhausted else logger.info
    log(
        "webhook delivery #%s to %s, attempt %s: %s%s",
        delivery.pk,
        delivery.endpoint.name,
        delivery.attempts,
        error,
        " (failed; replay it once the receiver is fixed)" if exhausted else "",
    )


def due_ids(now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:DUE_BATCH]
    )


def deliver_due(now: datetime | None = None) -> int:
    """Attempt every delivery whose time has come (celery beat, or the thread mode's timer);
    how many attempts were made."""
    now = now or timezone.now()
    attempted = 0
    for delivery_id in due_ids(now):
        try:
            if send(delivery_id, now=now) is not None:
                attempted += 1
        except Exception:  # a database hiccup on one row must not starve the others
            logger.exception("webhook delivery #%s could not be attempted", delivery_id)
    return attempted


# --- replaying -----------------------------------------------------------------------------


def replay(delivery: WebhookDelivery, *, by: Any) -> WebhookDelivery:
    """Queue a failed delivery again, with a fresh round of attempts (admins only; audited).
    Sent after commit by the job mode in force (inline: at once)."""
    if not can_manage(by):
        raise Forbidden("only admins can replay webhook deliveries")
    now = timezone.now()
    with transaction.atomic():
        row = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery.pk)
            .first()
        )
        if row is None or row.status != DeliveryStatus.FAILED:
            state = "gone" if row is None else row.status
            raise Conflict(
                f"only failed deliveries can be replayed; delivery #{delivery.pk} is {state}",
                code="delivery_not_failed",
            )
        if not row.endpoint.active:
            raise Conflict(
                f"endpoint {row.endpoint.name!r} is inactive; activate it first",
                code="endpoint_inactive",
            )
        WebhookDelivery.objects.filter(pk=row.pk).update(
            status=DeliveryStatus.PENDING,
            round_attempts=0,
            replays=F("replays") + 1,
            next_attempt_at=now,
            updated_at=now,
        )
        trail.record(
            row,
            "notification.webhook_replayed",
            by=by,
            data={
                "endpoint": row.endpoint.name,
                "event": row.event,
                "attempts_before": row.attempts,
                "last_status_code": row.last_status_code,
                "last_error": row.last_error,
            },
        )
        from governance.notifications import dispatch

        delivery_id = row.pk
        transaction.on_commit(lambda: dispatch.send_deliveries([delivery_id]))
    return WebhookDelivery.objects.select_related("endpoint").get(pk=row.pk)


def failed(ids: list[int] | None = None) -> list[WebhookDelivery]:
    rows = WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return list(rows.order_by("id"))
