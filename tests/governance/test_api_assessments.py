"""REST API of assessments: 202 and a URL to follow, results and charts once the job ran, the
service's refusals as 400/403/409 with nothing written, and lists in a constant number of queries.

Jobs run as the commit would run them (inline mode, `django_capture_on_commit_callbacks`), on the
demo's real scikit-learn pipeline in the sandbox on a few hundred Adult rows: each such test costs
a sandbox start, so only the happy paths run a model; refusals and lists use plain rows.
"""

import hashlib

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import Assessment, AssessmentChart
from tests.factories import DatasetVersionFactory, ModelVersionFactory, RegisteredModelFactory
from tests.governance import assessment_setup as setup

pytestmark = pytest.mark.django_db

ADULT_FEATURES = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week",
    "native_country",
]  # fmt: skip
VERSION_URL = "/api/v1/models/adult-income/versions/1/assessments/"


@pytest.fixture
def adult(data_scientist):
    """adult-income version 1 (the demo pipeline, really loadable) and adult-eval:1 (400 rows)."""
    version = setup.adult_model(data_scientist)
    dataset = setup.adult_dataset(data_scientist, rows=400)
    return version, dataset


@pytest.fixture
def records(team, data_scientist):
    """The same shapes without an artifact: enough for every check the service makes up front."""
    model = RegisteredModelFactory(name="adult-income", owner_team=team)
    version = ModelVersionFactory(model=model, version=1, feature_names=ADULT_FEATURES)
    dataset = setup.adult_dataset(data_scientist, rows=60)
    return version, dataset


def written() -> tuple[int, int]:
    return Assessment.objects.count(), AuditEvent.objects.count()


def test_a_fairness_request_is_accepted_and_its_results_and_charts_follow_the_job(
    api, adult, validator, media_root, django_capture_on_commit_callbacks
):
    client = api(validator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            VERSION_URL,
            {
                "kind": "fairness",
                "dataset": "adult-eval:1",
                "sensitive_features": ["sex"],
                "parameters": {"n_bootstrap": 10, "min_group_size": 10},
            },
            format="json",
        )

    assert response.status_code == 202, response.content
    accepted = response.json()
    assessment = Assessment.objects.get()
    assert accepted["id"] == assessment.pk
    assert accepted["status"] == "queued" and accepted["results"] is None
    assert accepted["url"] == f"http://testserver/api/v1/assessments/{assessment.pk}/"
    assert response["Location"] == accepted["url"]
    assert (accepted["model"], accepted["version"], accepted["dataset"]) == (
        "adult-income",
        1,
        "adult-eval:1",
    )
    assert accepted["requested_by"] == "vera"
    assert accepted["parameters"]["n_bootstrap"] == 10
    assert accepted["parameters"]["confidence"] == 0.95  # defaults are filled in

    body = client.get(accepted["url"]).json()
    assert body["status"] == "succeeded", body["error_message"]
    assert body["progress"] == 100 and body["stage"] == "done"
    assert body["sensitive_features"] == ["sex"]
    assert set(body["results"]["by_feature"]["sex"]) == {"Female", "Male"}
    female = body["results"]["by_feature"]["sex"]["Female"]
    assert female["count"] == int((setup.adult_rows("test", 400)["sex"] == "Female").sum())
    assert 0 <= female["false_positive_rate"] <= 1
    assert body["results_sha256"] == assessment_digest(assessment.pk)
    assert body["provenance"]["dataset_sha256"] == body["dataset_sha256"]
    assert body["artifact_sha256"] == adult[0].artifact_sha256
    assert body["started_at"] and body["finished_at"] and body["timings"]["total"] > 0

    charts = {(c["name"], c["format"]): c for c in body["charts"]}
    assert ("disparities", "png") in charts and ("disparities", "svg") in charts
    for (name, extension), chart in charts.items():
        assert chart["url"] == (
            f"http://testserver/api/v1/assessments/{assessment.pk}/charts/{name}.{extension}"
        )
        download = client.get(chart["url"])
        assert download.status_code == 200
        assert download["Content-Type"] == {"png": "image/png", "svg": "image/svg+xml"}[extension]
        assert "immutable" in download["Cache-Control"]
        assert download["ETag"] == f'"{chart["sha256"]}"'
        assert hashlib.sha256(download.content).hexdigest() == chart["sha256"]
        assert len(download.content) == chart["size"]
    png = client.get(charts["disparities", "png"]["url"])
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = client.get(charts["disparities", "svg"]["url"], HTTP_ACCEPT="image/svg+xml")
    assert b"<svg" in svg.content[:1000]

    again = client.get(charts["disparities", "png"]["url"], HTTP_IF_NONE_MATCH=png["ETag"])
    assert again.status_code == 304 and again.content == b""

    listed = client.get(VERSION_URL).json()
    assert [row["id"] for row in listed["results"]] == [assessment.pk]
    assert "results" not in listed["results"][0]  # lists link to the results, never carry them
    assert listed["results"][0]["charts"] == body["charts"]


