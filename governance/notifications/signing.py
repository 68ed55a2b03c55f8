"""How a webhook delivery is signed, and how its receiver checks it.

Every POST carries these headers:

- `X-ModelGate-Event`: the event name, e.g. `promotion.completed`;
- `X-ModelGate-Delivery`: the delivery id (the same for every attempt of one delivery: receivers
  use it to ignore a repeat);
- `X-ModelGate-Timestamp`: the attempt's time, whole seconds since the Unix epoch;
- `X-ModelGate-Signature`: `sha256=` followed by the lowercase hex HMAC-SHA256, keyed with the
  endpoint's secret (its UTF-8 bytes), of the signed message

      signed message = timestamp (ASCII digits) + b"." + raw request body (bytes, as received)

The body is UTF-8 JSON. A receiver recomputes the HMAC over the body exactly as received (never
a re-serialisation), compares in constant time, and refuses timestamps too far from its clock so
that a captured request cannot be replayed later: `verify_signature` does all three.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-ModelGate-Signature"
TIMESTAMP_HEADER = "X-ModelGate-Timestamp"
EVENT_HEADER = "X-ModelGate-Event"
DELIVERY_HEADER = "X-ModelGate-Delivery"
PREFIX = "sha256="
# How far a receiver should accept a timestamp from its own clock, by default.
DEFAULT_TOLERANCE_SECONDS = 300


def signed_message(timestamp: str | int, body: bytes) -> bytes:
    return str(timestamp).encode("ascii") + b"." + body


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """The `X-ModelGate-Signature` value for this body at this timestamp."""
    digest = hmac.new(secret.encode("utf-8"), signed_message(timestamp, body), hashlib.sha256)
    return PREFIX + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    *,
    tolerance: int | None = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether `signature` is this secret's signature of `body` at `timestamp`, and (unless
    `tolerance` is None) the timestamp is within `tolerance` seconds of `now`."""
    try:
        stamp = int(str(timestamp))
    except ValueError:
        return False
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - stamp) > tolerance:
            return False
    if not isinstance(signature, str) or not signature.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, str(timestamp), body), signature)


def headers(secret: str, event: str, delivery_id: int, body: bytes, *, timestamp: int) -> dict:
    """Every ModelGate header of one attempt."""
    return {
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
