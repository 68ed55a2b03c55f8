"""manage.py review_request: approve or reject a promotion request, with a comment."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import ActorCommand
from governance.management.commands import _gate
from governance.models import ReviewDecision
from governance.services import promotions


class Command(ActorCommand):
    actor_help = "the reviewer: a role the request requires, neither its requester nor registrant"
    help = (
        "Approve or reject promotion request REQUEST_ID with a comment. The last required "
        "approval runs the policy gate: the version is promoted if every check passes, otherwise "
        "the request stays approved and the blocking reasons are printed. Refusals (separation of "
        "duties, a second review, a closed request) exit non-zero and are kept in the audit trail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        _gate.add_request_argument(parser)
        decision = parser.add_mutually_exclusive_group(required=True)
        decision.add_argument(
            "--approve", dest="decision", action="store_const", const=ReviewDecision.APPROVE
        )
        decision.add_argument(
            "--reject", dest="decision", action="store_const", const=ReviewDecision.REJECT
        )
        parser.add_argument("--comment", default="", help="required with every decision")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        request = _gate.promotion_request(options["request"])
        request = promotions.review(
            by=actor, request=request, decision=options["decision"], comment=options["comment"]
        )
        review = request.reviews.get(reviewer=actor)
        self.stdout.write(
            self.style.SUCCESS(
                f"{review.decision} by {actor.get_username()} ({review.role}) on request "
                f"#{request.pk}"
            )
        )
        for line in _gate.request_lines(request):
            self.stdout.write(line)
