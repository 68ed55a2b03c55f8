"""manage.py save_policy: validate a YAML or JSON policy document and save its next version."""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import ActorCommand
from governance.services import policies

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


class Command(ActorCommand):
    actor_help = "who writes it: a risk officer or an admin (recorded in the audit trail)"
    help = (
        "Validate a policy document (YAML or JSON; errors name the offending field) and save it "
        "as the next version of the policy it names, or as version 1 of a new policy. Open "
        "promotion requests that the change affects go stale."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("file", help="the policy document; '-' reads standard input")
        parser.add_argument(
            "--format",
            choices=("yaml", "json"),
            help="default: from the file's extension, else JSON if it starts with '{'",
        )
        parser.add_argument("--note", default="", help="change note kept with the version")
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "--new", action="store_true", help="refuse if a policy of that name exists"
        )
        which.add_argument(
            "--update",
            metavar="NAME",
            help="the document must be the next version of existing policy NAME",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        source, source_format = self._read(options["file"], options["format"])
        create = True if options["new"] else False if options["update"] else None
        version = policies.save_policy(
            by=actor,
            source=source,
            source_format=source_format,
            name=options["update"],
            change_note=options["note"],
            create=create,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"saved {version}: {len(version.checks)} checks, risk tiers "
                f"{', '.join(version.risk_tiers)}, stages {', '.join(version.target_stages)}, "
                f"{'enabled' if version.enabled else 'disabled'}, sha256 {version.sha256}"
            )
        )

    def _read(self, name: str, source_format: str | None) -> tuple[str, str | None]:
        if name == "-":
            return sys.stdin.read(), source_format
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"file: cannot read {path}: {exc}") from exc
        return text, source_format or FORMATS.get(path.suffix.lower())
