"""Notifications: reviewer and requester e-mails, signed webhooks with retries, backoff and replay.

Webhooks go over real HTTP to a server on 127.0.0.1 (an ephemeral port) that records every
request and answers with the statuses a test queues. Events are produced by the real promotion
services; their after-commit hooks run as a commit would run them
(`django_capture_on_commit_callbacks`), in the inline job mode of the test settings.
"""

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import trail
from audit.models import AuditEvent
from core import roles
from core.errors import Conflict, Forbidden
from governance.models import PromotionRequest, WebhookDelivery, WebhookEndpoint
from governance.notifications import mail, signing, webhooks
from governance.services import promotions
from tests.conftest import requires_postgres
from tests.factories import UserFactory
from tests.governance import gate_setup as g
from tests.helpers import admin_login as login

pytestmark = pytest.mark.django_db

JUSTIFY = "validated on the 2024 holdout; needed for the Q3 release"
ENDPOINTS = "/admin/governance/webhookendpoint/"
DELIVERIES = "/admin/governance/webhookdelivery/"


# --- a real receiver ---------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records each request and answers with the queued
    statuses (200 once the queue is empty)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                answer = b"ok" if status < 300 else b"receiver says no"
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def to(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def fast_retries(settings: Any) -> Any:
    settings.MODELGATE_WEBHOOK_MAX_ATTEMPTS = 3
    settings.MODELGATE_WEBHOOK_BACKOFF_SECONDS = 30
    settings.MODELGATE_WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    settings.MODELGATE_WEBHOOK_TIMEOUT_SECONDS = 5
    return settings


def endpoint(url: str, events: list[str], name: str = "ci", **fields: Any) -> WebhookEndpoint:
    hook = WebhookEndpoint(name=name, url=url, event_types=events, **fields)
    hook.full_clean()
    hook.save()
    return hook


def header(request: dict[str, Any], name: str) -> str:
    """A header as the server received it (http.server keeps the sender's spelling)."""
    return {k.lower(): v for k, v in request["headers"].items()}[name.lower()]


def independent_signature(secret: str, request: dict[str, Any]) -> str:
    """The scheme of signing.py's docstring, computed here from scratch."""
    message = header(request, "X-ModelGate-Timestamp").encode() + b"." + request["body"]
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# --- the flow ----------------------------------------------------------------------------------


@pytest.fixture
def version(risk_officer: Any, data_scientist: Any, team: Any) -> Any:
    g.install_default_pack(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version)
    return version


def request_promotion(version: Any, by: Any, capture: Any) -> PromotionRequest:
    with capture(execute=True):
        return promotions.open_request(
            by=by, version=version, target_stage="production", justification=JUSTIFY
        )


def approve(request: PromotionRequest, by: Any, capture: Any) -> PromotionRequest:
    with capture(execute=True):
        return promotions.review(by=by, request=request, decision="approve", comment="fine")


def only_delivery() -> WebhookDelivery:
    (delivery,) = WebhookDelivery.objects.select_related("endpoint")
    return delivery


# --- webhooks: signed, filtered, logged --------------------------------------------------------


def test_a_subscribed_endpoint_receives_a_signed_delivery_of_the_event(
    receiver, version, data_scientist, django_capture_on_commit_callbacks
):
    hook = endpoint(receiver.url(), ["promotion.requested"])

    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)

    (sent,) = receiver.requests
    delivery = only_delivery()
    assert header(sent, "X-ModelGate-Event") == "promotion.requested"
    assert header(sent, "X-ModelGate-Delivery") == str(delivery.pk)
    assert header(sent, "Content-Type") == "application/json"
    signature = header(sent, "X-ModelGate-Signature")
    timestamp = header(sent, "X-ModelGate-Timestamp")
    assert signature == independent_signature(hook.secret, sent)
    assert signing.verify_signature(hook.secret, timestamp, sent["body"], signature)
    assert not signing.verify_signature(
        "another-secret-entirely", timestamp, sent["body"], signature
    )
    assert not signing.verify_signature(hook.secret, timestamp, sent["body"] + b" ", signature)
    assert not signing.verify_signature(hook.secret, int(timestamp) + 1, sent["body"], signature)

    body = json.loads(sent["body"])
    assert body == {
        "delivery": delivery.pk,
        "event": "promotion.requested",
        "occurred_at": body["occurred_at"],
        "actor": "dana",
        "request_id": request.pk,
        "url": f"/api/v1/promotion-requests/{request.pk}/",
        "page_url": f"http://127.0.0.1:8000/review/requests/{request.pk}/",
        "model": version.model.name,
        "version": version.version,
        "from_stage": "none",
        "target_stage": "production",
        "status": "open",
        "status_reason": "",
        "is_rollback": False,
        "requested_by": "dana",
        "required_approvals": {"validator": 1, "risk officer": 1},
    }
    requested_at = AuditEvent.objects.get(action="promotion.requested").created_at
    assert body["occurred_at"] == requested_at.isoformat()

    assert delivery.status == "succeeded"
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (1, 200, "")
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None
    assert delivery.promotion_request_id == request.pk


