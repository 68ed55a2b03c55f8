"""Findings in the browser: the panel (page object and partial), a finding's own page, and the
raise / answer / close forms, which reach the finding service and show its refusals."""

from datetime import timedelta
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from core import roles
from governance.models import Finding
from governance.pages import findings as pages
from governance.services import findings as service
from governance.services import promotions
from tests.factories import UserFactory
from tests.governance import gate_setup as g
from tests.governance.finding_setup import finding_events, fresh, raised, version_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(team, data_scientist):
    return version_of(team, data_scientist)


@pytest.fixture
def finding(version, validator, data_scientist):
    return raised(validator, version, data_scientist)


def version_url(version: Any) -> str:
    return reverse("web:version", args=(version.model.name, version.version))


def raise_url(version: Any) -> str:
    return reverse("web:finding-raise", args=(version.model.name, version.version))


def form(**values: Any) -> dict[str, Any]:
    return {
        "title": "Race disparity above tolerance",
        "severity": "high",
        "description": "The demographic parity difference on race is 0.14.",
        "due_date": (timezone.localdate() + timedelta(days=14)).isoformat(),
        **values,
    }


def rendered(user: Any, panel: pages.FindingsPanel) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return render_to_string("web/_findings.html", {"findings": panel}, request=request)


# --- the panel -------------------------------------------------------------------------------


def test_the_panel_lists_unresolved_first_newest_first_with_counts(
    version, validator, data_scientist
):
    old_high = raised(validator, version, data_scientist, title="old high")
    closed = raised(validator, version, data_scientist, severity="low", title="closed")
    service.close(by=validator, finding=closed, note="fine")
    new_medium = raised(validator, version, data_scientist, severity="medium", title="new")

    panel = pages.panel(validator, version, next_url="/back/")

    assert [r.pk for r in panel.rows] == [new_medium.pk, old_high.pk, closed.pk]
    assert [(c.severity, c.count) for c in panel.unresolved_by_severity] == [
        ("high", 1),
        ("medium", 1),
        ("low", 0),
    ]
    assert panel.unresolved_total == 2
    assert panel.can_raise and panel.next_url == "/back/" and panel.promotion_request is None
    assert [o.username for o in panel.owner_choices] == ["dana"]
    assert [s.value for s in panel.severities] == ["low", "medium", "high"]
    # The raiser may close the unresolved ones, nobody answers but the owner.
    assert [(r.may_answer, r.may_close) for r in panel.rows] == [
        (False, True),
        (False, True),
        (False, False),
    ]


def test_the_owner_may_answer_and_not_close_and_sees_no_raise_form(finding, data_scientist):
    panel = pages.panel(data_scientist, finding.model_version, next_url="/")

    (row,) = panel.rows
    assert row.may_answer and not row.may_close
    assert row.close_refusal == "separation of duties: the finding's owner cannot close it"
    assert not panel.can_raise and panel.owner_choices == ()
    html = rendered(data_scientist, panel)
    assert 'data-testid="finding-answer-form"' in html
    assert f'id="id_remediation_{finding.pk}"' in html
    assert 'data-testid="finding-close-form"' not in html
    assert 'data-testid="finding-raise-form"' not in html


def test_only_active_data_scientists_of_the_team_are_offered_as_owners(
    version, validator, team, auditor
):
    gone = UserFactory(username="gone", roles=[roles.DATA_SCIENTIST], is_active=False)
    mate = UserFactory(username="bea", roles=[roles.DATA_SCIENTIST])
    team.members.add(gone, mate)

    panel = pages.panel(validator, version, next_url="/")

    assert [o.username for o in panel.owner_choices] == ["bea", "dana"]


def test_the_panel_markup_carries_the_selectors_and_the_request(
    risk_officer, team, data_scientist, validator
):
    g.install_default_pack(risk_officer)
    version = version_of(team, data_scientist)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="staging", justification="ready"
    )
    found = raised(validator, version, data_scientist, severity="medium")

    html = rendered(
        validator, pages.panel(validator, version, promotion_request=request, next_url="/r/")
    )

    assert 'data-testid="findings"' in html
    assert (
        f'data-testid="finding" data-finding-id="{found.pk}" data-status="open" '
        f'data-severity="medium"'
    ) in html
    assert 'data-testid="finding-raise-form"' in html
    assert f'name="promotion_request" value="{request.pk}"' in html
    assert html.count('name="next" value="/r/"') == 2  # the raise and the close form
    assert f'id="id_note_{found.pk}"' in html and 'data-testid="finding-answer-form"' not in html
    for field in ("title", "severity", "description", "owner", "due_date"):
        assert f'<label for="id_finding_{field}">' in html
        assert f'id="id_finding_{field}"' in html
    assert f'<option value="{data_scientist.pk}">dana</option>' in html


