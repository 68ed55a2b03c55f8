"""Exp 1: platypus doc with TOC, page X of Y, header, DejaVu, PNG chart, determinism."""
import hashlib, io, sys, time
from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.styles import getSampleStyleSheet, ParagraphStyle
from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.lib.fonts import addMapping
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (BaseDocTemplate, PageTemplate, Frame, Paragraph, Spacer,
                                PageBreak, Image, LongTable, TableStyle)
from reportlab.platypus.tableofcontents import TableOfContents
from reportlab.lib.utils import TimeStamp

D = "/usr/share/fonts/truetype/dejavu/"
pdfmetrics.registerFont(TTFont("DejaVuSans", D + "DejaVuSans.ttf"))
pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", D + "DejaVuSans-Bold.ttf"))
pdfmetrics.registerFont(TTFont("DejaVuSans-Oblique", D + "DejaVuSans-Oblique.ttf"))
pdfmetrics.registerFont(TTFont("DejaVuSans-BoldOblique", D + "DejaVuSans-BoldOblique.ttf"))
pdfmetrics.registerFont(TTFont("DejaVuSansMono", D + "DejaVuSansMono.ttf"))
pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold",
                              italic="DejaVuSans-Oblique", boldItalic="DejaVuSans-BoldOblique")

ss = getSampleStyleSheet()
BODY = ParagraphStyle("body", ss["BodyText"], fontName="DejaVuSans", fontSize=9.5, leading=12)
H1 = ParagraphStyle("h1", ss["Heading1"], fontName="DejaVuSans-Bold", fontSize=15, leading=18)
MONO = ParagraphStyle("mono", BODY, fontName="DejaVuSansMono", fontSize=7, leading=8.5)
TOC1 = ParagraphStyle("toc1", BODY, fontSize=10, leftIndent=10, firstLineIndent=-10)

FIXED_EPOCH = 1767225600  # 2026-01-01T00:00:00Z, stands for the as_of event's time


class FixedTimeCanvas(Canvas):
    """invariant canvas whose CreationDate/ModDate = as_of time, independent of SOURCE_DATE_EPOCH."""
    epoch = FIXED_EPOCH
    doc_id = hashlib.sha256(b"credit-scoring:3:as_of=1234").hexdigest()[:32].encode()
    def __init__(self, *a, **kw):
        kw["invariant"] = 1
        super().__init__(*a, **kw)
        # Info CreationDate/ModDate = the as_of event's time (public API)
        stamp = time.strftime("D:%Y%m%d%H%M%S+00'00'", time.gmtime(self.epoch))
        self.setDateFormatter(lambda *ymdhms: stamp)
        # the trailer /ID: ours, from the dossier's identity (private attribute; else it hashes
        # TimeStamp.t, which SOURCE_DATE_EPOCH changes)
        self._doc._ID = b"\n[<%s><%s>]\n" % (self.doc_id, self.doc_id)


class DossierDoc(BaseDocTemplate):
    def __init__(self, filename, header, **kw):
        super().__init__(filename, pagesize=A4, leftMargin=18*mm, rightMargin=18*mm,
                         topMargin=22*mm, bottomMargin=18*mm, invariant=1,
                         title="Dossier", author="ModelGate", subject="audit dossier",
                         creator="ModelGate 0.1.0", producer="ModelGate", initialFontName="DejaVuSans", **kw)
        self.header = header
        self.total_pages = 0      # filled from the previous multiBuild pass
        self._last_pages = None
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=self._decorate)])

    def _decorate(self, canv, doc):
        canv.saveState()
        canv.setFont("DejaVuSans", 8)
        w, h = A4
        canv.drawString(self.leftMargin, h - 12*mm, self.header)
        canv.line(self.leftMargin, h - 13.5*mm, w - self.rightMargin, h - 13.5*mm)
        y = self.total_pages or "?"
        canv.drawRightString(w - self.rightMargin, 10*mm, f"page {doc.page} of {y}")
        canv.restoreState()

    def afterFlowable(self, flowable):
        if isinstance(flowable, Paragraph) and flowable.style.name == "h1":
            text = flowable.getPlainText()
            key = "h-%d" % self.seq.next("heading")
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(text, key, level=0)
            self.notify("TOCEntry", (0, text, self.page, key))

    def afterPage(self):
        self._pages_this_pass = self.page   # last call of a pass = page count

    # Y must be stable too: one more pass whenever the page count changed
    def _allSatisfied(self):
        ok = super()._allSatisfied()
        pages = self._pages_this_pass
        changed = pages != self.total_pages
        self.total_pages = pages
        return ok and not changed


def png_bytes():
    from PIL import Image as PImage, ImageDraw
    im = PImage.new("RGB", (600, 300), "white")
    d = ImageDraw.Draw(im)
    for i, v in enumerate([120, 200, 80, 240]):
        d.rectangle([40 + i*130, 280 - v, 140 + i*130, 280], fill=(0, 114, 178))
    b = io.BytesIO(); im.save(b, format="PNG"); return b.getvalue()


def build(n_rows=300):
    buf = io.BytesIO()
    doc = DossierDoc(buf, header="credit-scoring · v3 · Zoë Ångström")
    toc = TableOfContents(levelStyles=[TOC1], dotsMinLevel=0)
    story = [Paragraph("Audit dossier", H1),
             Paragraph("Owner: Zoë Ångström 张伟 — Øresund, Straße, naïve, 0.1762, fi fl ffi", BODY),
             PageBreak(), Paragraph("Contents", BODY), toc, PageBreak()]
    for s in range(1, 6):
        story.append(Paragraph(f"{s}. Section número {s}", H1))
        story += [Paragraph(f"FPR group A = 0.1762, B = 0.0931, Δ = 0.0831 (line {i})", BODY) for i in range(30)]
        if s == 4:
            png = png_bytes()
            story.append(Image(io.BytesIO(png), width=120*mm, height=60*mm))
        story.append(PageBreak())
    story.append(Paragraph("10. Audit trail appendix", H1))
    rows = [["id", "time", "actor", "action", "hash"]] + [
        [str(i), "2026-01-01T00:00:00Z", "zoë", "promotion.approved", hashlib.sha256(str(i).encode()).hexdigest()]
        for i in range(n_rows)]
    t = LongTable(rows, repeatRows=1, colWidths=[12*mm, 32*mm, 18*mm, 32*mm, 80*mm])
    t.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "DejaVuSans", 6.5),
                           ("FONT", (4, 1), (4, -1), "DejaVuSansMono", 5.8),
                           ("FONT", (0, 0), (-1, 0), "DejaVuSans-Bold", 6.5),
                           ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black)]))
    story.append(t)
    passes = doc.multiBuild(story, canvasmaker=FixedTimeCanvas)
    return buf.getvalue(), passes, doc.total_pages


if __name__ == "__main__":
    a, passes, pages = build()
    b, _, _ = build()
    open("/tmp/dossier-lab/exp1.pdf", "wb").write(a)
    print("passes", passes, "pages", pages, "bytes", len(a))
    print("run1", hashlib.sha256(a).hexdigest())
    print("run2", hashlib.sha256(b).hexdigest())
    print("identical", a == b)
