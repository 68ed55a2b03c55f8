"""Transaction-scoped named locks for work that must not interleave."""

import zlib

from django.db import connection


def serialize(name: str) -> None:
    """Hold an exclusive lock named `name` until the current transaction ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: the settings open every transaction
    with BEGIN IMMEDIATE, so the database's single write lock already serialises writers.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("serialize() must be called inside transaction.atomic()")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [zlib.crc32(name.encode())])
