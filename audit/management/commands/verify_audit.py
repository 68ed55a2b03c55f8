"""manage.py verify_audit: recompute the audit chain; exit 1 if it is broken."""

import json
from typing import Any

from django.core.management.base import BaseCommand

from audit import trail


class Command(BaseCommand):
    help = "Verify the hash chain of the audit trail. Exits 1 when it is broken."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        result = trail.verify_chain()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
        elif result.valid:
            self.stdout.write(
                self.style.SUCCESS(
                    f"audit chain valid: {result.event_count} events "
                    f"(#{result.first_event_id} to #{result.last_event_id}), "
                    f"head hash {result.head_hash}"
                )
            )
        else:
            self.stdout.write(
                self.style.ERROR(
                    f"audit chain INVALID after {result.event_count - 1} good events; "
                    f"first bad event: {result.first_bad_event_id} ({result.reason}); "
                    f"last good hash {result.head_hash}"
                )
            )
        if not result.valid:
            raise SystemExit(1)
