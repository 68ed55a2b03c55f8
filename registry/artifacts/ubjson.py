"""A strict, bounds-checked UBJSON reader for XGBoost's binary model format.

Every length and count is checked against the bytes that remain before
anything is allocated, so a truncated or forged file raises UBJSONError
instead of reaching XGBoost's native reader. Typed numeric arrays come back
as numpy arrays (big-endian, as UBJSON specifies) without copying per item.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class UBJSONError(ValueError):
    """The bytes are not one well-formed UBJSON document."""


_SCALARS: dict[bytes, tuple[str, int]] = {
    b"i": (">i1", 1),
    b"U": (">u1", 1),
    b"I": (">i2", 2),
    b"l": (">i4", 4),
    b"L": (">i8", 8),
    b"d": (">f4", 4),
    b"D": (">f8", 8),
}
_MAX_DEPTH = 64


class _UBJReader:
    """A strict UBJSON reader: every length is checked against the bytes that remain."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.raw):
            raise UBJSONError("UBJSON data ends early (truncated?)")
        chunk = self.raw[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def marker(self) -> bytes:
        return self.take(1)

    def scalar(self, marker: bytes) -> Any:
        dtype, size = _SCALARS[marker]
        return np.frombuffer(self.take(size), dtype=dtype)[0].item()

    def length(self, marker: bytes | None = None) -> int:
        marker = marker or self.marker()
        if marker not in _SCALARS or marker in {b"d", b"D"}:
            raise UBJSONError(f"UBJSON length has marker {marker!r}")
        value = int(self.scalar(marker))
        if value < 0:
            raise UBJSONError("UBJSON length is negative")
        return value

    def string(self) -> str:
        try:
            return self.take(self.length()).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UBJSONError("UBJSON string is not UTF-8") from exc

    def value(self, depth: int = 0, marker: bytes | None = None) -> Any:
        if depth > _MAX_DEPTH:
            raise UBJSONError("UBJSON is nested too deeply")
        marker = marker or self.marker()
        if marker in _SCALARS:
            return self.scalar(marker)
        if marker == b"Z":
            return None
        if marker in {b"T", b"F"}:
            return marker == b"T"
        if marker == b"S":
            return self.string()
        if marker == b"C":
            return self.take(1).decode("latin-1")
        if marker == b"[":
            return self.array(depth)
        if marker == b"{":
            return self.object(depth)
        raise UBJSONError(f"UBJSON has unknown marker {marker!r} at byte {self.pos - 1}")

    def container_header(self) -> tuple[bytes | None, int | None]:
        kind: bytes | None = None
        count: int | None = None
        if self.raw[self.pos : self.pos + 1] == b"$":
            self.pos += 1
            kind = self.marker()
            if self.marker() != b"#":
                raise UBJSONError("UBJSON typed container without a count")
        if kind is not None or self.raw[self.pos : self.pos + 1] == b"#":
            if kind is None:
                self.pos += 1
            count = self.length()
            # Every element takes at least one byte: a larger count is a lie.
            if count > len(self.raw) - self.pos:
                raise UBJSONError("UBJSON container count exceeds the data")
        return kind, count

    def array(self, depth: int) -> Any:
        kind, count = self.container_header()
        if kind in _SCALARS and count is not None:
            dtype, size = _SCALARS[kind]
            return np.frombuffer(self.take(count * size), dtype=dtype)
        if count is not None:
            return [self.value(depth + 1, kind) for _ in range(count)]
        items = []
        while (marker := self.marker()) != b"]":
            items.append(self.value(depth + 1, marker))
        return items

    def object(self, depth: int) -> dict[str, Any]:
        kind, count = self.container_header()
        result: dict[str, Any] = {}
        if count is not None:
            for _ in range(count):
                key = self.string()
                result[key] = self.value(depth + 1, kind)
            return result
        while self.raw[self.pos : self.pos + 1] != b"}":
            key = self.string()
            result[key] = self.value(depth + 1)
        self.pos += 1
        return result


def parse_ubjson(raw: bytes) -> Any:
    reader = _UBJReader(raw)
    try:
        document = reader.value()
    except UBJSONError:
        raise
    except (ValueError, IndexError, OverflowError) as exc:
        raise UBJSONError(f"UBJSON is malformed: {exc}") from exc
    if reader.pos != len(raw):
        raise UBJSONError("UBJSON has trailing bytes after the document")
    return document