def assessment_digest(pk: int) -> str:
    return Assessment.objects.values_list("results_sha256", flat=True).get(pk=pk)


def test_a_performance_request_names_the_model_in_the_body(
    api, adult, data_scientist, django_capture_on_commit_callbacks
):
    client = api(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/assessments/",
            {
                "kind": "performance",
                "model": "adult-income",
                "version": 1,
                "dataset": "adult-eval:1",
            },
            format="json",
        )

    assert response.status_code == 202, response.content
    body = client.get(response["Location"]).json()
    assert body["status"] == "succeeded", body["error_message"]
    assert 0.5 < body["results"]["metrics"]["accuracy"] <= 1
    assert body["sensitive_features"] == ["sex", "race"]  # the dataset's declared ones
    assert {c["name"] for c in body["charts"]} == {"performance"}


@pytest.fixture
def vendor_scores(data_scientist):
    """A predictions-only dataset: a vendor's scores and decisions, no model artifact."""
    frame = setup.adult_rows("test", 300)[["sex", "race", "income"]].copy()
    frame["score"] = np.random.default_rng(1).random(len(frame))
    frame["prediction"] = np.where(frame["score"] >= 0.5, ">50K", "<=50K")
    return setup.dataset_version(
        data_scientist,
        frame,
        name="vendor-scores",
        prediction_column="prediction",
        score_column="score",
    )


def test_a_predictions_only_fairness_assessment_needs_no_model(
    api, vendor_scores, data_scientist, django_capture_on_commit_callbacks
):
    client = api(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/assessments/",
            {
                "kind": "fairness",
                "dataset": "vendor-scores:1",
                "parameters": {"n_bootstrap": 5, "pos_label": ">50K"},
            },
            format="json",
        )

    assert response.status_code == 202, response.content
    accepted = response.json()
    assert accepted["model"] is None and accepted["version"] is None
    assert accepted["artifact_sha256"] == ""
    body = client.get(accepted["url"]).json()
    assert body["status"] == "succeeded", body["error_message"]
    assert set(body["results"]["by_feature"]) == {"sex", "race", "sex×race"}  # noqa: RUF001
    listed = client.get("/api/v1/assessments/?predictions_only=true").json()
    assert [row["id"] for row in listed["results"]] == [accepted["id"]]


def test_a_chart_changed_on_disk_is_refused_and_an_unknown_chart_is_404(
    api, vendor_scores, data_scientist, media_root, django_capture_on_commit_callbacks
):
    client = api(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/assessments/",
            {
                "kind": "fairness",
                "dataset": "vendor-scores:1",
                "parameters": {"n_bootstrap": 0, "pos_label": ">50K"},
            },
            format="json",
        )
    assessment = Assessment.objects.get(pk=response.json()["id"])
    assert assessment.status == "succeeded", assessment.error_message
    chart = assessment.charts.get(name="disparities", format="png")
    base = f"/api/v1/assessments/{assessment.pk}/charts"

    assert client.get(f"{base}/no-such-chart.png").status_code == 404
    assert client.get(f"{base}/disparities.gif").status_code == 404
    assert client.get("/api/v1/assessments/999999/charts/disparities.png").status_code == 404

    stored = media_root / chart.file_key
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x00")
    response = client.get(f"{base}/disparities.png")
    assert response.status_code == 409
    assert response.json()["code"] == "integrity_failure"


def test_an_explainability_request_reports_shap_importance_by_feature(
    api, adult, validator, django_capture_on_commit_callbacks
):
    client = api(validator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            VERSION_URL,
            {
                "kind": "explainability",
                "dataset": "adult-eval:1",
                "parameters": {"max_rows": 60, "background_rows": 20, "n_local": 1},
            },
            format="json",
        )

    assert response.status_code == 202, response.content
    body = client.get(response["Location"]).json()
    assert body["status"] == "succeeded", body["error_message"]
    results = body["results"]
    # Importance by the dataset's own columns, whatever the pipeline's one-hot encoding made of them.
    assert set(results["global_importance"]) == set(adult[0].feature_names)
    assert all(value >= 0 for value in results["global_importance"].values())
    assert results["ranking"][0] == max(
        results["global_importance"], key=results["global_importance"].get
    )
    assert results["n_rows_explained"] == 60 and results["sampled"] is True
    assert body["provenance"]["artifact_sha256"] == adult[0].artifact_sha256
    charts = {(c["name"], c["format"]) for c in body["charts"]}
    assert {("shap-importance", "png"), ("shap-importance", "svg")} <= charts
    for chart in body["charts"]:
        assert client.get(chart["url"]).status_code == 200


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["auditor", "risk_officer", "other_data_scientist"])
def test_only_validators_owners_and_admins_request_assessments(api, records, who, request):
    before = written()

    response = api(request.getfixturevalue(who)).post(
        VERSION_URL, {"kind": "performance", "dataset": "adult-eval:1"}, format="json"
    )

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert written() == before


