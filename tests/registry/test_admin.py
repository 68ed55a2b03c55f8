"""The registry admin: same rules as the API, every write through a service, nothing deleted."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import skops.io
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from sklearn.linear_model import LogisticRegression

from audit.models import AuditEvent
from core.models import Team
from registry.models import (
    Dataset,
    DatasetVersion,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
)
from tests.factories import (
    DatasetVersionFactory,
    ModelVersionFactory,
    RegisteredModelFactory,
    TeamFactory,
)
from tests.helpers import admin_login as login
from tests.helpers import stored_files

pytestmark = pytest.mark.django_db

ADMIN = "/admin/registry"
CHANGELISTS = [
    f"{ADMIN}/registeredmodel/",
    f"{ADMIN}/modelversion/",
    f"{ADMIN}/dataset/",
    f"{ADMIN}/datasetversion/",
    f"{ADMIN}/lineageedge/",
    "/admin/core/team/",
]
ROLES = ["data_scientist", "validator", "risk_officer", "auditor", "admin_user"]

NEW_MODEL = {
    "name": "credit-scoring",
    "owner_team": "",  # the team's pk, filled in by each test
    "title": "Credit scoring",
    "risk_tier": "high",
    "description": "",
    "intended_use": "Retail credit decisions",
    "limitations": "Not for business loans",
    "tags": "retail, credit",
}
CARD = {
    "title": "Credit scoring v2",
    "description": "",
    "risk_tier": "limited",
    "intended_use": "Retail credit decisions",
    "limitations": "new",
    "tags": "credit",
}


@pytest.fixture
def one_of_everything(team: Team) -> LineageEdge:
    """A model with a version trained on a dataset version: a row in every registry list."""
    version = ModelVersionFactory(model=RegisteredModelFactory(name="m1", owner_team=team))
    data = DatasetVersionFactory()
    return LineageEdge.objects.create(
        kind="trained_on",
        subject_model_version=version,
        object_dataset_version=data,
        created_by=version.created_by,
    )


@pytest.fixture
def skops_artifact(tmp_path: Path) -> bytes:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [2.0, 1.0], [0.0, 2.0]])
    y = np.array([0, 1, 1, 0, 1, 0])
    path = tmp_path / "model.skops"
    skops.io.dump(LogisticRegression().fit(x, y), path)
    return path.read_bytes()


def version_form(model: RegisteredModel, artifact: bytes, **overrides: object) -> dict[str, object]:
    return {
        "model": model.pk,
        "artifact": SimpleUploadedFile("model.skops", artifact),
        "artifact_format": "skops",
        "framework": "",
        "feature_names": "",
        "metrics": "",
        "parameters": "",
        "training_dataset": "",
        "evaluation_dataset": "",
        "parent": "",
        "code_repository": "",
        "code_commit": "",
        "description": "",
        **overrides,
    }


# --- Reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ROLES)
def test_every_role_opens_every_list_and_detail_page(who, request, one_of_everything):
    client = login(request.getfixturevalue(who))
    edge = one_of_everything
    details = [
        f"{ADMIN}/registeredmodel/{edge.subject_model_version.model.pk}/change/",
        f"{ADMIN}/modelversion/{edge.subject_model_version.pk}/change/",
        f"{ADMIN}/dataset/{edge.object_dataset_version.dataset.pk}/change/",
        f"{ADMIN}/datasetversion/{edge.object_dataset_version.pk}/change/",
        f"{ADMIN}/lineageedge/{edge.pk}/change/",
        f"/admin/core/team/{edge.subject_model_version.model.owner_team.pk}/change/",
    ]
    for url in ["/admin/", *CHANGELISTS, *details]:
        assert client.get(url).status_code == 200, url


def test_a_staff_user_without_a_role_is_refused_and_anonymous_users_are_sent_to_log_in(
    outsider, one_of_everything
):
    client = login(outsider)
    for url in CHANGELISTS:
        assert client.get(url).status_code == 403, url
    index = client.get("/admin/")
    assert "registeredmodel" not in index.content.decode()

    for url in CHANGELISTS:
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        (
            "data_scientist",
            {"registeredmodel", "modelversion", "dataset", "datasetversion", "lineageedge"},
        ),
        ("validator", {"dataset", "datasetversion", "lineageedge"}),
        ("risk_officer", set()),
        ("auditor", set()),
        (
            "admin_user",
            {"registeredmodel", "modelversion", "dataset", "datasetversion", "lineageedge"},
        ),
    ],
)
def test_add_pages_open_only_for_who_the_services_would_accept(who, allowed, request, team):
    client = login(request.getfixturevalue(who))
    for name in ("registeredmodel", "modelversion", "dataset", "datasetversion", "lineageedge"):
        expected = 200 if name in allowed else 403
        assert client.get(f"{ADMIN}/{name}/add/").status_code == expected, name


def test_the_model_list_shows_production_version_and_version_count(data_scientist, team):
    model = RegisteredModelFactory(name="m1", owner_team=team)
    ModelVersionFactory(model=model, version=1, stage="archived")
    ModelVersionFactory(model=model, version=2, stage="production")
    ModelVersionFactory(model=model, version=3)

    response = login(data_scientist).get(f"{ADMIN}/registeredmodel/")

    (row,) = response.context["cl"].result_list
    assert (row.version_count, row.production_version) == (3, 2)


def _populate(n: int, team: Team) -> None:
    """n rows in every list (models, versions, datasets, versions, edges, teams)."""
    for _ in range(n):
        version = ModelVersionFactory(model=RegisteredModelFactory(owner_team=team))
        data = DatasetVersionFactory()
        LineageEdge.objects.create(
            kind="trained_on",
            subject_model_version=version,
            object_dataset_version=data,
            created_by=version.created_by,
        )
        TeamFactory().members.add(version.created_by)


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_list_pages_cost_the_same_number_of_queries_for_3_or_30_rows(changelist, admin_user, team):
    client = login(admin_user)

    def queries(rows: int) -> int:
        _populate(rows - RegisteredModel.objects.count(), team)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(changelist).status_code == 200
        return len(captured)

    assert queries(3) == queries(30)


# --- Models -------------------------------------------------------------------------------------


def test_a_data_scientist_registers_a_model_through_the_admin(data_scientist, team):
    response = login(data_scientist).post(
        f"{ADMIN}/registeredmodel/add/", {**NEW_MODEL, "owner_team": team.pk}
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    model = RegisteredModel.objects.get(name="credit-scoring")
    assert (model.owner_team, model.risk_tier, model.created_by) == (team, "high", data_scientist)
    assert model.tags == ["credit", "retail"]
    event = AuditEvent.objects.for_object(model).get()
    assert (event.action, event.actor_username) == ("registry.model.registered", "dana")
    assert event.request_id == response["X-Request-ID"]


def test_a_duplicate_name_is_shown_as_a_form_error_and_writes_nothing(data_scientist, team):
    RegisteredModelFactory(name="credit-scoring", owner_team=team)

    response = login(data_scientist).post(
        f"{ADMIN}/registeredmodel/add/", {**NEW_MODEL, "owner_team": team.pk}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "a model named 'credit-scoring' already exists"
    ]
    assert RegisteredModel.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_a_data_scientist_cannot_register_a_model_for_another_team(data_scientist):
    elsewhere = TeamFactory(name="fraud")

    response = login(data_scientist).post(
        f"{ADMIN}/registeredmodel/add/", {**NEW_MODEL, "owner_team": elsewhere.pk}
    )

    assert response.status_code == 200
    assert "owner_team" in response.context["adminform"].form.errors
    assert not RegisteredModel.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_team_member_edits_the_card_but_not_the_name_or_owner(data_scientist, team):
    model = RegisteredModelFactory(
        name="m1", owner_team=team, limitations="old", intended_use=CARD["intended_use"]
    )
    elsewhere = TeamFactory(name="fraud")

    response = login(data_scientist).post(
        f"{ADMIN}/registeredmodel/{model.pk}/change/",
        {**CARD, "name": "renamed", "owner_team": elsewhere.pk},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    model.refresh_from_db()
    assert (model.name, model.owner_team) == ("m1", team)
    assert (model.limitations, model.risk_tier, model.tags) == ("new", "limited", ["credit"])
    event = AuditEvent.objects.for_object(model).get()
    assert event.action == "registry.model.updated"
    assert event.data["before"]["limitations"] == "old"
    assert event.data["after"]["limitations"] == "new"
    assert set(event.data["after"]) == {"title", "risk_tier", "limitations", "tags"}


@pytest.mark.parametrize("who", ["other_data_scientist", "validator", "risk_officer", "auditor"])
def test_others_see_a_model_read_only_and_cannot_save_it(who, request, team):
    model = RegisteredModelFactory(name="m1", owner_team=team, limitations="old")
    client = login(request.getfixturevalue(who))
    url = f"{ADMIN}/registeredmodel/{model.pk}/change/"

    page = client.get(url)
    response = client.post(url, CARD)

    assert page.status_code == 200
    assert page.context["title"] == "View registered model"
    assert response.status_code == 403
    model.refresh_from_db()
    assert (model.limitations, model.risk_tier) == ("old", "minimal")
    assert not AuditEvent.objects.exists()


def test_versions_are_shown_read_only_under_their_model(data_scientist, team):
    model = RegisteredModelFactory(name="m1", owner_team=team)
    ModelVersionFactory(model=model, version=1, artifact_sha256="ab" * 32)

    response = login(data_scientist).get(f"{ADMIN}/registeredmodel/{model.pk}/change/")

    (inline,) = response.context["inline_admin_formsets"]
    assert inline.formset.model is ModelVersion
    assert not (inline.has_add_permission or inline.has_change_permission)
    assert not inline.has_delete_permission
    assert "abababababab" in response.content.decode()


# --- Versions -----------------------------------------------------------------------------------


def test_a_data_scientist_registers_a_version_by_uploading_an_artifact(
    data_scientist, team, skops_artifact, media_root
):
    model = RegisteredModelFactory(name="m1", owner_team=team)
    training = DatasetVersionFactory()
    form = version_form(
        model, skops_artifact, metrics='{"auc": 0.81}', training_dataset=training.pk
    )

    response = login(data_scientist).post(f"{ADMIN}/modelversion/add/", form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    version = ModelVersion.objects.get(model=model)
    assert version.version == 1
    assert version.artifact_sha256 == hashlib.sha256(skops_artifact).hexdigest()
    assert (version.metrics, version.created_by) == ({"auc": 0.81}, data_scientist)
    assert (media_root / version.artifact_key).read_bytes() == skops_artifact
    assert version.upstream_edges.get().object_dataset_version == training
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert actions == {"registry.version.registered", "registry.lineage.edge_added"}


def test_a_corrupt_artifact_is_a_form_error_and_leaves_nothing_behind(
    data_scientist, team, media_root
):
    model = RegisteredModelFactory(name="m1", owner_team=team)
    garbage = np.random.default_rng(7).bytes(4096)

    response = login(data_scientist).post(
        f"{ADMIN}/modelversion/add/", version_form(model, garbage)
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()
    assert "errornote" in response.content.decode()
    assert not ModelVersion.objects.exists()
    assert stored_files(media_root) == []
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("metrics", "message"),
    [("{not json", "Enter a valid JSON."), ("[1, 2]", "metrics must be a JSON dict")],
)
def test_bad_metadata_is_shown_on_its_field(
    data_scientist, team, skops_artifact, media_root, metrics, message
):
    model = RegisteredModelFactory(name="m1", owner_team=team)

    response = login(data_scientist).post(
        f"{ADMIN}/modelversion/add/", version_form(model, skops_artifact, metrics=metrics)
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["metrics"] == [message]
    assert not ModelVersion.objects.exists()
    assert stored_files(media_root) == []


def test_another_teams_data_scientist_cannot_register_a_version(
    other_data_scientist, team, skops_artifact
):
    model = RegisteredModelFactory(name="m1", owner_team=team)

    response = login(other_data_scientist).post(
        f"{ADMIN}/modelversion/add/", version_form(model, skops_artifact)
    )

    assert response.status_code == 403
    assert not ModelVersion.objects.exists()
    assert not AuditEvent.objects.exists()


def test_nobody_changes_or_deletes_a_version_not_even_an_admin(admin_user, team):
    version = ModelVersionFactory(
        model=RegisteredModelFactory(owner_team=team), framework="sklearn"
    )
    client = login(admin_user)
    url = f"{ADMIN}/modelversion/{version.pk}/"

    page = client.get(f"{url}change/")
    assert page.status_code == 200
    assert page.context["title"] == "View model version"
    assert client.post(f"{url}change/", {"framework": "other"}).status_code == 403
    assert client.get(f"{url}delete/").status_code == 403
    assert client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    listing = client.get(f"{ADMIN}/modelversion/")
    form = listing.context["action_form"]  # only governance's "run an assessment", no delete
    assert form is None or "delete_selected" not in dict(form.fields["action"].choices)
    client.post(
        f"{ADMIN}/modelversion/",
        {"action": "delete_selected", "_selected_action": [version.pk], "post": "yes"},
    )

    version.refresh_from_db()
    assert version.framework == "sklearn"
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("name", ["registeredmodel", "dataset", "datasetversion", "lineageedge"])
def test_no_registry_row_can_be_deleted_through_the_admin(admin_user, one_of_everything, name):
    edge = one_of_everything
    pk = {
        "registeredmodel": edge.subject_model_version.model.pk,
        "dataset": edge.object_dataset_version.dataset.pk,
        "datasetversion": edge.object_dataset_version.pk,
        "lineageedge": edge.pk,
    }[name]
    client = login(admin_user)

    assert client.post(f"{ADMIN}/{name}/{pk}/delete/", {"post": "yes"}).status_code == 403
    assert LineageEdge.objects.filter(pk=edge.pk).exists()


# --- Datasets and lineage -----------------------------------------------------------------------


CSV = b"age,sex,income,label\n30,f,100,1\n40,m,200,0\n50,f,300,1\n"


def dataset_version_form(dataset: Dataset, content: bytes, **overrides: str) -> dict[str, object]:
    return {
        "dataset": dataset.pk,
        "file": SimpleUploadedFile("data.csv", content),
        "target_column": "label",
        "sensitive_features": "sex, age",
        "prediction_column": "",
        "score_column": "",
        "description": "",
        **overrides,
    }


def test_a_validator_registers_a_dataset_and_uploads_a_version(validator, media_root):
    client = login(validator)

    created = client.post(f"{ADMIN}/dataset/add/", {"name": "adult", "description": "census"})
    dataset = Dataset.objects.get(name="adult")
    uploaded = client.post(f"{ADMIN}/datasetversion/add/", dataset_version_form(dataset, CSV))

    assert created.status_code == 302
    assert uploaded.status_code == 302, uploaded.context["adminform"].form.errors
    version = dataset.versions.get()
    assert (version.version, version.row_count, version.file_format) == (1, 3, "csv")
    assert version.sensitive_features == ["sex", "age"]
    assert version.sha256 == hashlib.sha256(CSV).hexdigest()
    assert (media_root / version.file_key).read_bytes() == CSV
    assert list(AuditEvent.objects.order_by("id").values_list("action", "actor_username")) == [
        ("registry.dataset.registered", "vera"),
        ("registry.dataset_version.registered", "vera"),
    ]


def test_an_unknown_declared_column_is_a_form_error_and_leaves_nothing_behind(
    validator, media_root
):
    dataset = Dataset.objects.create(name="adult", created_by=validator)

    response = login(validator).post(
        f"{ADMIN}/datasetversion/add/",
        dataset_version_form(dataset, CSV, target_column="outcome"),
    )

    assert response.status_code == 200
    assert "Unknown column(s) 'outcome'" in response.context["adminform"].form.non_field_errors()[0]
    assert not DatasetVersion.objects.exists()
    assert stored_files(media_root) == []
    assert not AuditEvent.objects.exists()


def test_lineage_edges_are_added_through_add_edge_which_refuses_a_cycle(data_scientist, team):
    model = RegisteredModelFactory(name="m1", owner_team=team)
    v1 = ModelVersionFactory(model=model, version=1)
    v2 = ModelVersionFactory(model=model, version=2)
    client = login(data_scientist)

    def link(subject: ModelVersion, obj: ModelVersion) -> HttpResponse:
        return client.post(
            f"{ADMIN}/lineageedge/add/",
            {
                "subject_model_version": subject.pk,
                "subject_dataset_version": "",
                "kind": "derived_from",
                "object_model_version": obj.pk,
                "object_dataset_version": "",
            },
        )

    added = link(v2, v1)
    cycle = link(v1, v2)

    assert added.status_code == 302
    assert cycle.status_code == 200
    assert "would make a cycle" in cycle.context["adminform"].form.non_field_errors()[0]
    edge = LineageEdge.objects.get()
    assert (edge.subject, edge.kind, edge.object) == (v2, "derived_from", v1)
    assert AuditEvent.objects.get().action == "registry.lineage.edge_added"


def test_an_edge_needs_exactly_one_subject(data_scientist, team):
    version = ModelVersionFactory(model=RegisteredModelFactory(owner_team=team))
    data = DatasetVersionFactory()

    response = login(data_scientist).post(
        f"{ADMIN}/lineageedge/add/",
        {
            "subject_model_version": version.pk,
            "subject_dataset_version": data.pk,
            "kind": "derived_from",
            "object_model_version": "",
            "object_dataset_version": data.pk,
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Choose exactly one subject: a model version or a dataset version."
    ]
    assert not LineageEdge.objects.exists()


def test_the_version_pickers_find_versions_by_name(data_scientist, one_of_everything):
    edge = one_of_everything
    data = edge.object_dataset_version
    client = login(data_scientist)

    def search(model_name: str, field_name: str, term: str) -> list[str]:
        response = client.get(
            "/admin/autocomplete/",
            {
                "app_label": "registry",
                "model_name": model_name,
                "field_name": field_name,
                "term": term,
            },
        )
        assert response.status_code == 200
        return [item["text"] for item in response.json()["results"]]

    assert search("lineageedge", "object_dataset_version", data.dataset.name) == [str(data)]
    assert search("modelversion", "parent", "m1") == [str(edge.subject_model_version)]
