import sys
from pypdf import PdfReader
r = PdfReader(sys.argv[1] if len(sys.argv) > 1 else "exp1.pdf")
t1 = r.pages[0].extract_text()
print(repr(t1))
print(repr(r.pages[4].extract_text()[:300]))
t = r.pages[13].extract_text()
print(repr(t[:400]))
import hashlib
h = hashlib.sha256(b"260").hexdigest()
print("hash present in page text:", any(h in p.extract_text() for p in r.pages))
print("0.1762 present:", "0.1762" in r.pages[4].extract_text())
