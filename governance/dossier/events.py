"""The audit events a dossier covers, as JSON Lines that anyone can check with sha256.

The audit chain is global: each event's `prev_hash` is the hash of the event before it,
whatever that event is about. A version's events are a sparse subset, so the lines carry the
covered events in full and each stretch in between as one gap line, from the first event to the
`as_of` event, which is always the last line (see docs/design/dossier.md, "Audit chain in the
attachment"):

    {"id":23,"hash":"<hex>","event":<canonical bytes of the hashed fields>}
    {"gap":{"from_id":1,"to_id":13,"count":13},"prev_hash":"<hex>","hash":"<hex>"}

The bytes after `"event":` up to the line's last `}` are exactly what the event's hash is the
sha256 of (audit.trail.canonical_bytes), so a covered event can be recomputed offline; a gap
only says which hashes it links and is confirmed against the database. `verify_lines` is plain
Python (json and hashlib), so the same check can run without ModelGate.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

from audit.models import AuditEvent
from audit.trail import GENESIS_HASH, canonical_bytes, hashed_fields
from core.errors import NotFound
from governance.models import Assessment, Finding, PolicyEvaluation, PromotionRequest, Review
from registry.models import LineageEdge, ModelVersion

CHUNK = 2000
EVENT_PREFIX = b'"event":'


def resolve_as_of(as_of_id: int | None) -> AuditEvent:
    """The event a dossier is "as of": the given one, or the latest (none yet: NotFound)."""
    events = AuditEvent.objects.order_by("-id")
    event = events.filter(pk=as_of_id).first() if as_of_id is not None else events.first()
    if event is None:
        raise NotFound(
            f"no audit event #{as_of_id}" if as_of_id is not None else "the audit trail is empty",
            code="as_of_not_found",
        )
    return event


def _ids(queryset: QuerySet[Any]) -> QuerySet[Any]:
    # target_id is text: compare with the primary keys as text, inside the database.
    return queryset.annotate(as_text=Cast("pk", CharField())).values("as_text")


def covered(version: ModelVersion) -> Q:
    """Events about `version`: the version itself (registration, stage changes), its model
    (the model card), its lineage edges, promotion requests and their reviews, policy
    evaluations, assessments and findings."""
    edges = LineageEdge.objects.filter(
        Q(subject_model_version=version) | Q(object_model_version=version)
    )
    related = {
        "registry.lineageedge": edges,
        "governance.promotionrequest": PromotionRequest.objects.filter(model_version=version),
        "governance.review": Review.objects.filter(request__model_version=version),
        "governance.policyevaluation": PolicyEvaluation.objects.filter(model_version=version),
        "governance.assessment": Assessment.objects.filter(model_version=version),
        "governance.finding": Finding.objects.filter(model_version=version),
    }
    condition = Q(target_type="registry.modelversion", target_id=str(version.pk)) | Q(
        target_type="registry.registeredmodel", target_id=str(version.model_id)
    )
    for target_type, queryset in related.items():
        condition |= Q(target_type=target_type, target_id__in=_ids(queryset))
    return condition


def event_line(event: AuditEvent) -> bytes:
    return b'{"id":%d,"hash":"%s","event":%s}\n' % (
        event.pk,
        event.hash.encode(),
        canonical_bytes(hashed_fields(event)),
    )


def _gap_line(first: int, last: int, count: int, prev_hash: str, last_hash: str) -> bytes:
    line = {
        "gap": {"from_id": first, "to_id": last, "count": count},
        "prev_hash": prev_hash,
        "hash": last_hash,
    }
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def jsonl_lines(version: ModelVersion, as_of: AuditEvent) -> Iterator[bytes]:
    """The lines for `version` up to `as_of`, in id order, read in chunks: memory does not grow
    with the length of the trail."""
    full = (
        AuditEvent.objects.filter(covered(version), pk__lte=as_of.pk)
        .order_by("pk")
        .iterator(chunk_size=CHUNK)
    )
    links = (
        AuditEvent.objects.filter(pk__lte=as_of.pk)
        .order_by("pk")
        .values_list("pk", "prev_hash", "hash")
        .iterator(chunk_size=CHUNK)
    )
    upcoming = next(full, None)
    gap: list[Any] | None = None  # [from_id, to_id, count, prev_hash, hash]
    for pk, prev_hash, hash_ in links:
        if upcoming is not None and pk == upcoming.pk:
            if gap is not None:
                yield _gap_line(*gap)
                gap = None
            yield event_line(upcoming)
            upcoming = next(full, None)
        elif gap is None:
            gap = [pk, pk, 1, prev_hash, hash_]
        else:
            gap[1], gap[2], gap[4] = pk, gap[2] + 1, hash_
    if gap is not None:
        yield _gap_line(*gap)


@dataclass(frozen=True)
class LinesCheck:
    valid: bool
    events: int  # covered events recomputed
    gaps: int
    last_id: int | None
    head_hash: str | None  # the last line's hash
    reason: str = ""
    line: int | None = None  # 1-based line of the first problem


def verify_lines(lines: Iterable[bytes], *, head_hash: str | None = None) -> LinesCheck:
    """Recompute every covered event's hash, check every link from the genesis to the last
    line, and (when given) that the last line's hash is `head_hash`. Pure Python."""
    previous_hash, previous_id = GENESIS_HASH, 0
    events = gaps = 0

    def refuse(reason: str, number: int) -> LinesCheck:
        return LinesCheck(False, events, gaps, previous_id or None, previous_hash, reason, number)

    number = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\n")
        try:
            parsed = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return refuse("not a JSON line", number)
        if not isinstance(parsed, dict):
            return refuse("not a JSON object", number)
        if "gap" in parsed:
            gap = parsed.get("gap") or {}
            first, last = gap.get("from_id"), gap.get("to_id")
            count = gap.get("count")
            if not (
                isinstance(first, int)
                and isinstance(last, int)
                and isinstance(count, int)
                and previous_id < first <= last
                and 1 <= count <= last - first + 1
            ):
                return refuse("a gap line without a valid id range and count", number)
            if parsed.get("prev_hash") != previous_hash:
                return refuse(f"the gap from #{first} does not link to the line before", number)
            previous_hash, previous_id, gaps = parsed.get("hash"), last, gaps + 1
            continue
        pk, hash_, event = parsed.get("id"), parsed.get("hash"), parsed.get("event")
        if not isinstance(pk, int) or not isinstance(event, dict) or not isinstance(hash_, str):
            return refuse("an event line without id, hash and event", number)
        # Ids only increase (a rolled-back insert can skip one); the hashes carry the order.
        if pk <= previous_id:
            return refuse(f"event #{pk} is out of order", number)
        start = line.find(EVENT_PREFIX)
        content = line[start + len(EVENT_PREFIX) : -1] if start >= 0 else b""
        canonical = json.dumps(
            event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
        if content != canonical:
            return refuse(f"event #{pk} is not in canonical form", number)
        if hashlib.sha256(content).hexdigest() != hash_:
            return refuse(f"event #{pk} does not match its hash: it was changed", number)
        if event.get("prev_hash") != previous_hash:
            return refuse(f"event #{pk} does not link to the line before", number)
        previous_hash, previous_id, events = hash_, pk, events + 1
    if number == 0:
        return LinesCheck(False, 0, 0, None, None, "no events", None)
    if head_hash is not None and previous_hash != head_hash:
        return refuse(
            f"the last line's hash {previous_hash} is not the head hash {head_hash}", number
        )
    return LinesCheck(True, events, gaps, previous_id, previous_hash)
