# The Celery app is created with the project, so that `shared_task`s in every process (web,
# commands, workers) bind to it and its CELERY_* settings, not to Celery's default app.
from config.celery import app as celery_app

__all__ = ("celery_app",)
