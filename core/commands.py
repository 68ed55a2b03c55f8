"""The base of management commands that act as a named user, like the API's authenticated one."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ModelGateError


class ActorCommand(BaseCommand):
    """Adds `--as USERNAME` (the actor the services check and the audit trail names) and turns
    the services' refusals into a CommandError naming the problem and its code."""

    actor_help = "who does it (recorded in the audit trail)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as", dest="actor", required=True, metavar="USERNAME", help=self.actor_help
        )

    def actor(self, options: dict[str, Any]) -> Any:
        user = get_user_model().objects.filter(username=options["actor"], is_active=True).first()
        if user is None:
            raise CommandError(f"--as: no active user named {options['actor']!r}")
        return user

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ModelGateError as exc:
            raise CommandError(f"{exc.detail} [{exc.code}]") from exc
