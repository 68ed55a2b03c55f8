"""manage.py register_model: register a model under governance, as a named user."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import ActorCommand
from core.models import Team
from registry.models import RiskTier
from registry.services import models as model_service


class Command(ActorCommand):
    actor_help = "who registers it (recorded in the audit trail)"
    help = "Register a model owned by a team. The actor (--as) must be allowed to do it."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("name", help="unique slug, e.g. adult-income")
        parser.add_argument("--team", required=True, help="name of the owner team")
        parser.add_argument("--title", default="")
        parser.add_argument("--description", default="")
        parser.add_argument("--risk-tier", default=RiskTier.MINIMAL, choices=RiskTier.values)
        parser.add_argument("--intended-use", default="")
        parser.add_argument("--limitations", default="")
        parser.add_argument(
            "--tag", dest="tags", action="append", default=[], help="a tag; repeat for several"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        team = Team.objects.filter(name=options["team"]).first()
        if team is None:
            raise CommandError(f"--team: no team named {options['team']!r}")
        model = model_service.register_model(
            by=actor,
            name=options["name"],
            owner_team=team,
            title=options["title"],
            description=options["description"],
            risk_tier=options["risk_tier"],
            intended_use=options["intended_use"],
            limitations=options["limitations"],
            tags=options["tags"],
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"registered model {model.name} (team {team.name}, risk tier {model.risk_tier}, "
                f"tags {', '.join(model.tags) or '-'})"
            )
        )