def test_an_auditor_sees_every_finding_and_no_form(finding, auditor):
    html = rendered(auditor, pages.panel(auditor, finding.model_version, next_url="/"))

    assert f'data-finding-id="{finding.pk}"' in html
    assert "<form" not in html


def test_the_panel_costs_the_same_queries_whatever_the_number_of_findings(
    version, validator, data_scientist, django_assert_num_queries
):
    raised(validator, version, data_scientist)
    validator = type(validator).objects.get(pk=validator.pk)  # roles not cached yet
    with django_assert_num_queries(4):  # roles, findings, requests by them, owner choices
        pages.panel(validator, version, next_url="/")

    other = UserFactory(username="val2", roles=[roles.VALIDATOR])
    for n in range(6):
        found = raised(other if n % 2 else validator, version, data_scientist, title=f"f{n}")
        if n % 3 == 0:
            service.answer(by=data_scientist, finding=found, remediation="done")
    validator = type(validator).objects.get(pk=validator.pk)
    with django_assert_num_queries(4):
        panel = pages.panel(validator, version, next_url="/")
        rendered(validator, panel)
    assert len(panel.rows) == 7


# --- raising from the version page or the request page ---------------------------------------


def test_a_validator_raises_a_finding_from_the_version_page(
    client, version, validator, data_scientist
):
    client.force_login(validator)
    back = version_url(version) + "#findings"

    response = client.post(raise_url(version), form(owner=data_scientist.pk, next=back))

    assert response.status_code == 302 and response.url == back
    found = Finding.objects.get()
    assert (found.severity, found.owner, found.raised_by) == ("high", data_scientist, validator)
    assert found.due_date == timezone.localdate() + timedelta(days=14)
    assert finding_events(found) == ["finding.raised"]
    page = client.get(reverse("web:finding", args=(found.pk,)))
    assert f"Finding #{found.pk} raised" in page.content.decode()


def test_a_finding_raised_from_the_request_page_names_the_request(
    client, risk_officer, team, data_scientist, validator
):
    g.install_default_pack(risk_officer)
    version = version_of(team, data_scientist)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="staging", justification="ready"
    )
    client.force_login(risk_officer)
    back = reverse("web:request", args=(request.pk,))

    response = client.post(
        raise_url(version),
        form(owner=data_scientist.pk, promotion_request=request.pk, next=back, due_date=""),
    )

    assert response.status_code == 302 and response.url == back
    found = Finding.objects.get()
    assert found.promotion_request == request and found.raised_role == "risk officer"
    assert found.due_date is None


def test_a_data_scientist_cannot_raise_a_finding(client, version, data_scientist):
    client.force_login(data_scientist)

    response = client.post(raise_url(version), form(owner=data_scientist.pk, title=""))

    assert response.status_code == 403
    html = response.content.decode()
    assert 'data-code="not_a_reviewer"' in html
    assert "only validators and risk officers raise findings" in html
    assert Finding.objects.count() == 0 and finding_events() == []


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"owner": "999999"}, "owner"),
        ({"owner": "x"}, "owner"),
        ({"owner": "9" * 30}, "owner"),
        ({"owner": ""}, "owner"),
        ({"due_date": "next week"}, "due_date"),
        ({"promotion_request": "424242"}, "promotion_request"),
        ({"promotion_request": "-1"}, "promotion_request"),
        ({"severity": "critical"}, "severity"),
    ],
)
def test_bad_input_is_refused_with_400_and_nothing_is_written(
    client, version, validator, data_scientist, values, field
):
    client.force_login(validator)

    response = client.post(raise_url(version), {**form(owner=data_scientist.pk), **values})

    assert response.status_code == 400
    assert response.context["field"] == field
    assert 'data-testid="refusal-reason"' in response.content.decode()
    assert Finding.objects.count() == 0


def test_raising_on_an_unknown_version_is_404_and_get_is_not_allowed(client, version, validator):
    client.force_login(validator)

    missing = reverse("web:finding-raise", args=(version.model.name, 99))
    assert client.post(missing, form()).status_code == 404
    assert client.get(raise_url(version)).status_code == 405


def test_a_next_url_off_the_site_is_ignored(client, version, validator, data_scientist):
    client.force_login(validator)

    response = client.post(
        raise_url(version), form(owner=data_scientist.pk, next="https://evil.example/")
    )

    assert response.status_code == 302 and response.url == version_url(version)


