"""Exp 2: attach JSONL + results JSON to the reportlab PDF with pypdf, deterministically."""
import hashlib, io, json, sys, datetime as dt
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject, TextStringObject, NumberObject, DictionaryObject, ByteStringObject

AS_OF = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def attach(pdf: bytes, files: list[tuple[str, bytes, str, str]]) -> bytes:
    """files: (name, content, mime, description). Returns new PDF bytes."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for name, content, mime, description in files:
        ef = writer.add_attachment(name, content)
        # compress the embedded stream (pypdf stores it uncompressed)
        raw = ef._embedded_file                       # the /EmbeddedFile stream object
        enc = raw.flate_encode(level=9)
        ref = ef.pdf_object["/EF"].get_object().raw_get("/F")  # IndirectObject
        writer._objects[ref.idnum - 1] = enc
        enc.indirect_reference = ref
        ef = type(ef)(name=name, pdf_object=ef.pdf_object)
        ef.subtype = NameObject("/" + mime)  # pypdf escapes "/" -> #2F itself
        ef.size = NumberObject(len(content))
        ef.checksum = ByteStringObject(hashlib.md5(content).digest())
        ef.creation_date = AS_OF
        ef.modification_date = AS_OF
        ef.description = TextStringObject(description)
        ef.associated_file_relationship = NameObject("/Data")
        ef.pdf_object[NameObject("/UF")] = TextStringObject(name)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


if __name__ == "__main__":
    base = open(sys.argv[1] if len(sys.argv) > 1 else "exp1.pdf", "rb").read()
    jsonl = b"".join(json.dumps({"id": i, "hash": hashlib.sha256(str(i).encode()).hexdigest()}).encode() + b"\n" for i in range(1000))
    files = [("audit-events.jsonl", jsonl, "application/jsonl", "audit events, one per line"),
             ("assessment-7-results.json", b'{"fpr": 0.1762}', "application/json", "fairness results")]
    a = attach(base, files); b = attach(base, files)
    open("exp2.pdf", "wb").write(a)
    print("input", len(base), "output", len(a), "jsonl", len(jsonl))
    print("sha a", hashlib.sha256(a).hexdigest()); print("sha b", hashlib.sha256(b).hexdigest()); print("identical", a == b)
    r = PdfReader("exp2.pdf")
    print("attachments:", {k: [len(x) for x in v] for k, v in r.attachments.items()})
    assert r.attachments["audit-events.jsonl"][0] == jsonl
    print("trailer ID", r.trailer.get("/ID"))
    print("info", dict(r.metadata))
    for f in r.attachment_list:
        print(f.name, f.subtype, f.size, f.description, f.creation_date, f.checksum)
