"""Token and session authentication, as a client really uses them."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry.models import RegisteredModel

pytestmark = pytest.mark.django_db


def test_token_authentication(validator):
    token = Token.objects.create(user=validator)
    client = APIClient()

    assert client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    bad = client.get("/api/v1/models/", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert bad.status_code == 401
    assert bad.json() == {"code": "authentication_failed", "detail": "Invalid token."}


def test_session_authentication_enforces_csrf_on_writes(data_scientist, team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(data_scientist)

    assert client.get("/api/v1/models/").status_code == 200
    refused = client.post(
        "/api/v1/models/",
        {"name": "m", "owner_team": team.name},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not RegisteredModel.objects.exists()
