"""manage.py purge_orphan_files: remove stored artifacts and dataset files no row references."""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from registry import storage_gc


class Command(BaseCommand):
    help = "List (or with --delete, remove) stored files that no model or dataset version uses."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-hours", type=float, default=24.0,
            help="only files stored at least this long ago (default 24: leaves in-flight uploads)",
        )  # fmt: skip
        parser.add_argument("--delete", action="store_true", help="delete them (default: list)")

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = timedelta(hours=options["older_than_hours"])
        if options["delete"]:
            keys = storage_gc.purge_orphans(older_than=older_than)
            verb = "deleted"
        else:
            keys = storage_gc.orphaned_keys(older_than=older_than)
            verb = "unreferenced (run with --delete to remove)"
        for key in keys:
            self.stdout.write(key)
        self.stdout.write(f"{len(keys)} file(s) {verb}")
