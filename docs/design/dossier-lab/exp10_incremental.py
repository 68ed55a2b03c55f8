"""Exp 10: attach to a big (1178-page) reportlab PDF: pypdf full rewrite vs incremental=True."""
import hashlib, io, sys, time, tracemalloc
sys.argv = [sys.argv[0], "100000", "stream"] + sys.argv[1:]
mode = sys.argv[3]
from pypdf import PdfReader, PdfWriter
import importlib.util
spec = importlib.util.spec_from_file_location("e9", "/tmp/dossier-lab/exp9_attach_stream.py")
src = open("/tmp/dossier-lab/exp9_attach_stream.py").read().split("base = open")[0]
ns = {}; exec(src, ns)
base = open("big100k.pdf", "rb").read()
tracemalloc.start(); t0 = time.perf_counter()
w = PdfWriter(io.BytesIO(base), incremental=True) if mode == "incremental" else PdfWriter(clone_from=PdfReader(io.BytesIO(base)))
ns["attach_precompressed"](w, "audit-events.jsonl", ns["lines"](), "application/jsonl", "audit events")
out = io.BytesIO(); w.write(out); pdf = out.getvalue()
dt = time.perf_counter() - t0; _, peak = tracemalloc.get_traced_memory(); tracemalloc.stop()
print(f"{mode}: time={dt:.1f}s peak={peak/2**20:.1f} MiB in={len(base)/2**20:.1f} MiB out={len(pdf)/2**20:.1f} MiB "
      f"prefix kept={pdf[:len(base)] == base} sha={hashlib.sha256(pdf).hexdigest()[:12]}")
open(f"big-{mode}.pdf", "wb").write(pdf)
r = PdfReader(f"big-{mode}.pdf"); print("pages", len(r.pages), "attachments", list(r.attachments))
