"""manage.py withdraw_request: the requester (or an admin) withdraws an open request."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import ActorCommand
from governance.management.commands import _gate
from governance.services import promotions


class Command(ActorCommand):
    actor_help = "the requester or an admin"
    help = "Withdraw open or approved promotion request REQUEST_ID."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        _gate.add_request_argument(parser)
        parser.add_argument("--reason", default="", help="optional; kept with the request")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        request = promotions.withdraw(
            by=actor,
            request=_gate.promotion_request(options["request"]),
            reason=options["reason"],
        )
        self.stdout.write(self.style.SUCCESS(f"request #{request.pk}: {request.status}"))
        for line in _gate.request_lines(request):
            self.stdout.write(line)
