"""REST API of validation findings: raise, answer and close call the finding service; refusals
are 400/403/409 with its code and write nothing; lists filter and cost a constant number of
queries."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import roles
from governance.models import Finding
from governance.services import findings as service
from governance.services import promotions
from tests.factories import UserFactory
from tests.governance import gate_setup as g
from tests.governance.finding_setup import finding_events, fresh, raised, version_of

pytestmark = pytest.mark.django_db

FINDINGS = "/api/v1/findings/"


def detail(pk: int) -> str:
    return f"{FINDINGS}{pk}/"


def reloaded(user: User) -> User:
    """The user as a new request loads it (roles not cached yet)."""
    return User.objects.get(pk=user.pk)


@pytest.fixture
def version(team, data_scientist):
    return version_of(team, data_scientist)


@pytest.fixture
def finding(version, validator, data_scientist):
    return raised(validator, version, data_scientist)


def body(of, **values):
    """A raise request for version `of`; a value None leaves that field out."""
    values = {
        "model": of.model.name,
        "version": of.version,
        "title": "Race disparity above tolerance",
        "severity": "high",
        "description": "Demographic parity difference on race is 0.14.",
        "owner": "dana",
        **values,
    }
    return {k: v for k, v in values.items() if v is not None}


def test_a_validator_raises_a_finding(api, version, validator, data_scientist):
    due = (timezone.localdate() + timedelta(days=10)).isoformat()

    response = api(validator).post(FINDINGS, body(version, due_date=due), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    found = Finding.objects.get()
    assert response["Location"] == data["url"] == f"http://testserver{detail(found.pk)}"
    assert {k: data[k] for k in ("model", "version", "severity", "status", "owner")} == {
        "model": version.model.name,
        "version": version.version,
        "severity": "high",
        "status": "open",
        "owner": "dana",
    }
    assert (data["raised_by"], data["raised_role"], data["due_date"]) == ("vera", "validator", due)
    assert data["answer_refusal"]["code"] == "not_the_owner"
    assert data["close_refusal"] is None
    assert finding_events(found) == ["finding.raised"]


def test_a_finding_can_name_its_version_by_reference_and_its_request(
    api, risk_officer, team, data_scientist
):
    g.install_default_pack(risk_officer)
    version = version_of(team, data_scientist)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="staging", justification="ready"
    )
    values = body(
        version, model=None, version=None, model_version=str(version), promotion_request=request.pk
    )

    response = api(risk_officer).post(FINDINGS, values, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["promotion_request"] == request.pk
    assert response.json()["promotion_request_url"].endswith(
        f"/api/v1/promotion-requests/{request.pk}/"
    )
    assert Finding.objects.get().promotion_request == request


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"owner": "nobody"}, 400, "invalid"),
        ({"owner": "omar"}, 400, "invalid"),
        ({"severity": "critical"}, 400, "invalid"),
        ({"title": ""}, 400, "invalid"),
        ({"version": 99}, 400, "invalid"),
        ({"promotion_request": 4242}, 400, "invalid"),
        ({"promotion_request": 10**30}, 400, "invalid"),
        ({"version": 10**30}, 400, "invalid"),
        ({"due_date": "2001-01-01"}, 400, "invalid"),
        ({"model_version": "x:1", "model": None, "version": None}, 400, "invalid"),
        ({"model_version": "x:1"}, 400, "invalid"),
        ({"colour": "red"}, 400, "invalid"),
    ],
)
def test_bad_input_is_400_and_writes_nothing(
    api, version, validator, other_data_scientist, changes, status, code
):
    response = api(validator).post(FINDINGS, body(version, **changes), format="json")

    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert Finding.objects.count() == 0 and finding_events() == []


def test_the_version_is_named_by_model_and_version_together(api, version, validator):
    response = api(validator).post(FINDINGS, body(version, version=None), format="json")

    assert response.status_code == 400
    assert "model and version" in response.json()["detail"]


@pytest.mark.parametrize("who", ["data_scientist", "auditor", "admin_user"])
def test_only_reviewers_raise(api, request, version, who):
    response = api(request.getfixturevalue(who)).post(FINDINGS, body(version), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "not_a_reviewer"
    assert Finding.objects.count() == 0


def test_no_role_and_no_sign_in_are_refused(api, version, outsider):
    assert api(outsider).get(FINDINGS).status_code == 403
    assert api(None).get(FINDINGS).status_code in (401, 403)


def test_the_owner_answers_and_the_raiser_closes(api, finding, data_scientist, validator):
    response = api(data_scientist).post(
        f"{detail(finding.pk)}answer/", {"remediation": "Retrained."}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "answered"
    assert response.json()["answered_by"] == "dana"
    assert response.json()["close_refusal"]["code"] == "owner_cannot_close"

    response = api(validator).post(
        f"{detail(finding.pk)}close/", {"note": "Verified."}, format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["status"], data["closing_note"], data["closed_by"]) == (
        "closed",
        "Verified.",
        "vera",
    )
    assert finding_events(finding) == ["finding.raised", "finding.answered", "finding.closed"]


@pytest.mark.parametrize(
    ("who", "verb", "payload", "status", "code"),
    [
        ("validator", "answer", {"remediation": "x"}, 403, "not_the_owner"),
        ("data_scientist", "close", {"note": "x"}, 403, "owner_cannot_close"),
        ("risk_officer", "close", {"note": "x"}, 403, "not_a_closer"),
        ("auditor", "close", {"note": "x"}, 403, "not_a_closer"),
        ("data_scientist", "answer", {"remediation": ""}, 400, "invalid"),
        ("validator", "close", {"note": " "}, 400, "invalid"),
        ("validator", "close", {"note": "x", "extra": 1}, 400, "invalid"),
    ],
)
def test_refusals_carry_the_services_code_and_write_nothing(
    api, request, finding, who, verb, payload, status, code
):
    response = api(request.getfixturevalue(who)).post(
        f"{detail(finding.pk)}{verb}/", payload, format="json"
    )

    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert fresh(finding).status == "open"
    assert finding_events(finding) == ["finding.raised"]


def test_a_closed_finding_is_409_and_an_unknown_one_404(api, finding, validator, data_scientist):
    service.close(by=validator, finding=finding, note="done")

    again = api(validator).post(f"{detail(finding.pk)}close/", {"note": "x"}, format="json")
    late = api(data_scientist).post(
        f"{detail(finding.pk)}answer/", {"remediation": "x"}, format="json"
    )

    assert (again.status_code, again.json()["code"]) == (409, "finding_closed")
    assert (late.status_code, late.json()["code"]) == (409, "finding_closed")
    assert api(validator).get(detail(999999)).status_code == 404
    assert api(validator).post(f"{detail(999999)}close/", {"note": "x"}).status_code == 404


def test_the_list_filters(api, team, data_scientist, validator, risk_officer, auditor):
    first = version_of(team, data_scientist)
    second = version_of(team, data_scientist, model=first.model)
    mate = UserFactory(username="bea", roles=[roles.DATA_SCIENTIST])
    team.members.add(mate)
    a = raised(validator, first, data_scientist, severity="high")
    b = raised(risk_officer, second, mate, severity="low")
    c = raised(validator, second, data_scientist, severity="medium")
    service.close(by=validator, finding=c, note="done")
    client = api(auditor)

    def ids(query: str) -> set[int]:
        response = client.get(f"{FINDINGS}?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids("") == {a.pk, b.pk, c.pk}
    assert ids(f"model={first.model.name}&version=2") == {b.pk, c.pk}
    assert ids("status=open") == {a.pk, b.pk}
    assert ids("status=closed&status=answered") == {c.pk}
    assert ids("severity=high&severity=medium") == {a.pk, c.pk}
    assert ids("owner=bea") == {b.pk}
    assert ids("raised_by=vera") == {a.pk, c.pk}
    assert ids("team=credit-risk&search=disparity") == {a.pk, b.pk, c.pk}
    assert ids("model=other") == set()
    assert client.get(f"{FINDINGS}?severity=critical").status_code == 400
    assert client.get(detail(a.pk)).json()["id"] == a.pk


def test_the_list_costs_the_same_queries_whatever_the_number_of_findings(
    api, team, data_scientist, validator, risk_officer
):
    version = version_of(team, data_scientist)
    raised(validator, version, data_scientist)

    def measure() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = api(reloaded(validator)).get(FINDINGS)
        assert response.status_code == 200
        return len(queries.captured_queries), response.json()["count"]

    one, count = measure()
    assert count == 1
    other = version_of(team, data_scientist, model=version.model)
    for n in range(9):
        found = raised(risk_officer if n % 2 else validator, other, data_scientist, title=f"{n}")
        if n % 3 == 0:
            service.answer(by=data_scientist, finding=found, remediation="done")
        if n % 4 == 0:
            service.close(by=found.raised_by, finding=found, note="done")
    ten, count = measure()
    assert count == 10
    assert ten == one
