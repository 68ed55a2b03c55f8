"""manage.py raise_finding: a validator or risk officer raises a finding on a model version."""

from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandParser

from core.commands import ActorCommand
from core.errors import InvalidInput
from governance.management.commands import _findings, _gate
from governance.services import findings


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidInput(
            f"--due: {value!r} is not a date (YYYY-MM-DD)", field="due_date"
        ) from error


class Command(ActorCommand):
    actor_help = "the reviewer raising it: a validator or a risk officer"
    help = (
        "Raise a validation finding on MODEL VERSION: a title, a severity (low, medium, high), a "
        "description and an owner (an active data scientist of the model's team), optionally a "
        "due date and the promotion request it was raised from. Unresolved findings at or above a "
        "no_open_findings check's severity block promotion until they are closed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        _gate.add_version_arguments(parser)
        parser.add_argument("--title", required=True)
        parser.add_argument("--severity", required=True, help="low, medium or high")
        parser.add_argument("--description", required=True)
        parser.add_argument("--owner", required=True, metavar="USERNAME")
        parser.add_argument("--due", default=None, metavar="YYYY-MM-DD", help="due date")
        parser.add_argument(
            "--request", type=int, default=None, metavar="REQUEST_ID",
            help="the promotion request it was raised from",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        refusal = findings.raise_refusal(actor)
        if refusal is not None:
            raise refusal
        version = _gate.model_version(options)
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise InvalidInput(f"--owner: no user named {options['owner']!r}", field="owner")
        request = _gate.promotion_request(options["request"]) if options["request"] else None
        raised = findings.raise_finding(
            by=actor,
            version=version,
            title=options["title"],
            severity=options["severity"],
            description=options["description"],
            owner=owner,
            due_date=_date(options["due"]) if options["due"] else None,
            request=request,
        )
        self.stdout.write(self.style.SUCCESS(f"raised finding #{raised.pk}"))
        for line in _findings.lines(raised):
            self.stdout.write(line)