def test_verify_signature_refuses_old_timestamps_and_malformed_signatures():
    body = b'{"event":"promotion.completed"}'
    signature = signing.sign("s3cret-s3cret-s3cret", 1_700_000_000, body)
    assert signing.verify_signature(
        "s3cret-s3cret-s3cret", "1700000000", body, signature, now=1_700_000_100
    )
    assert not signing.verify_signature(
        "s3cret-s3cret-s3cret", "1700000000", body, signature, now=1_700_000_000 + 301
    )
    assert signing.verify_signature(
        "s3cret-s3cret-s3cret", "1700000000", body, signature, tolerance=None
    )
    assert not signing.verify_signature(
        "s3cret-s3cret-s3cret",
        "1700000000",
        body,
        signature.removeprefix("sha256="),
        tolerance=None,
    )
    assert not signing.verify_signature(
        "s3cret-s3cret-s3cret", "yesterday", body, signature, tolerance=None
    )


def test_each_endpoint_receives_only_the_event_types_it_subscribes_to(
    receiver, version, data_scientist, validator, risk_officer, django_capture_on_commit_callbacks
):
    endpoint(receiver.url("/requested"), ["promotion.requested"], name="requested")
    endpoint(receiver.url("/completed"), ["promotion.completed"], name="completed")
    endpoint(receiver.url("/all"), ["*"], name="all")
    endpoint(receiver.url("/off"), ["*"], name="off", active=False)

    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)
    approve(request, validator, django_capture_on_commit_callbacks)
    request = approve(request, risk_officer, django_capture_on_commit_callbacks)
    assert request.status == "completed"

    def seen(path: str) -> list[tuple[str, str]]:
        return [
            (header(r, "X-ModelGate-Event"), json.loads(r["body"])["actor"])
            for r in receiver.to(path)
        ]

    assert seen("/requested") == [("promotion.requested", "dana")]
    assert seen("/completed") == [("promotion.completed", "rita")]
    assert seen("/all") == [
        ("promotion.requested", "dana"),
        ("promotion.reviewed", "vera"),
        ("promotion.reviewed", "rita"),
        ("promotion.completed", "rita"),
    ]
    assert seen("/off") == []
    assert not WebhookDelivery.objects.filter(endpoint__name="off").exists()
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    completed = json.loads(receiver.to("/completed")[0]["body"])
    assert (completed["status"], completed["status_reason"]) == (
        "completed",
        "promoted to production",
    )