def test_an_htmx_post_is_told_where_to_go(client, version, validator, data_scientist):
    client.force_login(validator)

    response = client.post(
        raise_url(version), form(owner=data_scientist.pk, next="/review/"), HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 204 and response["HX-Redirect"] == "/review/"


# --- answering and closing -------------------------------------------------------------------


def test_the_owner_answers_and_the_validator_closes(client, finding, data_scientist, validator):
    back = version_url(finding.model_version)
    client.force_login(data_scientist)
    response = client.post(
        reverse("web:finding-answer", args=(finding.pk,)),
        {"remediation": "Retrained with re-weighting.", "next": back},
    )
    assert response.status_code == 302 and response.url == back
    assert fresh(finding).status == "answered"

    client.force_login(validator)
    response = client.post(
        reverse("web:finding-close", args=(finding.pk,)), {"note": "Verified on new evidence."}
    )
    assert response.status_code == 302
    assert response.url == reverse("web:finding", args=(finding.pk,))
    assert fresh(finding).status == "closed"
    assert finding_events(finding) == ["finding.raised", "finding.answered", "finding.closed"]


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [("validator", 403, "not_the_owner"), ("risk_officer", 403, "not_the_owner")],
)
def test_others_cannot_answer_with_the_services_reason(client, request, finding, who, status, code):
    client.force_login(request.getfixturevalue(who))

    response = client.post(
        reverse("web:finding-answer", args=(finding.pk,)), {"remediation": "done"}
    )

    assert response.status_code == status
    html = response.content.decode()
    assert f'data-code="{code}"' in html
    assert "only the finding&#x27;s owner (dana) answers it" in html
    assert fresh(finding).status == "open" and finding_events(finding) == ["finding.raised"]


@pytest.mark.parametrize(
    ("who", "code"), [("data_scientist", "owner_cannot_close"), ("risk_officer", "not_a_closer")]
)
def test_others_cannot_close_with_the_services_reason(client, request, finding, who, code):
    person = request.getfixturevalue(who)
    client.force_login(person)

    response = client.post(reverse("web:finding-close", args=(finding.pk,)), {"note": "ok"})

    assert response.status_code == 403
    html = response.content.decode()
    assert f'data-code="{code}"' in html
    assert service.close_refusal(person, finding).detail.replace("'", "&#x27;") in html
    assert fresh(finding).status == "open" and finding_events(finding) == ["finding.raised"]


def test_closing_a_closed_finding_is_409_and_an_empty_note_400(client, finding, validator):
    client.force_login(validator)
    url = reverse("web:finding-close", args=(finding.pk,))

    assert client.post(url, {"note": ""}).status_code == 400
    assert client.post(url, {"note": "done"}).status_code == 302
    again = client.post(url, {"note": "again"})
    assert again.status_code == 409 and 'data-code="finding_closed"' in again.content.decode()


def test_a_data_scientist_of_another_team_cannot_act_on_the_finding(
    client, finding, other_data_scientist
):
    client.force_login(other_data_scientist)

    answer = client.post(reverse("web:finding-answer", args=(finding.pk,)), {"remediation": "x"})
    page = client.get(reverse("web:finding", args=(finding.pk,)))

    assert answer.status_code == 403 and page.status_code == 403
    assert fresh(finding).status == "open"


# --- a finding's own page --------------------------------------------------------------------


def test_the_finding_page_shows_everything_and_the_forms_the_service_allows(
    client, finding, data_scientist, validator
):
    service.answer(by=data_scientist, finding=finding, remediation="Retrained with weights.")
    url = reverse("web:finding", args=(finding.pk,))

    client.force_login(validator)
    html = client.get(url).content.decode()
    assert finding.title in html and finding.description in html
    assert "Retrained with weights." in html
    assert 'data-testid="finding-close-form"' in html
    assert 'data-testid="finding-answer-form"' not in html
    assert '<li data-testid="timeline-item" data-action="finding.raised">' in html
    assert 'data-action="finding.answered"' in html

    client.force_login(data_scientist)
    html = client.get(url).content.decode()
    assert 'data-testid="finding-answer-form"' in html
    assert 'data-testid="finding-close-form"' not in html


def test_the_auditor_reads_the_finding_page_without_forms(client, finding, auditor):
    client.force_login(auditor)

    response = client.get(reverse("web:finding", args=(finding.pk,)))

    assert response.status_code == 200
    assert "<textarea" not in response.content.decode()


def test_the_finding_page_answers_404_403_and_login(client, finding, outsider, validator):
    url = reverse("web:finding", args=(finding.pk,))
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.force_login(validator)
    assert client.get(reverse("web:finding", args=(999999,))).status_code == 404


def test_the_finding_page_costs_the_same_queries_whatever_its_history(
    client, finding, data_scientist, validator, django_assert_max_num_queries
):
    url = reverse("web:finding", args=(finding.pk,))
    client.force_login(validator)
    with django_assert_max_num_queries(12) as few:
        assert client.get(url).status_code == 200
    for n in range(5):
        service.answer(by=data_scientist, finding=finding, remediation=f"note {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200
