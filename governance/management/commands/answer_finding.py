"""manage.py answer_finding: the owner answers a finding with a remediation note."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import ActorCommand
from governance.management.commands import _findings
from governance.services import findings


class Command(ActorCommand):
    actor_help = "the finding's owner"
    help = (
        "Answer finding FINDING_ID with a remediation note (the owner only, while it is "
        "unresolved; answering again replaces the note). The finding stays unresolved until the "
        "person who raised it, or another reviewer of that role, closes it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        _findings.add_finding_argument(parser)
        parser.add_argument("--remediation", default="", help="what was done (required)")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        answered = findings.answer(
            by=actor,
            finding=_findings.finding(options["finding"]),
            remediation=options["remediation"],
        )
        self.stdout.write(self.style.SUCCESS(f"answered finding #{answered.pk}"))
        for line in _findings.lines(answered):
            self.stdout.write(line)
