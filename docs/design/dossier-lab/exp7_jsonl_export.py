"""Exp 7 (run with the PROJECT's venv, on a COPY of the demo DB): write audit events as JSONL lines
whose "event" value is exactly canonical_bytes(_hashed_fields(event))."""
import os, sys
sys.path.insert(0, "/work/main")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django; django.setup()
from audit.models import AuditEvent
from audit.trail import canonical_bytes, _hashed_fields, compute_hash

def line(e) -> bytes:
    return b'{"id":%d,"hash":"%s","event":%s}\n' % (e.pk, e.hash.encode(), canonical_bytes(_hashed_fields(e)))

with open("/tmp/dossier-lab/events.jsonl", "wb") as f:
    n = 0
    for e in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        assert compute_hash(e) == e.hash
        f.write(line(e)); n += 1
print("events", n)
