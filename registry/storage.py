"""Content-addressed file storage on top of Django's storage API.

Keys are made by the server from the SHA-256 of the content (`<kind>/sha256/ab/abcd...`), so no
client-supplied name or path ever reaches the file system. Reads re-check the digest and size.
"""

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.storage import default_storage

from core.errors import IntegrityFailure, InvalidInput, TooLarge

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class SpooledFile:
    """An upload copied to a private temporary file, with its digest and size."""

    path: Path
    sha256: str
    size: int


@contextmanager
def spooled(upload: IO[bytes], *, limit: int, what: str) -> Iterator[SpooledFile]:
    """Copy `upload` to a temporary file while hashing it; refuse it past `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix="modelgate-upload-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(upload, "seek"):
                upload.seek(0)
            while chunk := upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"{what} is larger than the limit of {limit} bytes", limit=limit)
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidInput(f"{what} is empty", code="empty_file")
        yield SpooledFile(path=path, sha256=digest.hexdigest(), size=size)
    finally:
        path.unlink(missing_ok=True)


def key_for(kind: str, sha256: str) -> str:
    return f"{kind}/sha256/{sha256[:2]}/{sha256}"


def _holds(key: str, source: SpooledFile) -> bool:
    """Whether the stored object at `key` really is `source` (a crash mid-write can leave a
    partial file under the right name)."""
    if default_storage.size(key) != source.size:
        return False
    digest = hashlib.sha256()
    with default_storage.open(key, "rb") as stored:
        while chunk := stored.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == source.sha256


def put(kind: str, source: SpooledFile) -> str:
    """Store `source` under its digest and return the key; identical content is stored once.

    Called before the database transaction that references the file, and never undone: the same
    object may already back another committed row, so deleting it on a rollback could orphan
    that row. Objects no row references are removed later by `manage.py purge_orphan_files`.
    """
    key = key_for(kind, source.sha256)
    if default_storage.exists(key):
        if _holds(key, source):
            return key
        default_storage.delete(key)  # damaged: replace it with the verified upload
    with source.path.open("rb") as handle:
        saved = default_storage.save(key, File(handle, name=key))
    if saved != key:
        # Another writer stored the same content between exists() and save(): keep theirs.
        default_storage.delete(saved)
    return key


@contextmanager
def verified_copy(key: str, *, sha256: str, size: int) -> Iterator[Path]:
    """A private local copy of a stored file, proven to be the recorded content."""
    digest = hashlib.sha256()
    copied = 0
    fd, name = tempfile.mkstemp(prefix="modelgate-read-")
    path = Path(name)
    try:
        try:
            source = default_storage.open(key, "rb")
        except FileNotFoundError as exc:
            raise IntegrityFailure(f"stored file {key} is missing") from exc
        with source, os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                copied += len(chunk)
                digest.update(chunk)
                out.write(chunk)
        if copied != size or digest.hexdigest() != sha256:
            raise IntegrityFailure(
                f"stored file {key} does not match its record "
                f"(expected {size} bytes with SHA-256 {sha256}, found {copied} bytes with "
                f"SHA-256 {digest.hexdigest()}): it was changed on disk and will not be used",
                key=key,
            )
        yield path
    finally:
        path.unlink(missing_ok=True)


def put_bytes(kind: str, content: bytes) -> tuple[str, str, int]:
    """Store generated content (charts, intermediate arrays) by digest: (key, sha256, size)."""
    fd, name = tempfile.mkstemp(prefix="modelgate-generated-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        digest = hashlib.sha256(content).hexdigest()
        key = put(kind, SpooledFile(path=path, sha256=digest, size=len(content)))
        return key, digest, len(content)
    finally:
        path.unlink(missing_ok=True)