def test_a_failing_receiver_is_retried_with_growing_backoff_until_the_delivery_fails(
    receiver, fast_retries, version, data_scientist, django_capture_on_commit_callbacks
):
    endpoint(receiver.url(), ["promotion.requested"])
    receiver.statuses = [500, 503, 500]

    before = timezone.now()
    request_promotion(version, data_scientist, django_capture_on_commit_callbacks)
    first = only_delivery()
    assert (first.status, first.attempts, first.last_status_code) == ("retrying", 1, 500)
    assert "HTTP 500" in first.last_error and "receiver says no" in first.last_error
    first_wait = first.next_attempt_at - before
    assert timedelta(seconds=29) < first_wait <= timedelta(seconds=31)

    # Not due yet: nothing is sent.
    assert webhooks.deliver_due(now=first.next_attempt_at - timedelta(seconds=1)) == 0
    assert len(receiver.requests) == 1

    assert webhooks.deliver_due(now=first.next_attempt_at) == 1
    second = only_delivery()
    assert (second.status, second.attempts, second.last_status_code) == ("retrying", 2, 503)
    assert second.next_attempt_at - first.next_attempt_at == timedelta(seconds=60)

    assert webhooks.deliver_due(now=second.next_attempt_at) == 1
    last = only_delivery()
    assert (last.status, last.attempts, last.last_status_code) == ("failed", 3, 500)
    assert last.next_attempt_at is None and last.delivered_at is None
    assert webhooks.deliver_due(now=second.next_attempt_at + timedelta(days=1)) == 0

    # Every attempt sent the same body under the same delivery id, each one signed.
    assert len(receiver.requests) == 3
    assert len({r["body"] for r in receiver.requests}) == 1
    assert {header(r, "X-ModelGate-Delivery") for r in receiver.requests} == {str(last.pk)}
    for sent in receiver.requests:
        assert header(sent, "X-ModelGate-Signature") == independent_signature(
            last.endpoint.secret, sent
        )


def test_the_backoff_doubles_up_to_its_cap(settings):
    settings.MODELGATE_WEBHOOK_BACKOFF_SECONDS = 30
    settings.MODELGATE_WEBHOOK_BACKOFF_MAX_SECONDS = 200
    waits = [webhooks.backoff(n).total_seconds() for n in range(1, 6)]
    assert waits == [30, 60, 120, 200, 200]


def test_a_retry_succeeds_once_the_receiver_recovers(
    receiver, fast_retries, version, data_scientist, django_capture_on_commit_callbacks
):
    endpoint(receiver.url(), ["promotion.requested"])
    receiver.statuses = [500]
    request_promotion(version, data_scientist, django_capture_on_commit_callbacks)
    waiting = only_delivery()

    assert webhooks.deliver_due(now=waiting.next_attempt_at) == 1

    done = only_delivery()
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == (
        "succeeded",
        2,
        200,
        "",
    )
    assert done.delivered_at is not None
    # Sent: another sweep or a second sender finds nothing to claim.
    assert webhooks.send(done.pk, now=timezone.now() + timedelta(days=1)) is None
    assert len(receiver.requests) == 2


def test_a_claimed_attempt_is_not_sent_again_while_its_lease_runs(receiver, version):
    hook = endpoint(receiver.url(), ["promotion.requested"])
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        endpoint=hook, event="promotion.requested", payload={"event": "x"}, next_attempt_at=now
    )
    # Another sender claimed it (what `send` does first) and is still waiting for the receiver.
    claimed = WebhookDelivery.objects.filter(pk=delivery.pk, next_attempt_at__lte=now).update(
        attempts=1, round_attempts=1, next_attempt_at=now + timedelta(seconds=50)
    )
    assert claimed == 1
    assert webhooks.send(delivery.pk, now=now) is None
    assert webhooks.deliver_due(now=now + timedelta(seconds=49)) == 0
    assert receiver.requests == []
    # The lease ran out (that sender died): the sweep takes it over.
    assert webhooks.deliver_due(now=now + timedelta(seconds=50)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


def test_a_redirect_or_an_unreachable_receiver_is_a_failed_attempt_not_an_error(
    receiver, version, data_scientist, django_capture_on_commit_callbacks
):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    endpoint(f"http://127.0.0.1:{closed_port}/hook", ["promotion.requested"], name="down")
    endpoint(receiver.url("/moved"), ["promotion.requested"], name="moved")
    receiver.statuses = [302]

    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)

    assert request.status == "open"
    down = WebhookDelivery.objects.get(endpoint__name="down")
    assert (down.status, down.attempts, down.last_status_code) == ("retrying", 1, None)
    assert down.last_error.startswith("could not connect")
    moved = WebhookDelivery.objects.get(endpoint__name="moved")
    assert (moved.status, moved.last_status_code) == ("retrying", 302)
    # The redirect was not followed.
    assert [r["path"] for r in receiver.requests] == ["/moved"]


# --- replay ------------------------------------------------------------------------------------


