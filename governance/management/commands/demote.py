"""manage.py demote: take a version out of production or staging (to archived), with a reason."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import ActorCommand
from governance.management.commands import _gate
from governance.services import promotions


class Command(ActorCommand):
    actor_help = "a risk officer or an admin"
    help = (
        "Demote MODEL VERSION from production or staging to archived at once, with a reason "
        "(recorded in the stage history and the audit trail). Putting it back goes through the "
        "gate: see rollback and request_promotion."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        _gate.add_version_arguments(parser)
        parser.add_argument("--reason", default="", help="why (required)")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        change = promotions.demote(
            by=actor, version=_gate.model_version(options), reason=options["reason"]
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{change.model_version}: {change.from_stage} -> {change.to_stage} "
                f"(stage change #{change.pk}, {change.kind}): {change.reason}"
            )
        )
