"""manage.py promote: run the policy gate again for an approved request that it blocked."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import ActorCommand
from governance.management.commands import _gate
from governance.services import promotions


class Command(ActorCommand):
    actor_help = "the requester, one of the request's reviewers, or an admin"
    help = (
        "Retry the policy gate for approved promotion request REQUEST_ID (after the evidence or "
        "documentation that blocked it was fixed): the version is promoted if every check passes "
        "now. A still-blocked gate exits non-zero with the failing checks; the new evaluation is "
        "kept either way."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        _gate.add_request_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        request = promotions.promote(by=actor, request=_gate.promotion_request(options["request"]))
        self.stdout.write(self.style.SUCCESS(f"request #{request.pk}: {request.status}"))
        for line in _gate.request_lines(request):
            self.stdout.write(line)
