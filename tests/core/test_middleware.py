"""Request ids and the early upload size guard."""

import pytest

from audit.models import AuditEvent
from registry.models import Dataset

pytestmark = pytest.mark.django_db


def test_a_well_formed_incoming_request_id_is_kept_when_the_proxy_is_trusted(
    api, data_scientist, settings
):
    settings.MODELGATE_TRUST_REQUEST_ID_HEADER = True
    response = api(data_scientist).post(
        "/api/v1/datasets/", {"name": "adult"}, format="json", HTTP_X_REQUEST_ID="abc-123"
    )
    assert response["X-Request-ID"] == "abc-123"
    assert AuditEvent.objects.get().request_id == "abc-123"


def test_a_client_supplied_request_id_is_ignored_by_default(api, data_scientist):
    response = api(data_scientist).post(
        "/api/v1/datasets/", {"name": "adult"}, format="json", HTTP_X_REQUEST_ID="forged-id"
    )
    assert response["X-Request-ID"] != "forged-id"
    assert AuditEvent.objects.get().request_id == response["X-Request-ID"]


def test_a_hostile_request_id_is_replaced(api, validator, settings):
    settings.MODELGATE_TRUST_REQUEST_ID_HEADER = True
    response = api(validator).get("/api/v1/models/", HTTP_X_REQUEST_ID="x" * 500 + "\n<script>")
    assert len(response["X-Request-ID"]) == 32
    assert "<" not in response["X-Request-ID"]


def test_a_body_larger_than_any_upload_is_refused_before_it_is_read(api, data_scientist, settings):
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 10
    settings.MODELGATE_MAX_DATASET_BYTES = 10

    response = api(data_scientist).post(
        "/api/v1/datasets/",
        {"name": "adult", "description": "x" * (2 * 1024 * 1024)},
        format="json",
    )

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not Dataset.objects.exists()
