"""The audit trail API: reading one event, every filter, who may read, constant query counts."""

import io
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import trail
from audit.models import AuditEvent
from registry.models import Dataset, DatasetVersion
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


def _upload(content: bytes = b"a,b\n1,2\n") -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = "data.csv"
    return handle


@pytest.fixture
def history(api, data_scientist, validator) -> dict[str, object]:
    """dana registers "adult" and its version 1; vera registers "holdout". Three requests, three
    events, three actions, two actors. Request ids are the ones the server answered with."""
    dana, vera = api(data_scientist), api(validator)
    adult = dana.post("/api/v1/datasets/", {"name": "adult"}, format="json")
    version = dana.post("/api/v1/datasets/adult/versions/", {"file": _upload()}, format="multipart")
    holdout = vera.post("/api/v1/datasets/", {"name": "holdout"}, format="json")
    for response in (adult, version, holdout):
        assert response.status_code == 201, response.content
    assert AuditEvent.objects.count() == 3
    request_ids = [r["X-Request-ID"] for r in (adult, version, holdout)]
    assert len(set(request_ids)) == 3
    return {
        "adult": Dataset.objects.get(name="adult"),
        "adult_v1": DatasetVersion.objects.get(),
        "holdout": Dataset.objects.get(name="holdout"),
        "request_ids": dict(zip(("adult", "adult_v1", "holdout"), request_ids, strict=True)),
    }


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [event["id"] for event in response.json()["results"]]


def _event_ids(**filters) -> list[int]:
    return list(AuditEvent.objects.filter(**filters).order_by("id").values_list("id", flat=True))


# --- 4. one event, and each filter ------------------------------------------------------------


