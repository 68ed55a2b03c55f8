"""The OpenAPI contract: generated without warnings, served, and naming the public paths."""

from io import StringIO

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db

PUBLIC_PATHS = [
    "/api/v1/models/",
    "/api/v1/models/{name}/",
    "/api/v1/models/{name}/versions/",
    "/api/v1/models/{name}/versions/{version}/",
    "/api/v1/models/{name}/versions/{version}/lineage/",
    "/api/v1/datasets/",
    "/api/v1/datasets/{name}/versions/",
    "/api/v1/audit-events/",
    "/api/v1/audit-events/verify/",
    "/api/v1/models/{name}/versions/{version}/assessments/",
    "/api/v1/assessments/",
    "/api/v1/assessments/{id}/",
    "/api/v1/assessments/{id}/charts/{name}.{extension}",
    "/api/v1/findings/",
    "/api/v1/findings/{id}/",
    "/api/v1/findings/{id}/answer/",
    "/api/v1/findings/{id}/close/",
    "/api/v1/inventory.csv",
]


def test_the_schema_generates_without_warnings_and_contains_the_contract():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert schema["openapi"].startswith("3.")
    for path in PUBLIC_PATHS:
        assert path in schema["paths"], path
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/models/"])
    assert "patch" in schema["paths"]["/api/v1/models/{name}/"]
    assessment = schema["components"]["schemas"]["Assessment"]["properties"]
    assert {"id", "status", "progress", "url", "results", "charts", "provenance"} <= set(assessment)
    assert {"post", "get"} <= set(
        schema["paths"]["/api/v1/models/{name}/versions/{version}/assessments/"]
    )
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/findings/"])
    finding = schema["components"]["schemas"]["Finding"]["properties"]
    assert {"id", "url", "severity", "status", "owner", "answer_refusal", "close_refusal"} <= set(
        finding
    )
    version_fields = schema["components"]["schemas"]["ModelVersion"]["properties"]
    assert {"version", "artifact_sha256", "stage"} <= set(version_fields)


def test_schema_and_docs_are_served_without_any_cdn(client, validator):
    client.force_login(validator)
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/" in html
