"""Small helpers shared by test modules."""

import io
from pathlib import Path

from django.db import connection
from django.test import Client


def upload(content: bytes, name: str = "upload.bin") -> io.BytesIO:
    """An in-memory file as a client would upload it (the name is the client's, never a path)."""
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def stored_files(media_root: Path) -> list[Path]:
    return [p for p in media_root.rglob("*") if p.is_file()]


def tamper(sql: str, params: list[object]) -> None:
    """Change the audit table behind the application's back, as a DBA would: on PostgreSQL with
    the append-only trigger disabled for the statement."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only"
            )
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only"
            )


def admin_login(user: object) -> Client:
    """A client signed in to the admin: it also needs is_staff; the ModelGate role decides the
    rest."""
    user.is_staff = True  # type: ignore[attr-defined]
    user.save(update_fields=["is_staff"])  # type: ignore[attr-defined]
    client = Client()
    client.force_login(user)
    return client