@pytest.mark.parametrize("who", ["data_scientist", "validator", "admin_user"])
def test_owners_validators_and_admins_may_request(api, records, who, request):
    response = api(request.getfixturevalue(who)).post(
        VERSION_URL, {"kind": "performance", "dataset": "adult-eval:1"}, format="json"
    )

    assert response.status_code == 202, response.content
    assert Assessment.objects.get().status == "queued"  # its job waits for the commit
    assert AuditEvent.objects.filter(action="assessment.requested").count() == 1


def test_every_role_reads_assessments_and_no_one_else(
    api, records, validator, data_scientist, risk_officer, auditor, admin_user, outsider
):
    version, dataset = records
    assessment = queued(version, dataset, by=data_scientist)
    detail = f"/api/v1/assessments/{assessment.pk}/"
    for user in (data_scientist, validator, risk_officer, auditor, admin_user):
        client = api(user)
        assert client.get("/api/v1/assessments/").json()["count"] == 1
        assert client.get(VERSION_URL).json()["count"] == 1
        assert client.get(detail).json()["status"] == "queued"
    for path in ("/api/v1/assessments/", detail, VERSION_URL):
        assert api(outsider).get(path).status_code == 403
        assert api(None).get(path).status_code == 401
    assert api(None).post(VERSION_URL, {}, format="json").status_code == 401
    assert api(validator).get("/api/v1/assessments/999999/").status_code == 404
    assert (
        api(validator).get("/api/v1/models/adult-income/versions/2/assessments/").status_code == 404
    )


