#!/usr/bin/env python3
"""Check a ModelGate dossier offline with only Python and pypdf.

1. the audit events attached (audit-events.jsonl) recompute to their hashes and link up, event
   after event (omitted stretches are "gap" lines), to the head hash printed on the cover;
2. when signed: the signed byte ranges hash to the messageDigest inside the signature, the
   signature covers the whole file, and the unsigned revision's SHA-256 is reported (it equals
   the regenerated unsigned dossier's). Whether the signature is genuine and trusted needs
   cryptography: `pdfsig -nssdir ...` or pyHanko (`manage.py verify_dossier`).
Exit 0 when everything checks, 1 with the reason otherwise.
"""
import hashlib, json, re, sys
from pypdf import PdfReader

GENESIS = "0" * 64
OID_MESSAGE_DIGEST = bytes.fromhex("06092a864886f70d010904")
OID_SHA256 = bytes.fromhex("0609608648016503040201")


def fail(reason: str) -> None:
    print(f"FAIL: {reason}"); sys.exit(1)


def canonical(fields) -> bytes:  # audit.trail.canonical_bytes on already-plain JSON values
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def check_chain(jsonl: bytes) -> tuple[str, int, int, int, int]:
    prev, n, omitted, first, last = None, 0, 0, None, None
    for number, raw in enumerate(jsonl.splitlines(), 1):
        line = json.loads(raw)
        if "gap" in line:
            if prev is not None and line["prev_hash"] != prev:
                fail(f"line {number}: gap does not link to the line before")
            prev = line["hash"]; omitted += line["gap"]["count"]; continue
        event, h = line["event"], line["hash"]
        # the bytes after '"event":' up to the closing brace are the canonical content itself
        exact = raw[raw.index(b'"event":') + 8:-1]
        if exact != canonical(event):
            fail(f"line {number} (event #{line['id']}): event text is not in canonical form")
        if hashlib.sha256(exact).hexdigest() != h:
            fail(f"line {number} (event #{line['id']}): content does not match its hash")
        if prev is not None and event["prev_hash"] != prev:
            fail(f"line {number} (event #{line['id']}): previous-hash link broken")
        prev, n = h, n + 1
        first = line["id"] if first is None else first; last = line["id"]
    if prev is None:
        fail("the audit attachment is empty")
    return prev, n, omitted, first, last


def der_len(b: bytes, i: int) -> tuple[int, int]:
    n = b[i]
    if n < 0x80: return n, i + 1
    k = n & 0x7F; return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k


def check_signature(data: bytes, reader: PdfReader):
    sigs = [f for f in (reader.get_fields() or {}).values() if f.get("/FT") == "/Sig" and f.get("/V")]
    if not sigs:
        return None
    v = sigs[0]["/V"].get_object()
    br = [int(x) for x in v["/ByteRange"]]
    if br[0] != 0 or br[2] + br[3] != len(data):
        fail(f"signature does not cover the whole file (ByteRange {br}, file {len(data)} bytes)")
    cms = bytes(v["/Contents"]) if not isinstance(v["/Contents"], str) else v["/Contents"].encode("latin-1")
    if OID_SHA256 not in cms:
        fail("signature digest algorithm is not SHA-256")
    i = cms.find(OID_MESSAGE_DIGEST)
    if i < 0: fail("signature has no messageDigest attribute")
    i += len(OID_MESSAGE_DIGEST)
    assert cms[i] == 0x31; _, i = der_len(cms, i + 1)      # SET
    assert cms[i] == 0x04; n, i = der_len(cms, i + 1)      # OCTET STRING
    claimed = cms[i:i + n]
    actual = hashlib.sha256(data[br[0]:br[0] + br[1]] + data[br[2]:br[2] + br[3]]).digest()
    if claimed != actual:
        fail("signed content digest mismatch: the file was changed after signing")
    # the unsigned revision ends at the last %%EOF before the signature's incremental update
    head = data[:br[1]]
    end = head.rfind(b"%%EOF")
    end += 5 + (2 if head[end + 5:end + 7] == b"\r\n" else 1 if head[end + 5:end + 6] in b"\r\n" else 0)
    return hashlib.sha256(data[:end]).hexdigest(), end


def main(path: str) -> None:
    data = open(path, "rb").read()
    try:
        reader = PdfReader(path, strict=True)
        attachments = reader.attachments
        cover = reader.pages[0].extract_text()
    except Exception as e:  # noqa: BLE001 - any read error is a verdict
        fail(f"not a readable PDF: {type(e).__name__}: {e}")
    if "audit-events.jsonl" not in attachments:
        fail("no audit-events.jsonl attachment: not a ModelGate dossier")
    head, n, omitted, first, last = check_chain(attachments["audit-events.jsonl"][0])
    m = re.search(r"Chain head hash:\s*([0-9a-f]{64})", cover)
    if not m: fail("the cover does not print a chain head hash")
    if m.group(1) != head:
        fail(f"the events end at {head}, the cover says {m.group(1)}")
    print(f"audit chain: {n} events (#{first}..#{last}) recompute and link, {omitted} unrelated events"
          f" omitted as gaps; head {head} matches the cover")
    sig = check_signature(data, reader)
    if sig is None:
        print("signature: none (unsigned dossier); sha256 of the file:", hashlib.sha256(data).hexdigest())
    else:
        print(f"signature: signed content digest matches, whole file covered; unsigned revision "
              f"({sig[1]} bytes) sha256 {sig[0]}")
        print("  (genuineness and trust: pdfsig -nssdir sql:DIR FILE, or manage.py verify_dossier)")
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1])
