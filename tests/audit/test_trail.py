"""The audit trail: hash chain, append-only guarantees, tamper detection, concurrency."""

import itertools
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from audit import trail
from audit.models import AppendOnlyError, AuditEvent
from registry.models import Dataset
from tests.conftest import requires_postgres
from tests.factories import TeamFactory
from tests.helpers import tamper

pytestmark = pytest.mark.django_db


def _append(n: int, *, by=None, data=None) -> list[AuditEvent]:
    team = TeamFactory()
    events = []
    for i in range(n):
        with transaction.atomic():
            events.append(trail.record(team, "test.event", by=by, data=data or {"i": i}))
    return events


def test_events_form_one_chain_from_the_genesis_hash(data_scientist):
    events = _append(5, by=data_scientist)

    assert events[0].prev_hash == trail.GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    result = trail.verify_chain()
    assert result.valid
    assert result.event_count == 5
    assert result.head_hash == events[-1].hash
    assert (result.first_event_id, result.last_event_id) == (events[0].pk, events[-1].pk)
    assert events[0].actor_username == "dana"


def test_numbers_and_text_survive_the_database_round_trip_unchanged():
    _append(
        1,
        data={"big": 1e20, "small": 0.1, "neg": -3, "text": "Zoë ✓", "nested": [1.5, {"a": None}]},
    )
    assert trail.verify_chain().valid


def test_an_edited_event_is_detected_as_the_first_bad_event():
    events = _append(4)

    tamper("UPDATE audit_auditevent SET data = %s WHERE id = %s", ['{"i": 99}', events[2].pk])

    result = trail.verify_chain()
    assert not result.valid
    assert result.first_bad_event_id == events[2].pk
    assert "changed" in result.reason


def test_a_deleted_event_breaks_the_link_of_the_next_one():
    events = _append(4)

    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])

    result = trail.verify_chain()
    assert not result.valid
    assert result.first_bad_event_id == events[2].pk
    assert "link" in result.reason


def test_a_rehashed_forgery_is_still_caught_by_the_next_link():
    events = _append(3)
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.data = {"i": 1000}
    new_hash = trail.compute_hash(forged)

    tamper(
        "UPDATE audit_auditevent SET data = %s, hash = %s WHERE id = %s",
        ['{"i": 1000}', new_hash, events[1].pk],
    )

    result = trail.verify_chain()
    assert not result.valid
    assert result.first_bad_event_id == events[2].pk


def test_the_orm_refuses_to_change_or_delete_events():
    (event,) = _append(1)
    event.action = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().action == "test.event"


def test_recording_outside_a_transaction_is_refused(transactional_db):
    team = TeamFactory()
    with pytest.raises(trail.AuditError):
        trail.record(team, "test.event")
    assert not AuditEvent.objects.exists()


@requires_postgres
def test_postgresql_refuses_update_and_delete_on_the_table():
    (event,) = _append(1)
    for sql in (
        "UPDATE audit_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get().action == "test.event"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_writers_leave_one_valid_chain_with_every_event():
    team = TeamFactory()
    per_thread = 10
    barrier = threading.Barrier(20)
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    trail.record(team, "test.concurrent", data={"thread": n, "i": i})
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    result = trail.verify_chain()
    assert result.valid, result
    assert result.event_count == 20 * per_thread
    seen = set(AuditEvent.objects.values_list("data__thread", "data__i"))
    assert seen == {(n, i) for n in range(20) for i in range(per_thread)}
    prev_hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(prev_hashes) == len(set(prev_hashes)), (
        "two events claim the same predecessor: a fork"
    )


def test_verify_audit_command_reports_valid_and_invalid():
    events = _append(3)
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "valid" in out.getvalue()
    assert events[-1].hash in out.getvalue()

    tamper("UPDATE audit_auditevent SET action = %s WHERE id = %s", ["forged", events[0].pk])
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit", stdout=out)
    assert exit_info.value.code == 1
    assert f"first bad event: {events[0].pk}" in out.getvalue()


def test_verify_endpoint_reports_the_chain_to_an_auditor(api, auditor):
    events = _append(2)

    response = api(auditor).get("/api/v1/audit-events/verify/")

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    assert body["event_count"] == 2
    assert body["head_hash"] == events[-1].hash
    assert body["first_bad_event_id"] is None


def test_audit_events_are_listed_filtered_and_read_only(api, auditor, admin_user):
    _append(3)
    client = api(auditor)
    listing = client.get("/api/v1/audit-events/?action=test.&page_size=2")
    assert listing.status_code == 200
    assert listing.json()["count"] == 3
    assert len(listing.json()["results"]) == 2
    assert client.get("/api/v1/audit-events/?actor=nobody").json()["count"] == 0
    for client in (api(auditor), api(admin_user)):
        assert client.post("/api/v1/audit-events/", {}, format="json").status_code == 405
        first = AuditEvent.objects.first().pk
        assert client.delete(f"/api/v1/audit-events/{first}/").status_code == 405


def test_a_change_whose_audit_event_fails_is_rolled_back(api, data_scientist, monkeypatch):
    def broken_record(*args, **kwargs):
        raise trail.AuditError("audit storage unavailable")

    monkeypatch.setattr(trail, "record", broken_record)

    with pytest.raises(trail.AuditError):
        api(data_scientist).post("/api/v1/datasets/", {"name": "adult"}, format="json")
    assert not Dataset.objects.exists()


@requires_postgres
def test_postgresql_refuses_truncate_of_the_audit_table():
    _append(2)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL modelgate.audit_maintenance = 'off'")
        with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic():
            cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == 2


def test_big_integers_are_kept_exact_and_nul_characters_refused():
    (event,) = _append(1, data={"id": 12345678901234567891, "huge": 10**40, "whole": 3.0})
    event.refresh_from_db()
    assert event.data == {"id": 12345678901234567891, "huge": 10**40, "whole": 3}
    assert trail.verify_chain().valid
    with pytest.raises(trail.AuditError, match="NUL"), transaction.atomic():
        trail.record(TeamFactory(), "test.event", data={"text": "a\x00b"})