# --- refused requests write nothing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"kind": "sentiment"}, "invalid_kind", "sentiment"),
        ({"kind": "fairness", "parameters": {"bogus": 1}}, "invalid_parameters", "bogus"),
        (
            {"kind": "fairness", "parameters": {"n_bootstrap": -1}},
            "invalid_parameters",
            "n_bootstrap",
        ),
        ({"kind": "fairness", "parameters": [1]}, "invalid", "parameters"),
        ({"kind": "fairness", "dataset": "adult-eval:7"}, "invalid", "adult-eval:7"),
        ({"kind": "fairness", "dataset": "adult-eval"}, "invalid", "name:version"),
        (
            {"kind": "fairness", "sensitive_features": ["religion"]},
            "unknown_sensitive_feature",
            "religion",
        ),
        ({"kind": "fairness", "sensitive_features": []}, "no_sensitive_features", "sensitive"),
        ({"kind": "fairness", "trusted": True}, "invalid", "trusted"),
        ({"dataset": "adult-eval:1"}, "invalid", "kind"),
    ],
)
def test_bad_requests_are_400_and_write_nothing(api, records, validator, body, code, words):
    before = written()
    body = {"dataset": "adult-eval:1", **body}

    response = api(validator).post(VERSION_URL, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert words in response.json()["detail"]
    assert written() == before


def test_a_dataset_without_the_models_features_or_target_is_400(
    api, records, data_scientist, validator
):
    frame = setup.adult_rows("test", 60)
    setup.dataset_version(data_scientist, frame.drop(columns=["age"]), name="no-age")
    setup.dataset_version(data_scientist, frame, name="no-target", target_column="")
    client = api(validator)
    before = written()

    no_age = client.post(VERSION_URL, {"kind": "performance", "dataset": "no-age:1"}, format="json")
    no_target = client.post(
        VERSION_URL, {"kind": "fairness", "dataset": "no-target:1"}, format="json"
    )

    assert no_age.status_code == 400 and no_age.json()["code"] == "missing_features"
    assert "'age'" in no_age.json()["detail"]
    assert no_target.status_code == 400 and no_target.json()["code"] == "missing_target"
    assert written() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "explainability", "dataset": "adult-eval:1"}, "model_required"),
        ({"kind": "fairness", "dataset": "adult-eval:1"}, "missing_predictions"),
        ({"kind": "fairness", "dataset": "adult-eval:1", "model": "adult-income"}, "invalid"),
        ({"kind": "fairness", "dataset": "adult-eval:1", "model": "nope", "version": 1}, "invalid"),
    ],
)
def test_requests_without_a_model_version_are_checked(api, records, validator, body, code):
    before = written()

    response = api(validator).post("/api/v1/assessments/", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert written() == before


def test_the_same_request_while_one_is_queued_is_a_conflict_that_writes_nothing(
    api, records, validator
):
    client = api(validator)
    request = {"kind": "fairness", "dataset": "adult-eval:1", "parameters": {"n_bootstrap": 10}}
    assert client.post(VERSION_URL, request, format="json").status_code == 202
    before = written()

    again = client.post(VERSION_URL, request, format="json")
    # The same assessment spelled with the default made explicit is the same request.
    explicit = client.post(
        VERSION_URL,
        {
            **request,
            "sensitive_features": ["sex", "race"],
            "parameters": {"n_bootstrap": 10, "seed": 0},
        },
        format="json",
    )

    for response in (again, explicit):
        assert response.status_code == 409, response.content
        assert response.json()["code"] == "duplicate_assessment"
    assert written() == before
    # Another kind is another request.
    assert (
        client.post(
            VERSION_URL, {**request, "kind": "performance", "parameters": {}}, format="json"
        ).status_code
        == 202
    )


# --- lists --------------------------------------------------------------------------------------


def queued(version, dataset, *, by, kind="fairness", **fields) -> Assessment:
    return Assessment.objects.create(
        kind=kind,
        model_version=version,
        dataset_version=dataset,
        sensitive_features=["sex"],
        request_key=hashlib.sha256(f"{version}{dataset}{kind}{fields}".encode()).hexdigest(),
        dataset_sha256=dataset.sha256,
        artifact_sha256=version.artifact_sha256 if version else "",
        requested_by=by,
        **fields,
    )


def finished(version, dataset, *, by, n: int) -> Assessment:
    assessment = queued(
        version,
        dataset,
        by=by,
        status="succeeded",
        progress=100,
        stage="done",
        results={"kind": "fairness", "n": n},
        results_sha256=f"{n:064x}",
        finished_at=timezone.now(),
    )
    for extension in ("png", "svg"):
        AssessmentChart.objects.create(
            assessment=assessment,
            name="disparities",
            title="Disparities",
            format=extension,
            file_key=f"charts/sha256/00/{n:064x}",
            sha256=f"{n:064x}",
            size=1,
        )
    return assessment


def test_lists_issue_a_constant_number_of_queries(
    api, records, data_scientist, validator, django_assert_max_num_queries
):
    version, dataset = records
    for n in range(30):
        finished(version, dataset, by=data_scientist, n=n)
    client = api(validator)

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        assert response.status_code == 200
        assert all(len(row["charts"]) == 2 for row in response.json()["results"])
        return len(ctx.captured_queries)

    for path in ("/api/v1/assessments/", VERSION_URL):
        count(f"{path}?page_size=2")
        assert count(f"{path}?page_size=2") == count(f"{path}?page_size=30")
    with django_assert_max_num_queries(6):
        client.get("/api/v1/assessments/?page_size=30")


def test_lists_filter_by_kind_status_model_dataset_requester_and_time(
    api, records, data_scientist, validator
):
    version, dataset = records
    other_model = ModelVersionFactory(model=RegisteredModelFactory(name="other"), version=3)
    other_dataset = DatasetVersionFactory()
    fairness = queued(version, dataset, by=data_scientist)
    performance = queued(version, dataset, by=validator, kind="performance")
    done = finished(version, dataset, by=data_scientist, n=1)
    elsewhere = queued(other_model, other_dataset, by=validator)
    client = api(validator)

    def ids(query: str, path: str = "/api/v1/assessments/") -> set[int]:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("kind=performance") == {performance.pk}
    assert ids("status=succeeded") == {done.pk}
    assert ids("status=queued&kind=fairness") == {fairness.pk, elsewhere.pk}
    assert ids("model=other") == {elsewhere.pk}
    assert ids("model=adult-income&version=1") == {fairness.pk, performance.pk, done.pk}
    assert ids("dataset=adult-eval:1") == {fairness.pk, performance.pk, done.pk}
    assert ids("dataset=adult-eval") == {fairness.pk, performance.pk, done.pk}
    assert ids(f"dataset={other_dataset.dataset.name}:{other_dataset.version}") == {elsewhere.pk}
    assert ids("requested_by=vera") == {performance.pk, elsewhere.pk}
    assert ids("created_after=2000-01-01T00:00:00Z") == {
        fairness.pk, performance.pk, done.pk, elsewhere.pk,
    }  # fmt: skip
    assert ids("created_before=2000-01-01T00:00:00Z") == set()
    assert ids("kind=performance", VERSION_URL) == {performance.pk}
    assert ids("status=succeeded", VERSION_URL) == {done.pk}
    assert client.get("/api/v1/assessments/?kind=sentiment").status_code == 400
