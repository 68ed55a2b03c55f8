"""Run the assessment reaper once: for cron where there is no celery beat (the thread mode)."""

from typing import Any

from django.core.management.base import BaseCommand

from governance.jobs import state


class Command(BaseCommand):
    help = (
        "Fail running assessments whose worker stopped renewing its lease, and re-send work "
        "that lost messages left waiting. Celery beat runs this every "
        "MODELGATE_REAP_INTERVAL_SECONDS; run it from cron without beat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        failed = state.reap()
        if failed:
            shown = ", ".join(f"#{pk}" for pk in failed)
            self.stdout.write(f"failed {len(failed)} abandoned assessment(s): {shown}")
        else:
            self.stdout.write("no abandoned assessment")
