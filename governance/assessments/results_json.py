"""Canonical JSON for assessment results: the same result always gives the same bytes.

"Run it twice, get byte-identical results" is an acceptance criterion, and the SHA-256 of these
bytes is what provenance and dossiers cite, so the encoding is fixed here once:

- object keys sorted (by code point), no whitespace (separators "," and ":"), UTF-8, non-ASCII
  kept as is (group keys of intersections stay readable);
- floats in Python's shortest round-trip repr: exact, never rounded, so 0.1 + 0.2 is written
  0.30000000000000004 and reads back as the same double;
- -0.0 is written 0.0, and floats of magnitude 1e16 or more (all integral) as integers: that is
  how PostgreSQL's jsonb gives them back, and the bytes must survive that round trip;
- NaN, +inf and -inf, which JSON lacks, are written as the strings "NaN", "Infinity" and
  "-Infinity" (lossless and visible; the reports themselves use null plus a "null_reasons"
  entry, so these only appear if a caller puts them there);
- numpy scalars and arrays become Python numbers and lists, tuples become lists;
- anything else (sets, objects, non-string keys) is refused: a set has no canonical order, and
  keys 1 and "1" would collide silently.
"""

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def normalize(value: Any) -> Any:
    """A plain JSON-ready copy of `value` (what a JSONField should store); see the module doc."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.generic):
        return normalize(value.item())
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value in _NON_FINITE:
            return _NON_FINITE[value]
        if value == 0.0:
            return 0.0  # -0.0 would come back from PostgreSQL's jsonb as 0
        if abs(value) >= 1e16:
            # Always integral here; jsonb would hand it back as an integer, so store it as one.
            return int(value)
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"result keys must be strings, got {key!r}")
            out[key] = normalize(item)
        return out
    if isinstance(value, list | tuple | np.ndarray):
        return [normalize(item) for item in value]
    raise TypeError(f"cannot encode {type(value).__name__} in results: {value!r}")


def dumps(value: Any) -> str:
    """The canonical JSON text of `value`."""
    return json.dumps(
        normalize(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def to_bytes(value: Any) -> bytes:
    """The canonical UTF-8 bytes of `value`: what is stored and hashed."""
    return dumps(value).encode("utf-8")


def sha256(value: Any) -> str:
    """Hex SHA-256 of the canonical bytes, for provenance records."""
    return hashlib.sha256(to_bytes(value)).hexdigest()


def loads(text: str | bytes) -> Any:
    """Parse canonical JSON. "NaN"-style strings stay strings: they cannot be told apart from a
    group genuinely named "NaN", so turning them back into floats is the caller's decision."""
    return json.loads(text)
