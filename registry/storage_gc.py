"""Finding and removing stored files that no row references.

Uploads are stored before the transaction that references them and are never deleted on a
rollback (the same content may back another committed row), so a failed registration can leave
an unreferenced object behind. A grace period keeps files that an in-flight upload has just
stored but not yet committed.
"""

from collections.abc import Iterator
from datetime import timedelta

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from audit import trail
from registry.models import DatasetVersion, ModelVersion

KINDS = ("artifacts", "datasets")


def _walk(prefix: str) -> Iterator[str]:
    if not default_storage.exists(prefix):
        return
    directories, files = default_storage.listdir(prefix)
    for name in files:
        yield f"{prefix}/{name}"
    for name in directories:
        yield from _walk(f"{prefix}/{name}")


def orphaned_keys(*, older_than: timedelta) -> list[str]:
    referenced = set(ModelVersion.objects.values_list("artifact_key", flat=True))
    referenced |= set(DatasetVersion.objects.values_list("file_key", flat=True))
    cutoff = timezone.now() - older_than
    return sorted(
        key
        for kind in KINDS
        for key in _walk(f"{kind}/sha256")
        if key not in referenced and default_storage.get_modified_time(key) < cutoff
    )


def purge_orphans(*, older_than: timedelta, by: object = None) -> list[str]:
    """Delete unreferenced stored files older than `older_than`; record what was removed."""
    keys = orphaned_keys(older_than=older_than)
    if not keys:
        return []
    with transaction.atomic():
        # Re-check under the transaction: a registration may have committed a reference since.
        referenced = set(
            ModelVersion.objects.filter(artifact_key__in=keys).values_list(
                "artifact_key", flat=True
            )
        ) | set(DatasetVersion.objects.filter(file_key__in=keys).values_list("file_key", flat=True))
        keys = [key for key in keys if key not in referenced]
        for key in keys:
            default_storage.delete(key)
        trail.record(
            ("registry.storage", "orphans", "unreferenced stored files"),
            "registry.storage.orphans_purged",
            by=by,
            data={"keys": keys, "older_than_seconds": older_than.total_seconds()},
        )
    return keys
