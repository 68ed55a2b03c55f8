"""Exp 9: 100k-event JSONL compressed incrementally (zlib.compressobj) and attached as a
pre-encoded stream: peak memory and time vs pypdf add_attachment(bytes)."""
import hashlib, io, json, sys, time, tracemalloc, zlib
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (NameObject, NumberObject, DictionaryObject, ArrayObject, StreamObject,
                           TextStringObject, ByteStringObject, EncodedStreamObject)

N = int(sys.argv[1]); MODE = sys.argv[2]

def lines():
    prev = "0" * 64
    for i in range(1, N + 1):
        ev = {"action": "promotion.reviewed", "actor_id": 3, "actor_username": "rita",
              "created_at": f"2026-12-08T02:32:{i % 60:02d}.{i:06d}+00:00",
              "data": {"decision": "approve", "role": "validator", "comment": "ok to ship Zoë"},
              "prev_hash": prev, "request_id": f"req-{i:08d}", "target_id": str(i % 97),
              "target_repr": "adult-income v1 → production", "target_type": "governance.review"}
        c = json.dumps(ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        h = hashlib.sha256(c).hexdigest()
        yield b'{"id":%d,"hash":"%s","event":%s}\n' % (i, h.encode(), c)
        prev = h

def attach_precompressed(writer, name, chunks, mime, description):
    comp = zlib.compressobj(9); md5 = hashlib.md5(); size = 0; parts = []
    for chunk in chunks:
        md5.update(chunk); size += len(chunk); parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    stream = EncodedStreamObject()
    stream._data = b"".join(parts); del parts
    stream.update({NameObject("/Type"): NameObject("/EmbeddedFile"),
                   NameObject("/Subtype"): NameObject("/" + mime),
                   NameObject("/Filter"): NameObject("/FlateDecode"),
                   NameObject("/Params"): DictionaryObject({
                       NameObject("/Size"): NumberObject(size),
                       NameObject("/CheckSum"): ByteStringObject(md5.digest())})})
    spec = DictionaryObject({NameObject("/Type"): NameObject("/Filespec"),
                             NameObject("/F"): TextStringObject(name), NameObject("/UF"): TextStringObject(name),
                             NameObject("/Desc"): TextStringObject(description),
                             NameObject("/AFRelationship"): NameObject("/Data"),
                             NameObject("/EF"): DictionaryObject({NameObject("/F"): writer._add_object(stream)})})
    ref = writer._add_object(spec)
    names = ArrayObject([TextStringObject(name), ref])   # one file per call here; sort names if several
    writer.root_object[NameObject("/Names")] = writer._add_object(DictionaryObject({
        NameObject("/EmbeddedFiles"): writer._add_object(DictionaryObject({NameObject("/Names"): names}))}))
    return len(stream._data), size

base = open("exp1.pdf", "rb").read()
tracemalloc.start(); t0 = time.perf_counter()
w = PdfWriter(clone_from=PdfReader(io.BytesIO(base)))
if MODE == "stream":
    csize, size = attach_precompressed(w, "audit-events.jsonl", lines(), "application/jsonl", "audit events")
else:
    data = b"".join(lines()); size = len(data)
    ef = w.add_attachment("audit-events.jsonl", data); csize = None
out = io.BytesIO(); w.write(out)
dt = time.perf_counter() - t0; _, peak = tracemalloc.get_traced_memory()
pdf = out.getvalue()
r = PdfReader(io.BytesIO(pdf)); back = r.attachments["audit-events.jsonl"][0]
assert back == b"".join(lines())
print(f"{MODE:6s} N={N} jsonl={size/2**20:.1f} MiB compressed={(csize or 0)/2**20:.1f} MiB pdf={len(pdf)/2**20:.1f} MiB "
      f"time={dt:.1f}s peak={peak/2**20:.1f} MiB sha={hashlib.sha256(pdf).hexdigest()[:12]}")