@pytest.fixture
def failed_delivery(
    receiver, fast_retries, version, data_scientist, django_capture_on_commit_callbacks
) -> WebhookDelivery:
    endpoint(receiver.url(), ["promotion.requested"])
    receiver.statuses = [500, 500, 500]
    request_promotion(version, data_scientist, django_capture_on_commit_callbacks)
    for _ in range(2):
        webhooks.deliver_due(now=only_delivery().next_attempt_at)
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    return delivery


def test_replay_sends_a_failed_delivery_again_with_a_fresh_round_of_attempts(
    failed_delivery, receiver, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        queued = webhooks.replay(failed_delivery, by=admin_user)
    assert queued.status == "pending"  # sent once the replay commits

    after = only_delivery()
    assert (after.status, after.last_status_code, after.last_error) == ("succeeded", 200, "")
    assert (after.attempts, after.round_attempts, after.replays) == (4, 1, 1)
    assert len(receiver.requests) == 4
    assert json.loads(receiver.requests[-1]["body"]) == json.loads(receiver.requests[0]["body"])
    event = AuditEvent.objects.get(action="notification.webhook_replayed")
    assert event.actor_username == "ada"
    assert event.target_id == str(failed_delivery.pk)
    assert event.data["attempts_before"] == 3 and event.data["last_status_code"] == 500
    assert trail.verify_chain().valid


def test_a_replay_that_fails_again_gets_its_own_retries(
    failed_delivery, receiver, admin_user, django_capture_on_commit_callbacks
):
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.replay(failed_delivery, by=admin_user)
    after = only_delivery()
    assert (after.status, after.attempts, after.round_attempts) == ("retrying", 4, 1)
    assert webhooks.deliver_due(now=after.next_attempt_at) == 1
    assert only_delivery().status == "succeeded"


def test_replay_is_refused_to_non_admins_and_for_deliveries_that_did_not_fail(
    failed_delivery, validator, auditor, admin_user, django_capture_on_commit_callbacks
):
    for user in (validator, auditor):
        with pytest.raises(Forbidden):
            webhooks.replay(failed_delivery, by=user)
    assert only_delivery().status == "failed"

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.replay(failed_delivery, by=admin_user)
    with pytest.raises(Conflict) as refused:
        webhooks.replay(failed_delivery, by=admin_user)
    assert refused.value.code == "delivery_not_failed"

    # A failed delivery to a deactivated endpoint waits for the endpoint to come back.
    failed_delivery.endpoint.active = False
    failed_delivery.endpoint.save()
    WebhookDelivery.objects.filter(pk=failed_delivery.pk).update(status="failed")
    with pytest.raises(Conflict) as inactive:
        webhooks.replay(failed_delivery, by=admin_user)
    assert inactive.value.code == "endpoint_inactive"
    assert AuditEvent.objects.filter(action="notification.webhook_replayed").count() == 1


def test_a_delivery_to_an_endpoint_deactivated_meanwhile_fails_without_being_sent(
    receiver, fast_retries, version, data_scientist, django_capture_on_commit_callbacks
):
    hook = endpoint(receiver.url(), ["promotion.requested"])
    receiver.statuses = [500]
    request_promotion(version, data_scientist, django_capture_on_commit_callbacks)
    hook.active = False
    hook.save()

    assert webhooks.deliver_due(now=only_delivery().next_attempt_at) == 1
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "inactive" in delivery.last_error
    assert len(receiver.requests) == 1


def test_the_replay_command_replays_by_id_or_every_failed_delivery(
    failed_delivery, admin_user, receiver, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_webhooks", str(failed_delivery.pk), "--as", "ada")
    assert f"#{failed_delivery.pk} promotion.requested to ci: replayed" in capsys.readouterr().out
    assert only_delivery().status == "succeeded"

    WebhookDelivery.objects.filter(pk=failed_delivery.pk).update(status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_webhooks", "--all-failed", "--as", "ada")
    assert f"#{failed_delivery.pk} promotion.requested to ci: replayed" in capsys.readouterr().out
    assert (only_delivery().status, only_delivery().replays) == ("succeeded", 2)

    call_command("replay_webhooks", "--all-failed", "--as", "ada")
    assert "no failed delivery" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no failed delivery with this id"):
        call_command("replay_webhooks", str(failed_delivery.pk), "--as", "ada")
    with pytest.raises(CommandError, match="ids or --all-failed"):
        call_command("replay_webhooks", "--as", "ada")


def test_the_replay_command_refuses_a_non_admin(failed_delivery, validator):
    with pytest.raises(CommandError, match="only admins"):
        call_command("replay_webhooks", str(failed_delivery.pk), "--as", "vera")
    assert only_delivery().status == "failed"


# --- e-mail ------------------------------------------------------------------------------------


def test_only_the_reviewers_who_can_act_are_emailed_when_a_request_opens(
    risk_officer,
    validator,
    auditor,
    outsider,
    other_data_scientist,
    data_scientist,
    team,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    g.install_default_pack(risk_officer)  # high risk: a validator and a risk officer
    registrant = UserFactory(username="reggie", roles=[roles.RISK_OFFICER, roles.DATA_SCIENTIST])
    team.members.add(registrant)
    data_scientist.groups.add(Group.objects.get(name=roles.VALIDATOR))  # the requester validates
    UserFactory(username="nomail", email="", roles=[roles.VALIDATOR])
    UserFactory(username="gone", is_active=False, roles=[roles.VALIDATOR])
    version = g.governed_version(registrant=registrant, team=team)
    g.full_evidence(version)

    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)

    assert sorted(m.to[0] for m in mailoutbox) == ["rita@example.org", "vera@example.org"]
    assert all(len(m.to) == 1 for m in mailoutbox)
    message = mailoutbox[0]
    assert message.subject == (
        f"[ModelGate] Review requested: {version.model.name} version 1 to production "
        f"(#{request.pk})"
    )
    assert f"API: http://127.0.0.1:8000/api/v1/promotion-requests/{request.pk}/" in message.body
    assert f"Review page: http://127.0.0.1:8000/review/requests/{request.pk}/" in message.body
    name, number = version.model.name, version.version
    assert f"Model version: http://127.0.0.1:8000/models/{name}/versions/{number}/" in message.body
    assert JUSTIFY in message.body
    assert "1 validator, 1 risk officer" in message.body


def test_reviewer_roles_are_read_from_one_prefetch_whatever_the_number_of_candidates(
    version, data_scientist, validator, django_capture_on_commit_callbacks
):
    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)

    def group_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            eligible = mail.reviewers_who_can_act(request)
        assert validator in eligible
        return sum("auth_group" in q["sql"] for q in queries.captured_queries)

    few = group_queries()
    for n in range(5):
        UserFactory(username=f"extra{n}", roles=[roles.VALIDATOR, roles.RISK_OFFICER])
    assert group_queries() == few == 2  # the candidates, and their groups


def test_a_reviewer_who_has_reviewed_is_not_emailed_again_on_a_later_check(
    version, data_scientist, validator, risk_officer, django_capture_on_commit_callbacks
):
    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)
    assert {u.username for u in mail.reviewers_who_can_act(request)} == {"vera", "rita"}
    approve(request, validator, django_capture_on_commit_callbacks)
    assert [u.username for u in mail.reviewers_who_can_act(request)] == ["rita"]


def test_the_requester_is_emailed_when_the_request_completes(
    version, data_scientist, validator, risk_officer, mailoutbox, django_capture_on_commit_callbacks
):
    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)
    approve(request, validator, django_capture_on_commit_callbacks)
    mailoutbox.clear()
    approve(request, risk_officer, django_capture_on_commit_callbacks)

    (message,) = mailoutbox
    assert message.to == ["dana@example.org"]
    assert message.subject.startswith(f"[ModelGate] Request #{request.pk} completed")
    assert "is now in production" in message.body
    assert "By: rita" in message.body


