"""The promotion services' hook: after an event commits, e-mail people and call webhooks.

`promotion_event` runs in `transaction.on_commit`, so it sees the committed request. It records
the webhook deliveries at once (their own transaction: a queue that is down loses nothing, the
retry sweep finds them), then hands the sending to the job mode in force
(settings.MODELGATE_JOBS, as for assessments):

- inline (tests, scripts): e-mails and first attempts happen here, synchronously; retries wait
  for `webhooks.deliver_due` (celery beat, the timer below, or a caller);
- thread: a background thread of this process sends them, and a timer thread sends due retries
  every MODELGATE_WEBHOOK_RETRY_INTERVAL_SECONDS;
- celery: a task per e-mail batch and per delivery; beat's `deliver-webhooks` sends due retries.

Nothing here ever raises into the caller: a promotion that committed stays committed whatever
the mail server or a receiver does. Failures are logged, and for webhooks kept on the delivery.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

from governance.notifications import events, mail, webhooks

logger = logging.getLogger(__name__)

_threads: ThreadPoolExecutor | None = None
_threads_lock = threading.Lock()


def mode() -> str:
    return settings.MODELGATE_JOBS


def promotion_event(event: str, request_id: int, *, audit_event_id: int | None = None) -> None:
    """Announce `event` about promotion request `request_id` (called after commit); the
    services pass the audit event that records the step."""
    try:
        facts = events.load(event, request_id, audit_event_id=audit_event_id)
    except Exception:
        logger.exception("notifications for %s on request #%s: could not load", event, request_id)
        return
    try:
        delivery_ids = webhooks.record(facts)
    except Exception:
        logger.exception("webhook deliveries for %s on request #%s not recorded", event, request_id)
        delivery_ids = []
    if event in mail.REVIEWER_EVENTS | mail.REQUESTER_EVENTS:
        _email(facts)
    send_deliveries(delivery_ids)


def finding_event(event: str, finding_id: int) -> None:
    """E-mail whoever has the next step on finding `finding_id` (called after commit): at
    once with inline jobs, else from the notification thread, off the request."""
    from governance.notifications import finding_mail

    if mode() == "inline":
        finding_mail.send(event, finding_id)
    else:
        _submit(finding_mail.send, event, finding_id)


def send_deliveries(delivery_ids: list[int]) -> None:
    """First attempts of these deliveries, in the job mode in force."""
    if not delivery_ids:
        return
    if mode() == "inline":
        for delivery_id in delivery_ids:
            send_now(delivery_id)
    elif mode() == "thread":
        _submit(_send_all, list(delivery_ids))
    else:
        from governance import tasks

        for delivery_id in delivery_ids:
            try:
                tasks.send_webhook.apply_async(
                    (delivery_id,), retry=True, retry_policy={"max_retries": 3}
                )
            except Exception:  # still pending and due: beat's sweep sends it
                logger.exception("could not queue webhook delivery #%s", delivery_id)


def send_now(delivery_id: int) -> None:
    try:
        webhooks.send(delivery_id)
    except Exception:
        logger.exception("webhook delivery #%s: attempt failed unexpectedly", delivery_id)


def email_now(event: str, request_id: int, facts: events.PromotionEvent | None = None) -> int:
    try:
        return mail.send(facts or events.load(event, request_id))
    except Exception:
        logger.exception("e-mails for %s on request #%s not sent", event, request_id)
        return 0


def _email(facts: events.PromotionEvent) -> None:
    event, request_id = facts.event, facts.request.pk
    if mode() == "inline":
        email_now(event, request_id, facts)
    elif mode() == "thread":
        _submit(email_now, event, request_id)
    else:
        from governance import tasks

        try:
            tasks.email_promotion_event.apply_async(
                (event, request_id), retry=True, retry_policy={"max_retries": 3}
            )
        except Exception:  # no queue: send from here rather than not at all
            logger.exception("could not queue e-mails for %s; sending them now", event)
            email_now(event, request_id, facts)


# --- the thread mode -----------------------------------------------------------------------


def _send_all(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        send_now(delivery_id)


def _submit(function: Callable[..., Any], *args: Any) -> None:
    try:
        _pool().submit(_in_thread, function, *args)
    except RuntimeError:  # the interpreter is shutting down: deliveries stay due for the sweep
        logger.warning("could not start %s in a thread", function.__name__)


def _pool() -> ThreadPoolExecutor:
    """The notification thread, and with it the retry timer: no celery beat in this mode."""
    global _threads
    with _threads_lock:
        if _threads is None:
            _threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelgate-notify")
            threading.Thread(
                target=_deliver_due_forever, name="modelgate-webhook-retries", daemon=True
            ).start()
    return _threads


def _deliver_due_forever() -> None:
    stop = threading.Event()
    while not stop.wait(settings.MODELGATE_WEBHOOK_RETRY_INTERVAL_SECONDS):
        _in_thread(webhooks.deliver_due)


def _in_thread(function: Callable[..., Any], *args: Any) -> None:
    close_old_connections()
    try:
        function(*args)
    except Exception:
        logger.exception("background notification work %s failed", function.__name__)
    finally:
        connections.close_all()
