"""manage.py evaluate: "what would block this version?" Every applicable check, with its verdict."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import ActorCommand
from governance.management.commands import _gate
from governance.models import TargetStage
from governance.services import evaluation

BLOCKED_EXIT = 2


class Command(ActorCommand):
    actor_help = "who asks (checked like an API request; recorded in the audit trail)"
    help = (
        "Dry-run the policies that apply to MODEL VERSION for a target stage: print every check "
        "with its verdict and reason (and, for a failing one, what was observed against the "
        "threshold). The evaluation is kept, like the API's. Exits 0 whatever the verdict, "
        f"unless --fail-on-block is given: then a blocked version exits {BLOCKED_EXIT}."
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
            "--fail-on-block",
            action="store_true",
            help=f"exit with status {BLOCKED_EXIT} when a check fails (for scripts and CI)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        version = _gate.model_version(options)
        result = evaluation.evaluate(version, options["stage"], by=actor)
        self.stdout.write(_gate.evaluation_summary(result))
        self.stdout.write(
            "policies: "
            + (
                ", ".join(
                    f"{v} (sha256 {v.sha256[:12]})"
                    for v in result.policy_versions.select_related("policy").order_by(
                        "policy__name"
                    )
                )
                or "none applies"
            )
        )
        self.stdout.write(f"artifact sha256: {result.artifact_sha256}")
        for line in _gate.check_lines(result):
            self.stdout.write(line)
        if not result.passed and options["fail_on_block"]:
            raise CommandError(
                f"{version} is blocked from {options['stage']}: {result.failed_count} of "
                f"{result.check_count} checks fail",
                returncode=BLOCKED_EXIT,
            )
