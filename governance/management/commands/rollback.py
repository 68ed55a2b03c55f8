"""manage.py rollback: ask to re-promote a model's previous production version."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import ActorCommand
from governance.management.commands import _gate
from governance.services import promotions


class Command(ActorCommand):
    actor_help = "who asks: a data scientist of the owning team or an admin"
    help = (
        "Open a rollback request for MODEL: the version most recently taken out of production "
        "goes back there once the same reviewers approve and the same gate passes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("model", help="registered model name")
        parser.add_argument("--justification", default="", help="why (required)")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        request = promotions.rollback(
            by=actor, model=_gate.model(options["model"]), justification=options["justification"]
        )
        self.stdout.write(
            self.style.SUCCESS(f"opened rollback request #{request.pk} for {request.model_version}")
        )
        for line in _gate.request_lines(request):
            self.stdout.write(line)
