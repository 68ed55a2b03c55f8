"""REST API: datasets and dataset versions (real UCI Adult data)."""

import gzip
import io
from pathlib import Path

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from core.errors import IntegrityFailure
from registry import storage
from registry.models import Dataset, DatasetVersion
from tests.helpers import stored_files, upload

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


@pytest.fixture(scope="module")
def adult_test_csv() -> bytes:
    return gzip.decompress((DATA / "adult_test.csv.gz").read_bytes())


@pytest.fixture
def adult(api, data_scientist) -> None:
    assert (
        api(data_scientist).post("/api/v1/datasets/", {"name": "adult"}, format="json").status_code
        == 201
    )


def test_a_data_scientist_registers_a_dataset_version_with_inferred_schema(
    api, data_scientist, adult, adult_test_csv, media_root
):
    response = api(data_scientist).post(
        "/api/v1/datasets/adult/versions/",
        {
            "file": upload(adult_test_csv, "../../etc/passwd"),
            "target_column": "income",
            "sensitive_features": ["sex", "race"],
        },
        format="multipart",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1
    assert body["row_count"] == 16281
    assert body["file_format"] == "csv"
    assert [c["name"] for c in body["schema"]][:3] == ["age", "workclass", "fnlwgt"]
    assert {c["name"]: c["dtype"] for c in body["schema"]}["age"] == "integer"
    assert body["sensitive_features"] == ["sex", "race"]
    version = DatasetVersion.objects.get()
    # The client's file name never becomes a path: the key is the digest.
    assert version.file_key == f"datasets/sha256/{version.sha256[:2]}/{version.sha256}"
    assert stored_files(media_root) == [media_root / version.file_key]
    event = AuditEvent.objects.for_object(version).get()
    assert event.action == "registry.dataset_version.registered"
    assert event.data["row_count"] == 16281


def test_parquet_is_accepted_and_sensitive_features_may_come_as_one_form_field(
    api, data_scientist, adult, adult_test_csv
):
    frame = pd.read_csv(io.BytesIO(adult_test_csv))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)

    response = api(data_scientist).post(
        "/api/v1/datasets/adult/versions/",
        {
            "file": upload(buffer.getvalue(), "x.parquet"),
            "target_column": "income",
            "sensitive_features": "sex,race",
        },
        format="multipart",
    )

    assert response.status_code == 201, response.content
    assert response.json()["file_format"] == "parquet"
    assert response.json()["row_count"] == 16281
    assert response.json()["sensitive_features"] == ["sex", "race"]


@pytest.mark.parametrize(
    ("content", "fields", "code", "message"),
    [
        (b"", {}, "empty_file", "empty"),
        (b"a,b\n1,2\n3,4,5\n", {}, "malformed_file", "line 3"),
        (b"a,b\n", {}, "no_rows", "no data rows"),
        (b"a,b\n1,2\n", {"target_column": "income"}, "unknown_column", "income"),
        (b"a,b\n1,2\n", {"sensitive_features": ["a", "sex"]}, "unknown_column", "sex"),
        (b"a,a\n1,2\n", {}, "duplicate_columns", "a"),
        (b"\x00\x01\x02\xff\xfe" * 50, {}, "malformed_file", "neither Parquet nor UTF-8 CSV"),
    ],
)
def test_bad_dataset_files_are_refused_and_leave_nothing_behind(
    api, data_scientist, adult, media_root, content, fields, code, message
):
    events = AuditEvent.objects.count()

    response = api(data_scientist).post(
        "/api/v1/datasets/adult/versions/", {"file": upload(content), **fields}, format="multipart"
    )

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert message in response.json()["detail"]
    assert not DatasetVersion.objects.exists()
    assert stored_files(media_root) == []
    assert AuditEvent.objects.count() == events


def test_a_file_over_the_size_limit_is_refused_with_413(
    api, data_scientist, adult, media_root, settings
):
    settings.MODELGATE_MAX_DATASET_BYTES = 100

    response = api(data_scientist).post(
        "/api/v1/datasets/adult/versions/",
        {"file": upload(b"a,b\n" + b"1,2\n" * 100)},
        format="multipart",
    )

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not DatasetVersion.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.parametrize("who", ["risk_officer", "auditor", "outsider"])
def test_who_may_not_register_datasets(api, who, request, media_root):
    user = request.getfixturevalue(who)
    response = api(user).post("/api/v1/datasets/", {"name": "adult"}, format="json")
    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_validators_register_their_own_evaluation_data(api, validator):
    assert (
        api(validator).post("/api/v1/datasets/", {"name": "holdout"}, format="json").status_code
        == 201
    )


def test_duplicate_dataset_names_conflict(api, data_scientist, adult):
    response = api(data_scientist).post("/api/v1/datasets/", {"name": "adult"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate"


def test_identical_content_is_stored_once_and_versions_number_up(
    api, data_scientist, adult, media_root
):
    client = api(data_scientist)
    for _ in range(2):
        assert (
            client.post(
                "/api/v1/datasets/adult/versions/",
                {"file": upload(b"a,b\n1,2\n")},
                format="multipart",
            ).status_code
            == 201
        )

    versions = list(DatasetVersion.objects.order_by("version"))
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].file_key == versions[1].file_key
    assert len(stored_files(media_root)) == 1
    listing = client.get("/api/v1/datasets/adult/versions/").json()
    assert [v["version"] for v in listing["results"]] == [2, 1]
    detail = client.get("/api/v1/datasets/").json()["results"][0]
    assert (detail["version_count"], detail["latest_version"]) == (2, 2)


def test_a_file_changed_on_disk_is_an_error_when_read(api, data_scientist, adult, media_root):
    api(data_scientist).post(
        "/api/v1/datasets/adult/versions/", {"file": upload(b"a,b\n1,2\n")}, format="multipart"
    )
    version = DatasetVersion.objects.get()
    (media_root / version.file_key).write_bytes(b"a,b\n1,3\n")

    with (
        pytest.raises(IntegrityFailure, match="changed on disk"),
        storage.verified_copy(version.file_key, sha256=version.sha256, size=version.size),
    ):
        pass


def test_dataset_version_list_queries_do_not_grow_with_page_size(
    api, data_scientist, validator, adult
):
    client = api(data_scientist)
    for i in range(12):
        client.post(
            "/api/v1/datasets/adult/versions/",
            {"file": upload(f"a,b\n{i},2\n".encode())},
            format="multipart",
        )
    reader = api(validator)

    def count(page_size: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert (
                reader.get(f"/api/v1/datasets/adult/versions/?page_size={page_size}").status_code
                == 200
            )
        return len(ctx.captured_queries)

    count(2)
    assert count(2) == count(12)
