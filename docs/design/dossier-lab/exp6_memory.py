"""Exp 6: peak memory/time of a 1k/10k/100k-row audit appendix: one LongTable vs chunked tables vs
streamed per-page flowables (rows generated on draw)."""
import hashlib, io, sys, time, tracemalloc
sys.path.insert(0, "/tmp/dossier-lab")
from exp1_platypus import DossierDoc, FixedTimeCanvas, H1, BODY
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import LongTable, Table, TableStyle, Paragraph, Flowable
from reportlab.platypus.tableofcontents import TableOfContents

COLS = [14*mm, 36*mm, 20*mm, 30*mm, 74*mm]
STYLE = TableStyle([("FONT", (0, 0), (-1, -1), "DejaVuSans", 6.5),
                    ("FONT", (4, 0), (4, -1), "DejaVuSansMono", 5.5),
                    ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)])

def row(i):
    return [str(i), "2026-01-01T00:00:00.000000Z", "zoë", "promotion.approved",
            hashlib.sha256(str(i).encode()).hexdigest()]

def story_longtable(n):
    return [LongTable([["id", "time", "actor", "action", "hash"]] + [row(i) for i in range(n)],
                      colWidths=COLS, repeatRows=1, style=STYLE)]

def story_chunks(n, k=500):
    out = []
    for s in range(0, n, k):
        out.append(Table([row(i) for i in range(s, min(n, s + k))], colWidths=COLS, style=STYLE))
    return out

ROWS_PER_PAGE = 85
ROW_H = 8.0

class AppendixPage(Flowable):
    """One page of the appendix; pulls its rows from `source(start, stop)` only when drawn."""
    def __init__(self, source, start, stop):
        super().__init__(); self.source, self.start, self.stop = source, start, stop
    def wrap(self, aw, ah):
        return aw, (self.stop - self.start + 1) * ROW_H
    def draw(self):
        c = self.canv; y = (self.stop - self.start) * ROW_H
        c.setFont("DejaVuSans-Bold", 6.5)
        for x, h in zip([0, 14, 50, 70, 100], ["id", "time", "actor", "action", "hash"]):
            c.drawString(x*mm, y, h)
        for r in self.source(self.start, self.stop):
            y -= ROW_H
            c.setFont("DejaVuSans", 6.5)
            for x, v in zip([0, 14, 50, 70], r[:4]): c.drawString(x*mm, y, v)
            c.setFont("DejaVuSansMono", 5.5); c.drawString(100*mm, y, r[4])

def story_streamed(n):
    src = lambda a, b: (row(i) for i in range(a, b))   # stands for a DB cursor over [a, b)
    from reportlab.platypus import PageBreak
    out = []
    for s in range(0, n, ROWS_PER_PAGE):
        out += [AppendixPage(src, s, min(n, s + ROWS_PER_PAGE)), PageBreak()]
    return out

def run(kind, n):
    import os
    if not os.environ.get('NOTRACE'): tracemalloc.start()
    t0 = time.perf_counter()
    buf = io.BytesIO(); doc = DossierDoc(buf, header="m · v1")
    toc = TableOfContents(levelStyles=[BODY])
    body = {"longtable": story_longtable, "chunks": story_chunks, "streamed": story_streamed}[kind](n)
    story = [Paragraph("Cover", H1), toc, Paragraph("Audit trail appendix", H1)] + body
    passes = doc.multiBuild(story, canvasmaker=FixedTimeCanvas)
    dt = time.perf_counter() - t0; cur, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0); tracemalloc.stop()
    import resource; rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024
    data = buf.getvalue()
    import os
    if os.environ.get("SAVE"): open(os.environ["SAVE"], "wb").write(data)
    print(f"{kind:10s} n={n:>6} passes={passes} pages={doc.total_pages:>5} time={dt:6.2f}s "
          f"peak={peak/2**20:7.1f} MiB maxrss={rss:6.0f} MiB pdf={len(data)/2**20:5.1f} MiB sha={hashlib.sha256(data).hexdigest()[:12]}", flush=True)

if __name__ == "__main__":
    kind = sys.argv[1]; n = int(sys.argv[2]); run(kind, n)