def test_the_requester_is_emailed_when_the_request_is_rejected(
    version, data_scientist, validator, mailoutbox, django_capture_on_commit_callbacks
):
    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        promotions.review(
            by=validator, request=request, decision="reject", comment="calibration is off"
        )

    (message,) = mailoutbox
    assert message.to == ["dana@example.org"]
    assert "rejected" in message.subject
    assert "calibration is off" in message.body


def test_the_requester_is_emailed_what_blocks_an_approved_request(
    risk_officer,
    data_scientist,
    validator,
    team,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    g.install_default_pack(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)  # no evidence: blocked
    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)
    approve(request, validator, django_capture_on_commit_callbacks)
    mailoutbox.clear()
    request = approve(request, risk_officer, django_capture_on_commit_callbacks)
    assert request.status == "approved" and request.blocking

    (message,) = mailoutbox
    assert message.to == ["dana@example.org"]
    assert "policy gate is blocked" in message.subject
    first = request.blocking[0]
    assert f"- {first['policy']}/{first['check']}: {first['reason']}" in message.body


def test_a_mail_server_that_is_down_never_breaks_the_promotion(
    settings, receiver, version, data_scientist, caplog, django_capture_on_commit_callbacks
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": closed_port, "timeout": 5},
        }
    }
    endpoint(receiver.url(), ["promotion.requested"])

    request = request_promotion(version, data_scientist, django_capture_on_commit_callbacks)

    assert PromotionRequest.objects.get(pk=request.pk).status == "open"
    assert "e-mails for promotion.requested" in caplog.text
    assert only_delivery().status == "succeeded"  # the webhook went out all the same


