"""manage.py replay_webhooks: send failed webhook deliveries again (by id, or every failed one)."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import ActorCommand
from core.errors import ModelGateError
from governance.notifications import webhooks


class Command(ActorCommand):
    actor_help = "the admin who replays them (recorded in the audit trail)"
    help = (
        "Queue failed webhook deliveries again with a fresh round of attempts: the ones named by "
        "id, or with --all-failed every failed one. Each is sent by the job mode in force "
        "(inline: at once, and its new status is printed). Exits non-zero if any was refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("ids", nargs="*", type=int, metavar="ID", help="delivery ids")
        parser.add_argument(
            "--all-failed", action="store_true", help="replay every failed delivery"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ids: list[int] = options["ids"]
        if bool(ids) == bool(options["all_failed"]):
            raise CommandError("give delivery ids or --all-failed (one of the two)")
        by = self.actor(options)
        deliveries = webhooks.failed(None if options["all_failed"] else ids)
        found = {delivery.pk for delivery in deliveries}
        refused = [f"#{pk}: no failed delivery with this id" for pk in ids if pk not in found]
        for delivery in deliveries:
            try:
                after = webhooks.replay(delivery, by=by)
            except ModelGateError as exc:
                refused.append(f"#{delivery.pk}: {exc.detail} [{exc.code}]")
                continue
            self.stdout.write(
                f"#{after.pk} {after.event} to {after.endpoint.name}: replayed ({after.status})"
            )
        if not deliveries and options["all_failed"]:
            self.stdout.write("no failed delivery")
        if refused:
            raise CommandError("; ".join(refused))
