"""The admin: assessments read-only for every role with their charts, and "Run an assessment" on
model versions calling the same service as the API, its refusals shown as messages."""

import hashlib

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import Assessment, AssessmentChart
from tests.factories import ModelVersionFactory, RegisteredModelFactory
from tests.governance import assessment_setup as setup
from tests.helpers import admin_login as login

pytestmark = pytest.mark.django_db

ROLES = ["data_scientist", "validator", "risk_officer", "auditor", "admin_user"]
ADULT_FEATURES = ["age", "sex", "race", "education_num", "hours_per_week"]
VERSIONS = "/admin/registry/modelversion/"
ASSESSMENTS = "/admin/governance/assessment/"


@pytest.fixture
def records(team, data_scientist):
    model = RegisteredModelFactory(name="adult-income", owner_team=team)
    version = ModelVersionFactory(model=model, version=1, feature_names=ADULT_FEATURES)
    dataset = setup.adult_dataset(data_scientist, rows=60)
    return version, dataset


def finished(version, dataset, *, by, n: int = 0) -> Assessment:
    assessment = Assessment.objects.create(
        kind="fairness",
        model_version=version,
        dataset_version=dataset,
        sensitive_features=["sex"],
        request_key=f"{n:064x}",
        dataset_sha256=dataset.sha256,
        artifact_sha256=version.artifact_sha256,
        requested_by=by,
        status="succeeded",
        progress=100,
        stage="done",
        results={"kind": "fairness", "by_feature": {"sex": {"Female": {"count": 20 + n}}}},
        results_sha256=f"{n:064x}",
        provenance={"seed": 0, "library_versions": {"fairlearn": "0.13"}},
        finished_at=timezone.now(),
    )
    for extension in ("png", "svg"):
        AssessmentChart.objects.create(
            assessment=assessment,
            name="disparities",
            title="Disparities by sex",
            format=extension,
            file_key=f"charts/sha256/00/{n:064x}",
            sha256=f"{n:064x}",
            size=1,
        )
    return assessment


# --- Reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ROLES)
def test_every_role_reads_assessments_and_nobody_adds_changes_or_deletes_one(
    who, request, records, data_scientist
):
    assessment = finished(*records, by=data_scientist)
    client = login(request.getfixturevalue(who))
    page = f"{ASSESSMENTS}{assessment.pk}/change/"

    assert client.get(ASSESSMENTS).status_code == 200
    detail = client.get(page)
    assert detail.status_code == 200
    assert client.get(f"{ASSESSMENTS}add/").status_code == 403
    assert client.get(f"{ASSESSMENTS}{assessment.pk}/delete/").status_code == 403
    before = (Assessment.objects.count(), AuditEvent.objects.count())
    assert client.post(page, {"stage": "forged"}).status_code == 403
    assessment.refresh_from_db()
    assert assessment.stage == "done"
    assert (Assessment.objects.count(), AuditEvent.objects.count()) == before
    html = detail.content.decode()
    assert "Save" not in html and "Delete" not in html


def test_a_staff_user_without_a_role_cannot_read_assessments(outsider, records, data_scientist):
    assessment = finished(*records, by=data_scientist)
    client = login(outsider)
    assert client.get(ASSESSMENTS).status_code == 403
    assert client.get(f"{ASSESSMENTS}{assessment.pk}/change/").status_code == 403
    assert Client().get(ASSESSMENTS).status_code == 302  # to the login page