# --- endpoints: validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "events", "field"),
    [
        ("ftp://example.org/hook", ["*"], "url"),
        ("file:///etc/passwd", ["*"], "url"),
        ("https://example.org/hook", [], "event_types"),
        ("https://example.org/hook", ["promotion.exploded"], "event_types"),
        ("https://example.org/hook", ["*", "promotion.requested"], "event_types"),
        ("https://example.org/hook", "promotion.requested", "event_types"),
    ],
)
def test_an_endpoint_needs_an_http_url_and_known_event_types(url, events, field):
    with pytest.raises(ValidationError) as invalid:
        WebhookEndpoint(name="x", url=url, event_types=events).full_clean()
    assert field in invalid.value.message_dict


def test_an_endpoint_gets_a_generated_secret_unless_given_one():
    one = WebhookEndpoint.objects.create(name="a", url="https://a.example/h", event_types=["*"])
    two = WebhookEndpoint.objects.create(name="b", url="https://b.example/h", event_types=["*"])
    assert len(one.secret) >= 40 and one.secret != two.secret
    with pytest.raises(ValidationError) as short:
        WebhookEndpoint(
            name="c", url="https://c.example", event_types=["*"], secret="x"
        ).full_clean()
    assert "secret" in short.value.message_dict


# --- admin ---------------------------------------------------------------------------------------


