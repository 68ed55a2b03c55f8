"""Exp 8: a mini dossier: cover with as-of/head hash, JSONL attachment (subset of events + gap
lines), then unsigned + signed variants, plus tampered variants for the verifier."""
import io, json, hashlib, sys
sys.path.insert(0, "/tmp/dossier-lab")
from exp1_platypus import DossierDoc, FixedTimeCanvas, H1, BODY, MONO
from exp2_attach import attach
from exp3_sign import sign
from reportlab.platypus import Paragraph
from reportlab.platypus.tableofcontents import TableOfContents

lines = [json.loads(l) for l in open("events.jsonl", "rb")]
AS_OF = lines[-1]
# "about this version": pretend every event whose target_type starts with governance./registry.modelversion
keep = lambda e: e["event"]["target_type"].startswith(("governance.", "registry.modelversion"))

def jsonl_with_gaps(raw_lines):
    out, gap = [], None
    for raw in raw_lines:
        e = json.loads(raw)
        if keep(e):
            if gap:
                out.append(b'{"gap":{"from_id":%d,"to_id":%d,"count":%d},"prev_hash":"%s","hash":"%s"}\n' % (
                    gap["from"], gap["to"], gap["n"], gap["prev"].encode(), gap["hash"].encode()))
                gap = None
            out.append(raw if raw.endswith(b"\n") else raw + b"\n")
        else:
            if gap is None:
                gap = {"from": e["id"], "n": 0, "prev": e["event"]["prev_hash"]}
            gap.update(to=e["id"], hash=e["hash"]); gap["n"] += 1
    if gap:
        out.append(b'{"gap":{"from_id":%d,"to_id":%d,"count":%d},"prev_hash":"%s","hash":"%s"}\n' % (
            gap["from"], gap["to"], gap["n"], gap["prev"].encode(), gap["hash"].encode()))
    return b"".join(out)

raw = open("events.jsonl", "rb").read().splitlines()
jsonl = jsonl_with_gaps(raw)

buf = io.BytesIO(); doc = DossierDoc(buf, header="adult-income · v1")
story = [Paragraph("Audit dossier: adult-income v1", H1),
         Paragraph(f"As of audit event: #{AS_OF['id']}", BODY),
         Paragraph("Chain head hash:", BODY), Paragraph(AS_OF["hash"], MONO),
         Paragraph("Signature: none (this dossier is unsigned)", BODY)]
doc.multiBuild(story, canvasmaker=FixedTimeCanvas)
unsigned = attach(buf.getvalue(), [("audit-events.jsonl", jsonl, "application/jsonl", "audit events")])
open("dossier-unsigned.pdf", "wb").write(unsigned)
signed = sign(unsigned); open("dossier-signed.pdf", "wb").write(signed)
# attachment edited (unsigned): change one actor name inside the JSONL, re-attach
bad = jsonl.replace(b'"actor_username":"rita"', b'"actor_username":"ritz"', 1)
assert bad != jsonl
buf2 = io.BytesIO(); doc2 = DossierDoc(buf2, header="adult-income · v1"); doc2.multiBuild(
    [Paragraph("Audit dossier: adult-income v1", H1), Paragraph(f"As of audit event: #{AS_OF['id']}", BODY),
     Paragraph("Chain head hash:", BODY), Paragraph(AS_OF["hash"], MONO)], canvasmaker=FixedTimeCanvas)
open("dossier-edited-attachment.pdf", "wb").write(attach(buf2.getvalue(), [("audit-events.jsonl", bad, "application/jsonl", "x")]))
t = bytearray(signed); t[len(unsigned) // 3] ^= 1; open("dossier-signed-tampered.pdf", "wb").write(bytes(t))
open("dossier-truncated.pdf", "wb").write(signed[: len(signed) // 2])
open("not-a-dossier.pdf", "wb").write(open("exp1.pdf", "rb").read())
print("jsonl lines", jsonl.count(b"\n"), "gaps", jsonl.count(b'"gap"'), "unsigned", len(unsigned), "signed", len(signed))
print("sha256 unsigned", hashlib.sha256(unsigned).hexdigest())