def test_the_detail_page_shows_results_provenance_and_the_charts_as_images(
    api, auditor, data_scientist, django_capture_on_commit_callbacks
):
    frame = setup.adult_rows("test", 200)[["sex", "race", "income"]].copy()
    frame["prediction"] = frame["income"]
    setup.dataset_version(
        data_scientist, frame, name="vendor-decisions", prediction_column="prediction"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api(data_scientist).post(
            "/api/v1/assessments/",
            {
                "kind": "fairness",
                "dataset": "vendor-decisions:1",
                "parameters": {"n_bootstrap": 0, "pos_label": ">50K"},
            },
            format="json",
        )
    assessment = Assessment.objects.get(pk=response.json()["id"])
    assert assessment.status == "succeeded", assessment.error_message
    client = login(auditor)

    html = client.get(f"{ASSESSMENTS}{assessment.pk}/change/").content.decode()

    png = assessment.charts.get(name="disparities", format="png")
    src = f"/api/v1/assessments/{assessment.pk}/charts/disparities.png"
    assert f'<img src="{src}"' in html
    assert f'href="/api/v1/assessments/{assessment.pk}/charts/disparities.svg"' in html
    assert "predictions only" in html
    assert "&quot;by_feature&quot;: {" in html  # results, indented JSON
    assert "library_versions" in html and assessment.results_sha256 in html
    # The image the page shows is served to the same session, byte for byte.
    image = client.get(src)
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert hashlib.sha256(image.content).hexdigest() == png.sha256


def test_the_assessment_list_costs_the_same_number_of_queries_for_3_or_30_rows(
    admin_user, records, data_scientist
):
    client = login(admin_user)

    def queries(rows: int) -> int:
        for n in range(Assessment.objects.count(), rows):
            finished(*records, by=data_scientist, n=n)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(ASSESSMENTS)
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == rows
        return len(captured)

    assert queries(3) == queries(30)


def test_a_version_page_lists_its_assessments_with_links_and_charts(
    validator, records, data_scientist
):
    version, dataset = records
    assessment = finished(version, dataset, by=data_scientist)
    other = ModelVersionFactory(model=version.model, version=2)

    html = login(validator).get(f"{VERSIONS}{version.pk}/change/").content.decode()

    assert f"/admin/governance/assessment/{assessment.pk}/change/" in html
    assert f'src="/api/v1/assessments/{assessment.pk}/charts/disparities.png"' in html
    assert f"/admin/registry/modelversion/{version.pk}/assess/" in html  # the button
    other_html = login(validator).get(f"{VERSIONS}{other.pk}/change/").content.decode()
    assert f"/admin/governance/assessment/{assessment.pk}/change/" not in other_html


# --- Running an assessment ----------------------------------------------------------------------


def assess_form(dataset, **overrides: object) -> dict[str, object]:
    return {
        "kind": "fairness",
        "dataset_version": dataset.pk,
        "sensitive_features": "sex",
        "parameters": '{"n_bootstrap": 10}',
        "apply": "Run the assessment",
        **overrides,
    }


def test_the_action_asks_what_to_run_then_queues_it_through_the_service(validator, records):
    version, dataset = records
    client = login(validator)
    selected = {"action": "run_assessment", "_selected_action": [version.pk]}

    form_page = client.post(VERSIONS, selected)

    assert form_page.status_code == 200
    html = form_page.content.decode()
    assert "Run an assessment" in html and "adult-income:1" in html
    assert 'name="parameters"' in html and "adult-eval:1" in html

    response = client.post(VERSIONS, {**selected, **assess_form(dataset)})

    assert response.status_code == 302
    assessment = Assessment.objects.get()
    assert (assessment.kind, assessment.model_version, assessment.dataset_version) == (
        "fairness",
        version,
        dataset,
    )
    assert assessment.sensitive_features == ["sex"]
    assert assessment.parameters["n_bootstrap"] == 10
    assert assessment.requested_by == validator
    assert AuditEvent.objects.filter(action="assessment.requested").count() == 1
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"#{assessment.pk}" in message and "queued" in message


def test_the_version_button_runs_one_with_the_datasets_declared_features(data_scientist, records):
    version, dataset = records
    client = login(data_scientist)
    url = f"{VERSIONS}{version.pk}/assess/"

    assert client.get(url).status_code == 200
    response = client.post(url, assess_form(dataset, sensitive_features="", parameters=""))

    assert response.status_code == 302
    assert response["Location"] == f"{VERSIONS}{version.pk}/change/"
    assessment = Assessment.objects.get()
    assert assessment.sensitive_features == ["sex", "race"]
    assert assessment.parameters["n_bootstrap"] == 200  # the default


@pytest.mark.parametrize(
    ("who", "overrides", "words"),
    [
        ("other_data_scientist", {}, "only validators"),
        ("validator", {"sensitive_features": "religion"}, "religion"),
        ("validator", {"parameters": '{"bogus": 1}'}, "bogus"),
    ],
)
def test_a_refusal_is_shown_as_a_message_and_writes_nothing(
    who, overrides, words, request, records
):
    version, dataset = records
    client = login(request.getfixturevalue(who))
    before = (Assessment.objects.count(), AuditEvent.objects.count())

    response = client.post(
        VERSIONS,
        {
            "action": "run_assessment",
            "_selected_action": [version.pk],
            **assess_form(dataset, **overrides),
        },
    )

    assert response.status_code == 200  # the form again, with what was typed
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(messages) == 1 and "refused" in messages[0] and words in messages[0]
    assert (Assessment.objects.count(), AuditEvent.objects.count()) == before


def test_a_second_identical_request_is_refused_as_a_duplicate(validator, records):
    version, dataset = records
    client = login(validator)
    url = f"{VERSIONS}{version.pk}/assess/"
    assert client.post(url, assess_form(dataset)).status_code == 302

    response = client.post(url, assess_form(dataset))

    assert response.status_code == 200
    (message,) = [str(m) for m in get_messages(response.wsgi_request)][-1:]
    assert "duplicate_assessment" in message
    assert Assessment.objects.count() == 1


def test_bad_form_input_is_shown_on_the_form(validator, records):
    version, dataset = records
    response = login(validator).post(
        f"{VERSIONS}{version.pk}/assess/", assess_form(dataset, parameters="[1, 2]")
    )
    assert response.status_code == 200
    assert "Enter a JSON object" in response.content.decode()
    assert not Assessment.objects.exists()


@pytest.mark.parametrize("who", ["auditor", "risk_officer"])
def test_those_who_cannot_assess_are_not_offered_the_action_or_the_button(who, request, records):
    version, dataset = records
    client = login(request.getfixturevalue(who))

    changelist = client.get(VERSIONS).content.decode()
    page = client.get(f"{VERSIONS}{version.pk}/change/").content.decode()

    assert "run_assessment" not in changelist
    assert f"{version.pk}/assess/" not in page
    assert client.get(f"{VERSIONS}{version.pk}/assess/").status_code == 403
    response = client.post(
        VERSIONS,
        {"action": "run_assessment", "_selected_action": [version.pk], **assess_form(dataset)},
    )
    assert response.status_code in (200, 302)
    assert not Assessment.objects.exists()