def test_an_admin_creates_an_endpoint_and_sees_its_secret_only_once(admin_user):
    client = login(admin_user)
    response = client.post(
        f"{ENDPOINTS}add/",
        {
            "name": "ci",
            "url": "https://ci.example.org/modelgate",
            "event_types": ["promotion.completed", "promotion.blocked"],
            "active": "on",
            "new_secret": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    hook = WebhookEndpoint.objects.get(name="ci")
    assert hook.event_types == ["promotion.completed", "promotion.blocked"]
    assert hook.created_by == admin_user
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(hook.secret in m and "will not be shown again" in m for m in shown)

    page = client.get(f"{ENDPOINTS}{hook.pk}/change/").content.decode()
    assert hook.secret not in page
    assert hook.secret[-4:] in page
    event = AuditEvent.objects.get(action="notification.webhook_endpoint_created")
    assert event.actor_username == "ada" and hook.secret not in json.dumps(event.data)


def test_an_admin_replaces_a_secret_by_typing_one_or_generating_one(admin_user):
    client = login(admin_user)
    hook = endpoint("https://ci.example.org/hook", ["*"])
    form = {"name": "ci", "url": hook.url, "event_types": ["*"], "active": "on"}
    old = hook.secret

    client.post(f"{ENDPOINTS}{hook.pk}/change/", {**form, "new_secret": ""})
    hook.refresh_from_db()
    assert hook.secret == old  # left empty: kept

    client.post(f"{ENDPOINTS}{hook.pk}/change/", {**form, "new_secret": "typed-secret-0123456789"})
    hook.refresh_from_db()
    assert hook.secret == "typed-secret-0123456789"

    response = client.post(
        f"{ENDPOINTS}{hook.pk}/change/", {**form, "rotate_secret": "on"}, follow=True
    )
    hook.refresh_from_db()
    assert hook.secret not in (old, "typed-secret-0123456789")
    assert any(hook.secret in str(m) for m in get_messages(response.wsgi_request))
    changes = AuditEvent.objects.filter(action="notification.webhook_endpoint_changed")
    assert [e.data["secret_replaced"] for e in changes.order_by("id")] == [False, True, True]


def test_the_admin_form_refuses_a_non_http_url_and_mixed_event_types(admin_user):
    client = login(admin_user)
    response = client.post(
        f"{ENDPOINTS}add/",
        {
            "name": "bad",
            "url": "ftp://ci.example.org/hook",
            "event_types": ["*", "promotion.requested"],
            "active": "on",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "url" in errors
    assert "already means every event" in str(errors["event_types"])
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("role", ["data_scientist", "validator", "risk_officer", "auditor"])
def test_only_admins_see_webhook_endpoints(role, request):
    client = login(request.getfixturevalue(role))
    assert client.get(ENDPOINTS).status_code == 403


def test_the_admin_replay_action_replays_the_selected_failed_deliveries(
    failed_delivery, admin_user, django_capture_on_commit_callbacks
):
    client = login(admin_user)
    assert client.get(DELIVERIES).status_code == 200
    page = client.get(f"{DELIVERIES}{failed_delivery.pk}/change/").content.decode()
    assert "HTTP 500" in page and "promotion.requested" in page
    request_id = failed_delivery.promotion_request_id
    assert f'href="/admin/governance/promotionrequest/{request_id}/change/"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            DELIVERIES,
            {"action": "replay_selected", "_selected_action": [str(failed_delivery.pk)]},
            follow=True,
        )

    assert response.status_code == 200
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert f"#{failed_delivery.pk}</a> replayed" in shown
    assert only_delivery().status == "succeeded"

    # A delivery that did not fail is refused, with the reason shown.
    response = client.post(
        DELIVERIES,
        {"action": "replay_selected", "_selected_action": [str(failed_delivery.pk)]},
        follow=True,
    )
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "delivery_not_failed" in shown and "Nothing was replayed" in shown


def test_an_auditor_reads_the_delivery_log_but_cannot_replay(failed_delivery, auditor):
    client = login(auditor)
    page = client.get(DELIVERIES)
    assert page.status_code == 200
    assert "replay_selected" not in page.content.decode()
    client.post(DELIVERIES, {"action": "replay_selected", "_selected_action": [failed_delivery.pk]})
    assert only_delivery().status == "failed"
    assert not AuditEvent.objects.filter(action="notification.webhook_replayed").exists()


# --- other job modes, committed data -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_the_thread_mode_a_background_thread_sends_after_the_commit(
    settings, receiver, risk_officer, data_scientist, validator, team, mailoutbox
):
    from governance.notifications import dispatch

    settings.MODELGATE_JOBS = "thread"
    settings.MODELGATE_WEBHOOK_RETRY_INTERVAL_SECONDS = 3600  # the timer stays out of the way
    hook = endpoint(receiver.url(), ["promotion.requested"])
    g.install_default_pack(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version)

    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )
    # One notification thread, first in first out: once this no-op ran, the work before it did.
    dispatch._pool().submit(lambda: None).result(timeout=60)

    (sent,) = receiver.requests
    assert json.loads(sent["body"])["request_id"] == request.pk
    assert header(sent, "X-ModelGate-Signature") == independent_signature(hook.secret, sent)
    assert only_delivery().status == "succeeded"
    assert sorted(m.to[0] for m in mailoutbox) == ["rita@example.org", "vera@example.org"]
    assert [t.name for t in threading.enumerate() if t.name.startswith("modelgate-notify")]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_of_one_due_delivery_send_it_once(receiver, version):
    hook = endpoint(receiver.url(), ["*"])
    delivery = WebhookDelivery.objects.create(
        endpoint=hook,
        event="promotion.requested",
        payload={"event": "promotion.requested"},
        next_attempt_at=timezone.now(),
    )
    barrier = threading.Barrier(8)
    outcomes: list[Any] = []
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            barrier.wait()
            outcomes.append(webhooks.send(delivery.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(receiver.requests) == 1
    assert sum(outcome is not None for outcome in outcomes) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
