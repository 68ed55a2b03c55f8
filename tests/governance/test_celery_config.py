"""The web process and commands publish jobs with the project's Celery app and settings, not
Celery's default app (which would send them to a queue no worker reads)."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
django.setup()
from governance import tasks
app = tasks.run_assessment.app
print(json.dumps({
    "main": app.main,
    "queue": app.conf.task_default_queue,
    "broker": app.conf.broker_url,
    "acks_late": tasks.run_assessment.acks_late,
    "reject_on_worker_lost": tasks.run_assessment.reject_on_worker_lost,
    "serializer": app.conf.task_serializer,
}))
"""


def test_tasks_bind_to_the_projects_app_and_its_settings_in_a_plain_django_process():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "probe",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9",
        "CELERY_TASK_DEFAULT_QUEUE": "probe-queue",
    }
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", PROBE],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {
        "main": "modelgate",
        "queue": "probe-queue",
        "broker": "redis://127.0.0.1:6379/9",
        "acks_late": True,
        "reject_on_worker_lost": True,
        "serializer": "json",
    }
