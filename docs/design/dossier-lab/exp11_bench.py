"""Exp 11: 10 real demo chart PNGs (RGBA, ~1770 px wide) + N-row streamed appendix: build time,
determinism, then attach (incremental) + sign timings."""
import glob, hashlib, io, os, subprocess, sys, time
sys.path.insert(0, "/tmp/dossier-lab")
from exp1_platypus import DossierDoc, FixedTimeCanvas, H1, BODY
from exp6_memory import story_streamed
from exp3_sign import sign
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Paragraph, Image, KeepTogether
from reportlab.platypus.tableofcontents import TableOfContents
pngs = [p for p in sorted(glob.glob("var/media/charts/sha256/*/*")) if open(p, "rb").read(4) == b"\x89PNG"][:10]
N = int(sys.argv[1])

def chart(path, width=170*mm):
    iw, ih = ImageReader(path).getSize()
    return Image(path, width=width, height=width * ih / iw)

def build():
    buf = io.BytesIO(); doc = DossierDoc(buf, header="adult-income · v1")
    story = [Paragraph("Cover", H1), TableOfContents(levelStyles=[BODY])]
    for i, p in enumerate(pngs):
        story += [Paragraph(f"Chart {i}", H1), chart(p)]
    story += [Paragraph("Audit trail appendix", H1)] + story_streamed(N)
    doc.multiBuild(story, canvasmaker=FixedTimeCanvas)
    return buf.getvalue(), doc.total_pages

t0 = time.perf_counter(); a, pages = build(); t1 = time.perf_counter(); b, _ = build()
print(f"N={N} charts={len(pngs)} pages={pages} build={t1-t0:.2f}s size={len(a)/2**20:.2f} MiB identical={a == b}")
t2 = time.perf_counter(); s = sign(a); print(f"sign={time.perf_counter()-t2:.2f}s")
open(f"bench-{N}.pdf", "wb").write(a)
