"""manage.py request_promotion: open a promotion request for a model version."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import ActorCommand
from governance.management.commands import _gate
from governance.models import TargetStage
from governance.services import promotions


class Command(ActorCommand):
    actor_help = "who asks: a data scientist of the owning team or an admin"
    help = (
        "Open a promotion request for MODEL VERSION: the applicable policies and the approvals "
        "they require are pinned, and the policies are evaluated once for the reviewers. Prints "
        "the request, who must approve it and what would block it now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        _gate.add_version_arguments(parser)
        parser.add_argument(
            "--stage",
            choices=TargetStage.values,
            default=TargetStage.PRODUCTION,
            help="target stage (default: production)",
        )
        parser.add_argument(
            "--justification", default="", help="why this version should move (required)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        version = _gate.model_version(options)
        request = promotions.open_request(
            by=actor,
            version=version,
            target_stage=options["stage"],
            justification=options["justification"],
        )
        self.stdout.write(self.style.SUCCESS(f"opened request #{request.pk}"))
        for line in _gate.request_lines(request):
            self.stdout.write(line)
        first_look = request.evaluations.order_by("-created_at", "-id").first()
        if first_look is not None:
            self.stdout.write(_gate.evaluation_summary(first_look))
            for line in _gate.check_lines(first_look, details=False):
                self.stdout.write(line)
