"""manage.py stage_history: every stage change of a model, or which version held a stage at T."""

from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from core.commands import ActorCommand
from governance.management.commands import _gate
from governance.models import StageChange
from governance.services import stages
from registry import permissions
from registry.models import Stage


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(
            f"--at: {text!r} is not an ISO 8601 time, e.g. 2026-03-03T12:00:00+01:00"
        ) from exc
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _line(change: StageChange) -> str:
    request = f"request #{change.promotion_request_id}" if change.promotion_request_id else "-"
    evaluation = f"evaluation #{change.evaluation_id}" if change.evaluation_id else "-"
    return (
        f"{change.created_at.isoformat()}  {change.model_version}  {change.from_stage} -> "
        f"{change.to_stage}  {change.kind}  by {change.changed_by.get_username()}  {request}  "
        f"{evaluation}{'  ' + change.reason if change.reason else ''}"
    )


class Command(ActorCommand):
    actor_help = "who reads it (any ModelGate role)"
    help = (
        "Print MODEL's stage history, oldest first: when, which version, from and to which "
        "stage, why (promotion, replaced, demotion, rollback), by whom, under which request and "
        "evaluation. With --at TIME, print instead which version was in --stage (default "
        "production) at that time and how it got there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("model", help="registered model name")
        parser.add_argument(
            "--at",
            type=_moment,
            metavar="TIME",
            help="ISO 8601 time; without an offset it is read in the server's time zone "
            f"({timezone.get_default_timezone_name()})",
        )
        parser.add_argument(
            "--stage",
            choices=(Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED),
            default=Stage.PRODUCTION,
            help="with --at: the stage asked about (default: production)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        permissions.require(
            permissions.can_read(actor), "only ModelGate roles can read the stage history"
        )
        model = _gate.model(options["model"])
        at: datetime | None = options["at"]
        if at is None:
            changes = (
                StageChange.objects.filter(model=model)
                .select_related("model_version__model", "changed_by")
                .order_by("created_at", "id")
            )
            lines = [_line(change) for change in changes]
            for line in lines or [f"{model.name} has never changed stage"]:
                self.stdout.write(line)
            return
        held = list(stages.stage_at(model, at, options["stage"]).order_by("model_version"))
        if not held:
            self.stdout.write(
                f"at {at.isoformat()} no version of {model.name} was in {options['stage']}"
            )
            return
        for change in held:
            request = change.promotion_request_id
            self.stdout.write(
                f"at {at.isoformat()} {change.model_version} was in {options['stage']} (since "
                f"{change.created_at.isoformat()}, {change.kind} by "
                f"{change.changed_by.get_username()}"
                f"{f' under request #{request}' if request else ''})"
            )
