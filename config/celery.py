"""The Celery application: `celery -A config worker` runs assessment jobs (see the README).

Configured from Django settings (CELERY_*); tasks live in governance.tasks.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("modelgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["governance"])
