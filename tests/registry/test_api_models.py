"""REST API: registered models."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from registry.models import RegisteredModel
from tests.factories import ModelVersionFactory, RegisteredModelFactory

pytestmark = pytest.mark.django_db

NEW_MODEL = {
    "name": "credit-scoring",
    "owner_team": "credit-risk",
    "title": "Credit scoring",
    "risk_tier": "high",
    "intended_use": "Retail credit decisions",
    "limitations": "Not for business loans",
    "tags": ["credit", "retail"],
}


def test_a_data_scientist_of_the_team_registers_a_model(api, data_scientist):
    response = api(data_scientist).post("/api/v1/models/", NEW_MODEL, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "credit-scoring"
    assert body["owner_team"] == "credit-risk"
    assert body["risk_tier"] == "high"
    assert body["tags"] == ["credit", "retail"]
    assert body["version_count"] == 0
    assert body["production_version"] is None
    model = RegisteredModel.objects.get(name="credit-scoring")
    assert model.created_by == data_scientist
    event = AuditEvent.objects.for_object(model).get()
    assert event.action == "registry.model.registered"
    assert event.actor_username == "dana"
    assert event.data["after"]["risk_tier"] == "high"
    assert response["X-Request-ID"] == event.request_id


@pytest.mark.parametrize("who", ["other_data_scientist", "validator", "risk_officer", "auditor"])
def test_others_cannot_register_a_model_for_the_team(api, team, who, request):
    user = request.getfixturevalue(who)

    response = api(user).post("/api/v1/models/", NEW_MODEL, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not RegisteredModel.objects.exists()
    assert not AuditEvent.objects.exists()


def test_an_admin_registers_a_model_for_any_team(api, admin_user, team):
    response = api(admin_user).post("/api/v1/models/", NEW_MODEL, format="json")
    assert response.status_code == 201


def test_anonymous_and_roleless_users_are_refused(api, outsider, team):
    anonymous = api(None).get("/api/v1/models/")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    roleless = api(outsider).get("/api/v1/models/")
    assert roleless.status_code == 403
    assert roleless.json()["code"] == "permission_denied"


def test_a_duplicate_name_is_a_conflict_and_writes_nothing(api, data_scientist):
    client = api(data_scientist)
    assert client.post("/api/v1/models/", NEW_MODEL, format="json").status_code == 201
    events = AuditEvent.objects.count()

    response = client.post("/api/v1/models/", NEW_MODEL, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "duplicate"
    assert RegisteredModel.objects.count() == 1
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**NEW_MODEL, "name": "not a slug"}, "name"),
        ({**NEW_MODEL, "risk_tier": "extreme"}, "risk_tier"),
        ({**NEW_MODEL, "owner_team": "nobody"}, "owner_team"),
    ],
)
def test_invalid_model_input_is_refused_with_the_field_named(api, data_scientist, payload, field):
    response = api(data_scientist).post("/api/v1/models/", payload, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["detail"]
    assert not RegisteredModel.objects.exists()


def test_every_role_reads_models(
    api, team, data_scientist, validator, risk_officer, auditor, admin_user
):
    RegisteredModelFactory(name="m1", owner_team=team)
    for user in (data_scientist, validator, risk_officer, auditor, admin_user):
        listing = api(user).get("/api/v1/models/")
        assert listing.status_code == 200
        assert [m["name"] for m in listing.json()["results"]] == ["m1"]
        assert api(user).get("/api/v1/models/m1/").json()["name"] == "m1"


def test_a_team_member_edits_the_model_card_and_the_change_is_audited(api, data_scientist, team):
    model = RegisteredModelFactory(name="m1", owner_team=team, limitations="old")

    response = api(data_scientist).patch(
        "/api/v1/models/m1/", {"limitations": "new", "risk_tier": "limited"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["limitations"] == "new"
    model.refresh_from_db()
    assert (model.limitations, model.risk_tier) == ("new", "limited")
    event = AuditEvent.objects.for_object(model).get(action="registry.model.updated")
    assert event.data == {
        "before": {"limitations": "old", "risk_tier": "minimal"},
        "after": {"limitations": "new", "risk_tier": "limited"},
    }


@pytest.mark.parametrize("who", ["other_data_scientist", "validator", "auditor", "risk_officer"])
def test_only_the_owner_team_or_admins_edit_a_model(api, team, who, request):
    RegisteredModelFactory(name="m1", owner_team=team, limitations="old")
    user = request.getfixturevalue(who)

    response = api(user).patch("/api/v1/models/m1/", {"limitations": "new"}, format="json")

    assert response.status_code == 403
    assert RegisteredModel.objects.get(name="m1").limitations == "old"
    assert not AuditEvent.objects.exists()


def test_name_and_owner_cannot_be_changed_through_patch(api, data_scientist, team):
    RegisteredModelFactory(name="m1", owner_team=team)

    for field, value in (("name", "m2"), ("owner_team", "other"), ("created_by", "x")):
        response = api(data_scientist).patch("/api/v1/models/m1/", {field: value}, format="json")
        assert response.status_code == 400
        assert response.json()["errors"] == {field: ["unknown or read-only field"]}
    assert RegisteredModel.objects.filter(name="m1", owner_team=team).exists()
    assert not AuditEvent.objects.exists()


def test_put_and_delete_are_not_offered(api, admin_user, team):
    RegisteredModelFactory(name="m1", owner_team=team)
    client = api(admin_user)
    assert client.put("/api/v1/models/m1/", {}, format="json").status_code == 405
    assert client.delete("/api/v1/models/m1/").status_code == 405


def test_filters_and_search(api, validator, team):
    RegisteredModelFactory(name="churn", owner_team=team, risk_tier="minimal", tags=["marketing"])
    RegisteredModelFactory(
        name="credit", owner_team=team, risk_tier="high", tags=["credit"], title="Credit PD"
    )
    client = api(validator)

    def names(query: str) -> list[str]:
        return [m["name"] for m in client.get(f"/api/v1/models/?{query}").json()["results"]]

    assert names("risk_tier=high") == ["credit"]
    assert names("tag=marketing") == ["churn"]
    assert names("search=PD") == ["credit"]
    assert names("owner_team=credit-risk") == ["churn", "credit"]
    assert names("owner_team=other") == []


def test_the_model_list_issues_a_constant_number_of_queries(api, validator, team):
    client = api(validator)

    def count_queries(page_size: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/api/v1/models/?page_size={page_size}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == page_size
        return len(ctx.captured_queries)

    for i in range(30):
        model = RegisteredModelFactory(name=f"m{i:02}", owner_team=team)
        ModelVersionFactory(model=model, version=1)
    count_queries(3)  # warm-up: the user's roles are looked up once and cached
    assert count_queries(3) == count_queries(30)
