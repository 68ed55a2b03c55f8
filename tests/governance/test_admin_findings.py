"""Findings in the admin: read-only rows for every role; answer and close are actions and
buttons that call the finding service, its refusals shown as messages; findings also appear
under their model version."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from governance.models import Finding
from governance.services import findings as service
from tests.governance.finding_setup import finding_events, fresh, raised, version_of
from tests.helpers import admin_login as login

pytestmark = pytest.mark.django_db

ROLES = ["data_scientist", "validator", "risk_officer", "auditor", "admin_user"]
FINDINGS = "/admin/governance/finding/"
VERSIONS = "/admin/registry/modelversion/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def version(team, data_scientist):
    return version_of(team, data_scientist)


@pytest.fixture
def finding(version, validator, data_scientist):
    return raised(validator, version, data_scientist)


def act(client, action: str, finding: Finding, **data: str):
    return client.post(
        FINDINGS, {"action": action, "_selected_action": [finding.pk], "apply": "1", **data}
    )


@pytest.mark.parametrize("who", ROLES)
def test_every_role_reads_findings_and_nobody_edits_or_deletes_one(who, request, finding):
    client = login(request.getfixturevalue(who))
    before = AuditEvent.objects.count()

    assert client.get(FINDINGS).status_code == 200
    page = client.get(f"{FINDINGS}{finding.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert finding.title in html and 'name="_save"' not in html
    assert client.post(f"{FINDINGS}{finding.pk}/change/", {"status": "closed"}).status_code == 403
    assert client.get(f"{FINDINGS}{finding.pk}/delete/").status_code == 403
    assert client.get(f"{FINDINGS}add/").status_code == 403
    version_page = client.get(f"{VERSIONS}{finding.model_version.pk}/change/").content.decode()
    assert finding.title in version_page  # the inline
    assert fresh(finding).status == "open" and AuditEvent.objects.count() == before


def test_the_list_filters_and_searches(auditor, version, validator, risk_officer, data_scientist):
    high = raised(validator, version, data_scientist, title="Race disparity")
    low = raised(risk_officer, version, data_scientist, severity="low", title="Card typo")
    client = login(auditor)

    def titles(query: str) -> set[str]:
        response = client.get(f"{FINDINGS}?{query}")
        assert response.status_code == 200
        return {f.title for f in response.context["cl"].result_list}

    assert titles("") == {high.title, low.title}
    assert titles("severity__exact=low") == {low.title}
    assert titles("raised_role__exact=validator") == {high.title}
    assert titles("status__exact=open") == {high.title, low.title}
    assert titles("q=disparity") == {high.title}


def test_the_list_costs_the_same_queries_for_more_rows(auditor, version, validator, data_scientist):
    raised(validator, version, data_scientist)
    client = login(auditor)
    client.get(FINDINGS)  # warm the session and the content types

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(FINDINGS).status_code == 200
        return len(queries.captured_queries)

    one = count()
    for n in range(5):
        raised(validator, version, data_scientist, title=f"finding {n}")
    assert count() == one


def test_the_owner_answers_with_the_button(data_scientist, finding):
    client = login(data_scientist)
    button = f"{FINDINGS}{finding.pk}/answer/"
    assert button in client.get(f"{FINDINGS}{finding.pk}/change/").content.decode()
    assert (
        f"{FINDINGS}{finding.pk}/close/"
        not in client.get(f"{FINDINGS}{finding.pk}/change/").content.decode()
    )
    assert '<textarea name="remediation"' in client.get(button).content.decode()

    response = client.post(button, {"remediation": "Retrained.", "apply": "Send answer"})

    assert response.status_code == 302
    assert response["Location"] == f"{FINDINGS}{finding.pk}/change/"
    assert "Answered" in messages_of(response)[0]
    assert fresh(finding).status == "answered"
    assert finding_events(finding) == ["finding.raised", "finding.answered"]


def test_the_raiser_closes_with_the_action(validator, finding):
    response = act(login(validator), "close", finding, note="Verified on new evidence.")

    assert response.status_code == 302
    assert fresh(finding).status == "closed"
    assert fresh(finding).closing_note == "Verified on new evidence."


def test_the_close_action_asks_for_a_note_first_and_an_empty_one_is_refused(validator, finding):
    client = login(validator)
    asked = client.post(FINDINGS, {"action": "close", "_selected_action": [finding.pk]})
    assert asked.status_code == 200 and '<textarea name="note"' in asked.content.decode()

    empty = act(client, "close", finding, note=" ")
    assert empty.status_code == 200
    assert "a closing note is required" in messages_of(empty)[0]
    assert fresh(finding).status == "open"


def test_refusals_are_messages_and_change_nothing(risk_officer, data_scientist, finding):
    refused = act(login(risk_officer), "close", finding, note="not mine to close")
    assert "refused" in messages_of(refused)[0] and "not_a_closer" in messages_of(refused)[0]

    page = login(risk_officer).get(f"{FINDINGS}{finding.pk}/change/").content.decode()
    assert "You cannot close this finding: only vera, who raised it" in page

    owner = login(data_scientist)
    assert owner.get(f"{FINDINGS}{finding.pk}/close/").status_code == 403  # not offered
    assert fresh(finding).status == "open"
    assert finding_events(finding) == ["finding.raised"]


def test_an_auditor_is_offered_no_action_and_cannot_use_one(auditor, finding):
    client = login(auditor)
    assert 'name="action"' not in client.get(FINDINGS).content.decode()
    assert client.get(f"{FINDINGS}{finding.pk}/close/").status_code == 403
    assert client.get(f"{FINDINGS}{finding.pk}/answer/").status_code == 403

    act(client, "close", finding, note="auditors close nothing")

    assert fresh(finding).status == "open"


def test_a_closed_finding_offers_no_button(validator, data_scientist, finding):
    service.close(by=validator, finding=finding, note="done")

    for person in (validator, data_scientist):
        page = login(person).get(f"{FINDINGS}{finding.pk}/change/").content.decode()
        assert f"{FINDINGS}{finding.pk}/close/" not in page
        assert f"{FINDINGS}{finding.pk}/answer/" not in page
