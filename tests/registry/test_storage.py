"""Content-addressed storage: shared objects survive failures, damage is repaired, orphans purged."""

import io
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from core.errors import Conflict
from registry import storage, storage_gc
from registry.models import DatasetVersion
from registry.services import datasets as dataset_service

pytestmark = pytest.mark.django_db


def _spool(content: bytes):
    return storage.spooled(io.BytesIO(content), limit=10_000, what="the file")


def test_a_failed_registration_never_deletes_an_object_another_row_uses(
    data_scientist, media_root, monkeypatch
):
    dataset = dataset_service.register_dataset(by=data_scientist, name="d")
    committed = dataset_service.register_dataset_version(
        dataset, by=data_scientist, file=io.BytesIO(b"a,b\n1,2\n")
    )

    # The next registration of the same bytes fails after storing (a numbering race).
    def racing_create(**kwargs):
        from django.db import IntegrityError

        raise IntegrityError("UNIQUE constraint failed: unique_dataset_version")

    monkeypatch.setattr(DatasetVersion.objects, "create", racing_create)
    with pytest.raises(Conflict):
        dataset_service.register_dataset_version(
            dataset, by=data_scientist, file=io.BytesIO(b"a,b\n1,2\n")
        )

    assert (media_root / committed.file_key).read_bytes() == b"a,b\n1,2\n"


def test_a_damaged_stored_object_is_replaced_by_a_verified_upload(media_root):
    with _spool(b"a,b\n1,2\n") as upload:
        key = storage.put("datasets", upload)
        (media_root / key).write_bytes(b"a,b\n1")  # a crash mid-write left half a file

        assert storage.put("datasets", upload) == key

    assert (media_root / key).read_bytes() == b"a,b\n1,2\n"


def test_purge_removes_only_unreferenced_files_past_the_grace_period(data_scientist, media_root):
    dataset = dataset_service.register_dataset(by=data_scientist, name="d")
    kept = dataset_service.register_dataset_version(
        dataset, by=data_scientist, file=io.BytesIO(b"a\n1\n")
    )
    with _spool(b"a\n2\n") as upload:
        orphan = storage.put("datasets", upload)

    assert (
        storage_gc.orphaned_keys(older_than=timedelta(hours=1)) == []
    )  # still in its grace period
    listing = StringIO()
    call_command("purge_orphan_files", "--older-than-hours", "0", stdout=listing)
    assert orphan in listing.getvalue()
    assert (media_root / orphan).exists()  # listing deletes nothing

    assert storage_gc.purge_orphans(older_than=timedelta(0)) == [orphan]

    assert not (media_root / orphan).exists()
    assert (media_root / kept.file_key).exists()
    event = AuditEvent.objects.get(action="registry.storage.orphans_purged")
    assert event.data["keys"] == [orphan]
