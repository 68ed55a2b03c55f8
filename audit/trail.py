"""Writing and verifying the audit chain.

Every change is recorded by `record()` inside the transaction that makes it. Appends are
serialised (a transaction-level advisory lock on PostgreSQL, the database write lock on SQLite),
so concurrent writers can never fork the chain: each event names the hash of the one before it.
"""

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, models
from django.utils import timezone

from audit.models import AuditEvent
from core import locks, request_context

GENESIS_HASH = "0" * 64


class AuditError(Exception):
    """Recording was attempted outside a transaction or with data that cannot be canonicalised."""


def _plain(value: Any) -> Any:
    """JSON-ready value in the canonical form that survives a round trip through jsonb."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value  # exact on both databases, whatever its size
    if isinstance(value, float | Decimal):
        number = float(value)
        if not math.isfinite(number):
            raise AuditError(f"audit data cannot hold a non-finite number: {value!r}")
        # jsonb keeps numbers as decimals and hands 1e20 back as an int: pick that form.
        return int(number) if number.is_integer() else number
    if isinstance(value, str) and "\x00" in value:
        raise AuditError("audit data cannot hold NUL characters")
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date | UUID):
        return str(value)
    if isinstance(value, models.Model):
        return {"type": value._meta.label_lower, "id": str(value.pk)}
    return str(value)


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    return json.dumps(
        _plain(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """The fields an event's hash covers, in the form canonical_bytes hashes."""
    return {
        "prev_hash": event.prev_hash,
        "created_at": event.created_at,
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "data": event.data,
        "request_id": event.request_id,
    }


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_bytes(hashed_fields(event))).hexdigest()


def record(
    target: models.Model | tuple[str, str, str],
    action: str,
    *,
    by: Any = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event about `target` (a model instance, or (type, id, repr) for a deleted one).

    Must run inside the transaction of the change it records, so that both commit or neither does.
    """
    if not connection.in_atomic_block:
        raise AuditError("audit.record() must be called inside transaction.atomic()")
    if isinstance(target, models.Model):
        target_type, target_id, target_repr = (
            target._meta.label_lower,
            str(target.pk),
            str(target)[:300],
        )
    else:
        target_type, target_id, target_repr = target
    actor_id = getattr(by, "pk", None) if by is not None else None
    actor_username = by.get_username() if actor_id is not None else ""

    locks.serialize("audit.chain")
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    event = AuditEvent(
        created_at=timezone.now(),
        actor_id=actor_id,
        actor_username=actor_username,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        data=_plain(data or {}),
        request_id=request_context.current_request_id(),
        prev_hash=last or GENESIS_HASH,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainVerification:
    valid: bool
    event_count: int
    head_hash: str
    first_event_id: int | None
    last_event_id: int | None
    first_bad_event_id: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_chain(chunk_size: int = 5000) -> ChainVerification:
    """Recompute every hash in order and check every link; report the first break."""
    expected_prev = GENESIS_HASH
    count = 0
    first_id: int | None = None
    last_id: int | None = None
    # One query read through a cursor is one snapshot on both databases, so events appended
    # while we read cannot make a valid chain look broken.
    events = AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size)
    for event in events:
        count += 1
        first_id = event.pk if first_id is None else first_id
        if event.prev_hash != expected_prev:
            return ChainVerification(
                False,
                count,
                expected_prev,
                first_id,
                event.pk,
                event.pk,
                "previous-hash link broken: an event before it was changed, removed or inserted",
            )
        if compute_hash(event) != event.hash:
            return ChainVerification(
                False,
                count,
                expected_prev,
                first_id,
                event.pk,
                event.pk,
                "content does not match its hash: the event was changed",
            )
        expected_prev = event.hash
        last_id = event.pk
    return ChainVerification(True, count, expected_prev, first_id, last_id)
