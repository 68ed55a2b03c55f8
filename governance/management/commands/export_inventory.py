"""manage.py export_inventory: the model inventory as CSV, to a file or standard output."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from core.commands import ActorCommand
from governance.dossier import inventory


class Command(ActorCommand):
    help = "Write the model inventory (every registered model) as CSV."
    actor_help = "who reads it (a validator, risk officer, auditor or admin)"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("-o", "--output", help="file to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        inventory.require_reader(self.actor(options))
        chunks = inventory.csv_chunks(inventory.rows(now=timezone.now()))
        if options["output"]:
            path = Path(options["output"])
            with path.open("w", encoding="utf-8", newline="") as out:
                for chunk in chunks:
                    out.write(chunk)
            self.stderr.write(f"inventory written to {path}")
        else:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
