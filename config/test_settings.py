"""Settings for the test suite: the real settings, with test-only secrets and fast hashing."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-deployment")
os.environ.setdefault("MODELGATE_JOBS", "inline")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="modelgate-test-media-"))

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # Lets the test runner's TRUNCATE between transactional tests through the audit table's
    # no-truncate trigger (audit migration 0003). Never set outside the test suite.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c modelgate.audit_maintenance=on"  # noqa: F405
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the default in-memory database, so that a real Celery worker started by the
    # tests (tests/governance/test_celery_worker.py) sees the same data.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"modelgate-test-{os.getpid()}.sqlite3")
    }