def test_an_audit_event_is_read_by_id_with_its_chain_hashes(api, auditor, history):
    first, second, third = AuditEvent.objects.order_by("id")

    response = api(auditor).get(f"/api/v1/audit-events/{second.pk}/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == second.pk
    assert body["action"] == "registry.dataset_version.registered"
    assert body["actor_username"] == "dana"
    assert body["actor_id"] == history["adult_v1"].created_by_id
    assert body["target_type"] == "registry.datasetversion"
    assert body["target_id"] == str(history["adult_v1"].pk)
    assert body["target_repr"] == "adult:1"
    assert body["request_id"] == history["request_ids"]["adult_v1"]
    assert body["data"]["row_count"] == 1
    assert body["prev_hash"] == first.hash
    assert body["hash"] == second.hash == trail.compute_hash(second)
    assert third.prev_hash == body["hash"]
    assert AuditEvent.objects.count() == 3  # reading the trail adds nothing to it


def test_an_unknown_audit_event_id_is_404_with_a_not_found_code(api, auditor, history):
    missing = AuditEvent.objects.order_by("-id").first().pk + 1

    response = api(auditor).get(f"/api/v1/audit-events/{missing}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert AuditEvent.objects.count() == 3


def test_audit_events_filter_by_target_type_and_target_id(api, auditor, history):
    adult, holdout = history["adult"], history["holdout"]
    client = api(auditor)

    by_type = client.get("/api/v1/audit-events/", {"target_type": "registry.dataset"})
    by_target = client.get(
        "/api/v1/audit-events/", {"target_type": "registry.dataset", "target_id": str(adult.pk)}
    )
    version = client.get(
        "/api/v1/audit-events/",
        {"target_type": "registry.datasetversion", "target_id": str(history["adult_v1"].pk)},
    )

    assert _ids(by_type) == _event_ids(target_type="registry.dataset")
    assert len(_ids(by_type)) == 2
    assert _ids(by_target) == list(
        AuditEvent.objects.for_object(adult).values_list("id", flat=True)
    )
    assert len(_ids(by_target)) == 1
    assert by_target.json()["results"][0]["target_repr"] == "adult"
    assert str(holdout.pk) not in {e["target_id"] for e in by_target.json()["results"]}
    assert [e["action"] for e in version.json()["results"]] == [
        "registry.dataset_version.registered"
    ]


def test_audit_events_filter_by_actor_username(api, auditor, history):
    client = api(auditor)

    dana = client.get("/api/v1/audit-events/", {"actor": "dana"})
    vera = client.get("/api/v1/audit-events/", {"actor": "vera"})
    nobody = client.get("/api/v1/audit-events/", {"actor": "nobody"})

    assert _ids(dana) == _event_ids(actor_username="dana")
    assert len(_ids(dana)) == 2
    assert [e["target_repr"] for e in vera.json()["results"]] == ["holdout"]
    assert nobody.json()["count"] == 0


def test_audit_events_filter_by_action_prefix(api, auditor, history):
    client = api(auditor)

    def actions(prefix: str) -> list[str]:
        response = client.get("/api/v1/audit-events/", {"action": prefix})
        assert response.status_code == 200
        return [e["action"] for e in response.json()["results"]]

    assert actions("registry.dataset.") == ["registry.dataset.registered"] * 2
    assert actions("registry.dataset_version") == ["registry.dataset_version.registered"]
    assert len(actions("registry.dataset")) == 3  # a prefix, not a dotted segment
    assert len(actions("registry.")) == 3
    assert actions("dataset") == []  # starts with, not contains
    assert actions("registry.dataset.registered") == ["registry.dataset.registered"] * 2


def test_audit_events_filter_by_request_id(api, auditor, history):
    client = api(auditor)
    request_ids = history["request_ids"]

    def reprs(request_id: str) -> list[str]:
        response = client.get("/api/v1/audit-events/", {"request_id": request_id})
        assert response.status_code == 200
        return [e["target_repr"] for e in response.json()["results"]]

    assert reprs(request_ids["adult"]) == ["adult"]
    assert reprs(request_ids["adult_v1"]) == ["adult:1"]
    assert reprs(request_ids["holdout"]) == ["holdout"]
    assert _ids(client.get("/api/v1/audit-events/", {"request_id": request_ids["holdout"]})) == (
        _event_ids(request_id=request_ids["holdout"])
    )
    assert reprs("no-such-request") == []


def test_filters_combine_so_only_events_matching_all_of_them_are_listed(api, auditor, history):
    response = api(auditor).get(
        "/api/v1/audit-events/", {"actor": "dana", "action": "registry.dataset."}
    )

    assert [e["target_repr"] for e in response.json()["results"]] == ["adult"]


def test_audit_events_filter_by_since_and_until_inclusively(api, auditor, monkeypatch):
    team = TeamFactory()
    moments = [datetime(2030, 1, day, tzinfo=UTC) for day in (1, 2, 3, 4)]
    events = []
    for moment in moments:
        with monkeypatch.context() as patch:
            patch.setattr(trail.timezone, "now", lambda moment=moment: moment)
            with transaction.atomic():
                events.append(trail.record(team, "test.timed", data={"at": moment}))
    assert trail.verify_chain().valid
    ids = [event.pk for event in events]
    client = api(auditor)

    def listed(**params: str) -> list[int]:
        return _ids(client.get("/api/v1/audit-events/", params))

    assert listed(since="2030-01-02T00:00:00Z") == ids[1:]
    assert listed(until="2030-01-02T00:00:00Z") == ids[:2]
    assert listed(since="2030-01-02T00:00:00Z", until="2030-01-03T00:00:00Z") == ids[1:3]
    assert listed(since="2030-01-02T12:00:00Z", until="2030-01-02T23:59:59Z") == []
    # Offsets are honoured: 01:00 at +02:00 is 23:00 UTC the day before; 22:00 at -02:00 is
    # exactly midnight UTC (inclusive); 23:00 at -02:00 is already past the second event.
    assert listed(since="2030-01-02T01:00:00+02:00") == ids[1:]
    assert listed(since="2030-01-01T22:00:00-02:00") == ids[1:]
    assert listed(since="2030-01-01T23:00:00-02:00") == ids[2:]
    assert listed(since="2030-01-05T00:00:00Z") == []
    bad = client.get("/api/v1/audit-events/", {"since": "last tuesday"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid"
    assert "since" in bad.json()["detail"]


# --- 3. who may read the trail ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/audit-events/", "/api/v1/audit-events/verify/"])
def test_anonymous_clients_get_401_and_roleless_users_403_on_the_audit_trail(
    api, outsider, history, path
):
    anonymous = api(None).get(path)
    roleless = api(outsider).get(path)

    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert roleless.status_code == 403
    assert roleless.json()["code"] == "permission_denied"
    assert "results" not in roleless.json() and "valid" not in roleless.json()
    assert AuditEvent.objects.count() == 3


def test_a_roleless_user_cannot_read_one_audit_event_by_id(api, outsider, history):
    event = AuditEvent.objects.first()

    assert api(None).get(f"/api/v1/audit-events/{event.pk}/").status_code == 401
    response = api(outsider).get(f"/api/v1/audit-events/{event.pk}/")
    assert response.status_code == 403
    assert "hash" not in response.json()


@pytest.mark.parametrize(
    "who", ["data_scientist", "validator", "risk_officer", "auditor", "admin_user"]
)
def test_every_role_reads_and_verifies_the_audit_trail(api, history, who, request):
    client = api(request.getfixturevalue(who))

    listing = client.get("/api/v1/audit-events/")
    verify = client.get("/api/v1/audit-events/verify/")

    assert _ids(listing) == _event_ids()
    assert verify.status_code == 200
    assert verify.json()["valid"] is True
    assert verify.json()["event_count"] == 3
    assert verify.json()["head_hash"] == AuditEvent.objects.order_by("-id").first().hash


# --- 5. constant query counts -----------------------------------------------------------------


def test_audit_event_list_queries_do_not_grow_with_page_size(api, auditor):
    team = TeamFactory()
    for i in range(30):
        with transaction.atomic():
            trail.record(team, "test.event", by=auditor, data={"i": i})
    client = api(auditor)

    def count(page_size: int) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/api/v1/audit-events/", {"page_size": page_size})
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json()["results"])

    count(3)  # warm-up: the reader's roles are cached on the user after the first request
    small, large = count(3), count(30)

    assert (small[1], large[1]) == (3, 30)
    assert small[0] == large[0]
