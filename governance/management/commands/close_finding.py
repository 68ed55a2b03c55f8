"""manage.py close_finding: the reviewer who raised a finding (or another of that role) closes
it with a note."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import ActorCommand
from governance.management.commands import _findings
from governance.services import findings


class Command(ActorCommand):
    actor_help = "who raised it, or another reviewer holding the role it was raised in"
    help = (
        "Close finding FINDING_ID with a note. Never by its owner; closed is final. A closed "
        "finding no longer blocks promotion."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        _findings.add_finding_argument(parser)
        parser.add_argument("--note", default="", help="why it is resolved (required)")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        closed = findings.close(
            by=actor, finding=_findings.finding(options["finding"]), note=options["note"]
        )
        self.stdout.write(self.style.SUCCESS(f"closed finding #{closed.pk}"))
        for line in _findings.lines(closed):
            self.stdout.write(line)
